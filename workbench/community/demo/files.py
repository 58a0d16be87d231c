"""Writing files: never overwrite, never leave a half-written file under its final name."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .company import MONTH_BOUNDS_US, MONTHS


def write_new(path: Path, write: Callable[[Path], None]) -> bool:
    """Write ``path`` through ``write(tmp)`` unless it exists; True if written.

    The temporary name starts with a dot and has another suffix, so that a watcher globbing
    ``*.parquet`` never picks up a half-written file.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def write_text(path: Path, text: str) -> bool:
    return write_new(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


def month_slices(sorted_us: np.ndarray) -> list[tuple[str, slice]]:
    """(month, slice) for rows already sorted by a timestamp column, skipping empty months.

    No empty files: a file with no rows tells a loader nothing, not even its column types.
    """
    cuts = np.searchsorted(sorted_us, MONTH_BOUNDS_US)
    return [
        (m, slice(int(cuts[i]), int(cuts[i + 1])))
        for i, m in enumerate(MONTHS)
        if cuts[i + 1] > cuts[i]
    ]


def iso(us: np.ndarray, unit: str = "s", sep: str = " ") -> np.ndarray:
    """Format int64 microsecond timestamps as ISO strings, vectorised."""
    text = np.datetime_as_string(
        us.astype("datetime64[us]").astype(f"datetime64[{unit}]"), unit=unit
    )
    return np.char.replace(text, "T", sep) if sep != "T" and text.size else text


def write_parquet(table: pa.Table, path: Path) -> None:
    # store_schema=False: no Arrow schema blob in the footer, so readers see plain Parquet types
    # (VARCHAR, not a dictionary type) and the bytes depend only on the data and pyarrow version.
    pq.write_table(table, path, compression="zstd", store_schema=False, row_group_size=1 << 20)
