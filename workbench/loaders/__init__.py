"""Loaders: landing files into ``raw.<source>`` with DuckDB's readers, only what changed.

One module per format (``csv``, ``parquet``, ``json``), each a ``read(con, path, options,
types) -> relation`` function; ``scan`` decides what is new, ``load`` moves it in one
transaction per source.
"""

from .load import READERS, load_source, unchanged
from .scan import LandingFile, SourceScan, discover, scan

__all__ = ["READERS", "LandingFile", "SourceScan", "discover", "load_source", "scan", "unchanged"]
