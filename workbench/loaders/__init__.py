"""Loaders: landing files into ``raw.<source>`` with DuckDB's readers, only what changed.

One module per format (``csv``, ``parquet``, ``json``), each a ``Reader``: ``read(con, path,
options, types) -> relation``, as a custom reader is too (``read``); ``scan`` decides what is
new, ``load`` moves it in one transaction per source; ``stage`` reads new files ahead of the
write lock (the service). What was loaded is recorded in the ledger (``workbench.ledger``).
"""

from .load import load_source, unchanged
from .read import READERS, Reader
from .scan import LandingFile, SourceScan, discover, scan
from .stage import Staged, stage_source

__all__ = ["READERS", "LandingFile", "Reader", "SourceScan", "Staged", "discover", "load_source",
           "scan", "stage_source", "unchanged"]
