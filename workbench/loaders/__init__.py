"""Loaders: landing files into ``raw.<source>`` with DuckDB's readers, only what changed.

One module per format (``csv``, ``parquet``, ``json``), each a ``read(con, path, options,
types) -> relation`` function; ``scan`` decides what is new, ``load`` moves it in one
transaction per source; ``stage`` reads new files ahead of the write lock (the service).
"""

from .load import load_source, unchanged
from .read import READERS
from .scan import LandingFile, SourceScan, discover, scan
from .stage import Staged, stage_source

__all__ = ["READERS", "LandingFile", "SourceScan", "Staged", "discover", "load_source", "scan",
           "stage_source", "unchanged"]
