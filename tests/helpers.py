"""Small builders of landing files and project configs for tests, and a patient POST to a
Prefect server."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_events(project: Path, name: str, rows: list[tuple[int, int, str]]) -> Path:
    """A new events file: (event_id, user_id, feature) rows on 2026-10-31."""
    path = project / "data" / "landing" / "events" / name
    pq.write_table(pa.table({
        "event_id": pa.array([r[0] for r in rows], pa.int64()),
        "user_id": pa.array([r[1] for r in rows], pa.int64()),
        "feature": [r[2] for r in rows],
        "event_type": ["run"] * len(rows),
        "occurred_at": [datetime(2026, 10, 31, 12, 0)] * len(rows),
    }), path)
    return path


def post(url: str, body: dict):
    """POST to a Prefect server's API, retried while it answers 503 (a server just started
    is busy with its own SQLite database for a moment; Prefect's client retries the same
    way); raises on any other error."""
    import httpx

    for _ in range(20):
        response = httpx.post(url, json=body, timeout=10)
        if response.status_code != 503:
            break
        time.sleep(0.5)
    response.raise_for_status()
    return response


def edit_config(project: Path, *replacements: tuple[str, str]) -> None:
    """Replace text in the project's workbench.toml; each old text must be there."""
    config = project / "workbench.toml"
    text = config.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text)


def read_invoices_with(project: Path, reader_file: str, code: str) -> None:
    """Give the sample project's invoices source a reader of the test's own (``code``, with
    a ``read(con, path, options, types)``), written to ``reader_file`` in the project."""
    (project / reader_file).write_text(code)
    edit_config(project, ('path = "invoices/*.csv"\nformat = "csv"',
                          f'path = "invoices/*.csv"\nreader = "{reader_file}:read"'))

