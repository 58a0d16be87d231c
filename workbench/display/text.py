"""Plain-text tables for terminals and ``__repr__``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MAX_MESSAGE = 100


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A left-aligned text table; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [all(_is_number(r[i]) for r in cells if r[i]) and bool(cells)
               for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def node_table(nodes) -> str:
    return table(["node", "kind", "status", "rows", "seconds", "message"],
                 [(n.name, n.kind, n.status, n.rows, f"{n.seconds:.2f}", _short(n.message))
                  for n in nodes])


def _short(text: str | None) -> str:
    if not text:
        return ""
    first = text.strip().splitlines()[0]
    return first if len(first) <= MAX_MESSAGE else first[: MAX_MESSAGE - 1] + "…"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    return text.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()
