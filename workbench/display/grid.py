"""The explorer's data grid: an anywidget whose browser side only draws and asks.

The kernel holds the truth: the browser sets ``sort``, ``descending``, ``filters`` and
``offset`` (a click on a header, a filter typed, a page button) and the kernel answers with
``rows`` of one page, the filtered ``total`` and a ``status`` line, all from DuckDB. Cells are
sent as text, a null (NULL, NaN, NaT) as ``None``, drawn as an empty, shaded cell.

Why anywidget: a real Jupyter widget (comm, state, works in JupyterLab, Notebook 7, VS Code)
in one small ES module, shipped with the package, no build step and no front-end extension
of our own; ipydatagrid sorts and filters its own in-browser copy of the data, and itables
embeds the data in the page, while here DuckDB must do both over tables of any size.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

from . import theme

_ONE_LINE = "white-space:nowrap;overflow:hidden;text-overflow:ellipsis"


def _css() -> str:
    """The grid's stylesheet, every colour a JupyterLab theme variable (light and dark)."""
    return f"""
.wb-grid {{ font: 12px {theme.SANS}; color: {theme.INK}; max-width: 100%; }}
.wb-grid-bar {{ display: flex; gap: 6px; align-items: center; margin: 2px 0 4px; }}
.wb-grid-bar button {{ font: inherit; color: {theme.INK}; background: {theme.SURFACE};
  border: 1px solid {theme.RULE}; border-radius: 3px; padding: 1px 8px; cursor: pointer; }}
.wb-grid-bar button:disabled {{ color: {theme.FAINT}; cursor: default; }}
.wb-grid-count {{ color: {theme.MUTED}; min-width: 14em; text-align: center; }}
.wb-grid-error {{ color: {theme.BAD}; margin: 2px 0; }}
.wb-grid-scroll {{ overflow: auto; max-width: 100%; max-height: 640px;
  border: 1px solid {theme.RULE}; }}
.wb-grid-table {{ border-collapse: separate; border-spacing: 0; {theme.MONO}; }}
.wb-grid-table th, .wb-grid-table td {{ {_ONE_LINE}; max-width: 22em; padding: 2px 10px;
  text-align: left; border-bottom: 1px solid {theme.RULE}; }}
.wb-grid-table td.wb-num {{ text-align: right; }}
.wb-grid-table thead th {{ position: sticky; background: {theme.SURFACE}; z-index: 1; }}
.wb-grid-names th {{ top: 0; cursor: pointer; font-weight: 600; }}
.wb-grid-names th.wb-grid-sorted {{ color: {theme.ACTIVE}; }}
.wb-grid-filters th {{ top: 34px; padding: 1px 4px 3px; }}
.wb-grid-type {{ display: block; font-weight: 400; font-size: 10px; color: {theme.MUTED}; }}
.wb-grid-filter {{ width: 100%; min-width: 6em; box-sizing: border-box; font: inherit;
  color: {theme.INK}; background: {theme.SURFACE}; border: 1px solid {theme.RULE};
  border-radius: 3px; padding: 0 4px; }}
.wb-grid-table td.wb-null {{ background: {theme.RULE}; opacity: 0.35; }}
"""


class Grid(anywidget.AnyWidget):
    """One page of a table; see the module docstring for who sets which trait."""

    _esm = Path(__file__).with_name("grid.js")
    _css = _css()

    columns = traitlets.List().tag(sync=True)        # [{"name", "type", "numeric"}]
    rows = traitlets.List().tag(sync=True)           # [[text or None, ...], ...]
    status = traitlets.Unicode("").tag(sync=True)    # "rows 1–25 of 279 (1,000 in all)"
    error = traitlets.Unicode("").tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)          # rows after the filters
    page_size = traitlets.Int(25).tag(sync=True)
    offset = traitlets.Int(0).tag(sync=True)
    sort = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    descending = traitlets.Bool(False).tag(sync=True)
    filters = traitlets.Dict().tag(sync=True)        # column -> text it must contain
