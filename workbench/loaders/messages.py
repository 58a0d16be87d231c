"""What a person reads when a landing file cannot be loaded: one SourceError per file.

DuckDB's reader errors are good but not meant for this: the CSV reader numbers an over-long
line as line 1 and the JSON reader counts records from 2, both echo the whole offending field
(megabytes, for a runaway quote), and they end with the SQL we ran. Here the line is checked
against the file itself, every echoed line is cut to ``FIELD_LIMIT`` characters, and a file
that looks half-written is named as such instead of with the error its cut-off line caused.

"Still being written" means what it means to the watcher (``workbench.watch``): the file's
size or modification time moved since it was scanned. A file that has stopped moving but
whose last line has no line end (nor closing bracket, nor Parquet footer) was cut short.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..config import SourceConfig
from ..errors import SourceError
from .scan import LandingFile

FIELD_LIMIT = 200           # characters of a field or line echoed in a message
_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_JSON_LINE = re.compile(r"in line (\d+)")
_ANY_LINE = re.compile(r"\b[Ll]ine:?\s+(\d+)")
_ORIGINAL = re.compile(r"^Original Line: (.*)$", re.MULTILINE)
_QUOTED = 1000              # a quoted line this long may be DuckDB's cut of a longer one
_NOISE = ("  file = ", "LINE 1:")      # DuckDB's dialect dump and the SQL we ran


def read_failed(exc: Exception, source: SourceConfig, file: LandingFile) -> SourceError:
    """The SourceError for ``file``, which DuckDB (or a custom reader) could not read."""
    text = str(exc).strip() or type(exc).__name__
    line = _line(text, file)
    partial = half_written(file, line)
    if partial:
        return _half_written_error(source, file, partial)
    detail = "\n".join(shorten(part) for part in _useful(text))
    return SourceError(
        f"{file.relative}: could not be read as {source.format}"
        + (f" (line {line})" if line else "") + f": {detail}\n"
        f"Fix or remove the file; the warehouse was left as it was for source "
        f"{source.name!r}.", source=source.name, file=file.relative, row=line)


def columns_differ(source: SourceConfig, file: LandingFile, detail: str, table: str
                   ) -> SourceError:
    """A file whose columns are not the table's; a cut-off file says so instead."""
    partial = half_written(file)
    if partial:
        return _half_written_error(source, file, partial)
    return SourceError(
        f"{file.relative}: columns do not match {table}: {detail}. If the export format "
        f"changed on purpose, set mode = 'replace' for [sources.{source.name}] (or run "
        f"with full_refresh) so the table is rebuilt from all files.",
        source=source.name, file=file.relative)


def half_written(file: LandingFile, line: int | None = None) -> str | None:
    """Why ``file`` looks half-written, or None: it changed since the scan (its writer is
    still at work), or its end is cut off (no line end after the last line of a CSV or JSON
    lines file, no closing bracket of a JSON document, no footer of a Parquet file) and
    the error is not on an earlier ``line``."""
    try:
        stat = file.path.stat()
        if (stat.st_size, stat.st_mtime_ns) != (file.size, file.mtime_ns):
            return "it changed while it was being loaded: it is still being written"
        with file.path.open("rb") as handle:
            handle.seek(max(0, stat.st_size - 64))
            tail = handle.read().rstrip(b" \t")
    except OSError:
        return None
    if not tail:
        return None
    name = file.path.name.lower()
    if name.endswith(".parquet"):
        return None if tail.endswith(b"PAR1") else "it has no Parquet footer: it was cut short"
    if name.endswith(".json"):
        return None if tail.rstrip().endswith((b"]", b"}")) else \
            "its JSON is not closed: it was cut short"
    if tail.endswith((b"\n", b"\r")) or (line is not None and line < _lines(file.path)):
        return None
    return "its last line is incomplete (no line end): it was cut short"


def shorten(line: str, limit: int = FIELD_LIMIT) -> str:
    """``line`` cut to ``limit`` characters, saying how long it was."""
    if len(line) <= limit:
        return line
    return f"{line[:limit]}… ({len(line):,} characters)"


def _half_written_error(source: SourceConfig, file: LandingFile, why: str) -> SourceError:
    return SourceError(
        f"{file.relative}: looks half-written: {why}. Nothing of source {source.name!r} was "
        f"loaded; the next run loads the file once it is complete. Writers should write "
        f"under a temporary name (*.part, *.tmp) and rename when done.",
        source=source.name, file=file.relative)


def _useful(text: str) -> list[str]:
    """DuckDB's message without its dialect dump and the SQL it ran."""
    lines = []
    for part in text.splitlines():
        if part.startswith(_NOISE):
            break
        lines.append(part)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines or [text.splitlines()[0]]


def _line(text: str, file: LandingFile) -> int | None:
    """The file's own line number of the error: DuckDB's, checked against the file."""
    if match := _CSV_LINE.search(text):
        original = _ORIGINAL.search(text)
        reported = int(match[1])
        return _line_holding(file.path, original[1], reported) if original else reported
    if (match := _JSON_LINE.search(text)) and "JSON" in text:
        return _nth_record_line(file.path, int(match[1]) - 1)   # DuckDB counts from 2
    match = _ANY_LINE.search(text)
    return int(match[1]) if match else None


def _line_holding(path: Path, original: str, reported: int) -> int:
    """The line DuckDB quoted: ``reported`` if it holds that text, else the first that
    does (an over-long line is reported as line 1, and quoted only in part)."""
    wanted, first = original.encode(), None
    try:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                line = line.rstrip(b"\r\n")
                if line == wanted or (len(wanted) >= _QUOTED and line.startswith(wanted)):
                    if number == reported:
                        return number
                    first = first or number
    except OSError:
        pass
    return first or reported


def _lines(path: Path) -> int:
    """How many lines ``path`` has, the last one counted without its line end."""
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return count + 1


def _nth_record_line(path: Path, record: int) -> int:
    """The physical line of the ``record``-th non-blank line (JSON lines skip blanks)."""
    seen = 0
    try:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    seen += 1
                    if seen == record:
                        return number
    except OSError:
        pass
    return record
