"""Hand-written SVG charts of runs: a Gantt of one run and the nodes' durations over runs.

Pure strings, no plotting library and no JavaScript, so they render in JupyterLab, survive
nbconvert's HTML export and open in a browser as files. Every chart is bounded in size (rows
beyond a limit are counted, not drawn) and every piece of text is escaped.

    svg = gantt([{"name": "events", "kind": "source", "status": "success",
                  "started_at": t0, "finished_at": t1, "seconds": 0.08}])
    Chart(svg, "last run").save("gantt.svg")
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import theme
from .theme import FAINT, INK, MUTED, RULE, fill, stroke

if TYPE_CHECKING:
    import pandas as pd

GANTT_ROWS = 60        # bars drawn before the rest are counted
GANTT_WIDTH = 760
ROW = 18


@dataclass(frozen=True)
class Chart:
    """An SVG picture that shows itself in Jupyter and saves itself as a file."""

    svg: str
    title: str = ""

    def _repr_html_(self) -> str:
        head = (f'<div style="font:600 13px {theme.SANS};margin:6px 0 2px">{esc(self.title)}</div>'
                if self.title else "")
        return f'<div>{head}<div style="max-width:100%;overflow-x:auto">{self.svg}</div></div>'

    def save(self, path: str | Path) -> Path:
        """Write the SVG to ``path`` and return it."""
        path = Path(path)
        path.write_text(self.svg, encoding="utf-8")
        return path

    def __repr__(self) -> str:
        return f"<Chart {self.title or 'svg'}: {len(self.svg):,} characters; .save(path)>"


# -- Gantt -------------------------------------------------------------------------------------
def gantt(nodes: list[dict[str, Any]], *, limit: int = GANTT_ROWS) -> str:
    """One bar per node on a time axis in seconds from the run's start.

    Each dict has ``name``, ``kind``, ``status``, ``started_at`` and ``finished_at``
    (datetimes; missing for a node that never started) and may have ``seconds``. The pale
    bar is the window the node ran in (for dbt nodes, their whole ``dbt build`` batch); the
    solid bar is the node's own time when ``seconds`` is shorter than that window.
    """
    items = []
    for node in nodes:
        start, end = _epoch(node.get("started_at")), _epoch(node.get("finished_at"))
        if start is not None and end is None:
            end = start
        items.append((node, start, end))
    timed = [(s, e) for _, s, e in items if s is not None]
    origin = min((s for s, _ in timed), default=0.0)
    span = max((e - origin for _, e in timed), default=0.0) or 1.0
    items.sort(key=lambda it: (it[1] is None, it[1] or 0.0, str(it[0].get("name"))))
    shown, hidden = items[:limit], len(items) - limit

    label_w = min(220, max(90, 7 * max((len(str(n.get("name", ""))) for n, _, _ in shown),
                                       default=10) + 16))
    left, right, top = label_w, 64, 30
    plot_w = GANTT_WIDTH - left - right
    pale = any(isinstance(n.get("seconds"), (int, float)) and e is not None and s is not None
               and e - s - n["seconds"] > 0.02 * span for n, s, e in shown)
    height = top + ROW * len(shown) + (ROW if hidden > 0 else 0) + (ROW if pale else 0) + 8
    step = _nice_step(span, 8)
    scale = plot_w / (math.ceil(span / step) * step)

    out = [_svg_open(GANTT_WIDTH, height, "gantt")]
    for i in range(int(math.ceil(span / step)) + 1):
        x = left + i * step * scale
        out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 8}" '
                   f'{stroke(RULE)}/>'
                   f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle" font-size="10" '
                   f'{fill(MUTED)}>{_seconds(i * step)}</text>')
    for row, (node, start, end) in enumerate(shown):
        y = top + row * ROW
        name, status = str(node.get("name", "")), str(node.get("status", ""))
        kind = _kind(node.get("kind"))
        colour = theme.colour(status, FAINT) if status else FAINT
        own = node.get("seconds")
        own = float(own) if isinstance(own, (int, float)) and own == own else None
        tip = f"{kind} {name}: {status}" + (f", {own:.2f}s" if own is not None else "")
        parts = [f'<g class="bar" data-name="{esc(name)}" data-status="{esc(status)}">'
                 f"<title>{esc(tip)}</title>"
                 f'<text x="{left - 8}" y="{y + 13}" text-anchor="end" font-size="11" '
                 f'{fill(INK)}>{esc(_clip(name, (label_w - 16) // 7))}</text>']
        if start is None:
            parts.append(f'<text x="{left + 4}" y="{y + 13}" font-size="10" {fill(MUTED)} '
                         f'font-style="italic">{esc(status or "not started")}</text>')
        else:
            x0, x1 = left + (start - origin) * scale, left + (end - origin) * scale
            width = max(x1 - x0, 2.0)
            parts.append(f'<rect x="{x0:.1f}" y="{y + 4}" width="{width:.1f}" height="11" '
                         f'rx="2" {fill(colour, 0.28)}/>')
            solid = width if own is None else max(min(own * scale, width), 2.0)
            parts.append(f'<rect x="{x0:.1f}" y="{y + 4}" width="{solid:.1f}" height="11" '
                         f'rx="2" {fill(colour)}/>')
            label = _seconds(own if own is not None else end - start, precise=True)
            parts.append(f'<text x="{x0 + width + 4:.1f}" y="{y + 13}" font-size="10" '
                         f'{fill(MUTED)}>{label}</text>')
        parts.append("</g>")
        out.append("".join(parts))
    y = top + len(shown) * ROW
    if hidden > 0:
        out.append(f'<text x="{left}" y="{y + 13}" font-size="11" {fill(MUTED)}>'
                   f"… and {hidden} more</text>")
        y += ROW
    if pale:
        out.append(f'<text x="{left}" y="{y + 16}" font-size="10" {fill(MUTED)}>solid: the '
                   f"node's own seconds · pale: the window it ran in (its dbt build batch)"
                   f"</text>")
    out.append("</svg>")
    return "".join(out)


# -- durations over runs -----------------------------------------------------------------------
SPARK_W, SPARK_H, SPARK_ROW = 260, 22, 30


def durations(frame: pd.DataFrame, *, top: int = 10) -> str:
    """Small multiples: each of the ``top`` slowest nodes' seconds over the runs, oldest run
    on the left, so what got slower stands out.

    ``frame`` has ``run_id``, ``started_at`` (of the run, or of the node), ``name`` and
    ``seconds``; with a ``status`` column, skipped rows are ignored and failed ones drawn red.
    Nodes are ranked by their mean seconds; each row shows its sparkline (scaled from zero to
    its own maximum; dashed across runs it took no part in), its latest seconds and the
    change against the median of its earlier runs.
    """
    data = frame
    if "status" in data.columns:
        data = data[data["status"] != "skipped"]
    data = data.dropna(subset=["seconds"])
    runs = (data.groupby("run_id")["started_at"].min().sort_values().index.tolist()
            if len(data) else [])
    position = {run: i for i, run in enumerate(runs)}
    ranked = (data.groupby("name")["seconds"].mean().sort_values(ascending=False, kind="stable")
              .head(max(top, 0)).index.tolist() if len(data) else [])

    label_w = min(220, max(90, 7 * max((len(str(n)) for n in ranked), default=10) + 16))
    left, top_margin = label_w, 26
    width = left + SPARK_W + 250
    height = top_margin + SPARK_ROW * max(len(ranked), 1) + 6
    out = [_svg_open(width, height, "durations"),
           f'<text x="{left}" y="16" font-size="10" {fill(MUTED)}>'
           f"{len(runs)} run{'s' if len(runs) != 1 else ''}, oldest → newest</text>",
           f'<text x="{left + SPARK_W + 12}" y="16" font-size="10" {fill(MUTED)}>'
           f"latest · against the median of its earlier runs</text>"]
    if not ranked:
        out.append(f'<text x="{left}" y="{top_margin + 16}" font-size="11" {fill(MUTED)}>'
                   f"no timed nodes yet</text></svg>")
        return "".join(out)
    step_x = SPARK_W / max(len(runs) - 1, 1)
    failed = set()
    if "status" in data.columns:
        failed = {(r, n) for r, n in data.loc[data["status"].isin(["error", "fail"]),
                                              ["run_id", "name"]].itertuples(index=False)}
    for row, name in enumerate(ranked):
        y0 = top_margin + row * SPARK_ROW
        series = data[data["name"] == name].groupby("run_id")["seconds"].sum()
        points = sorted((position[r], float(s), (r, name) in failed) for r, s in series.items())
        peak = max(s for _, s, _ in points) or 1.0
        latest = points[-1][1]
        change, colour = _change(latest, [s for _, s, _ in points[:-1]])

        def xy(i: int, s: float) -> tuple[float, float]:
            x = left + (i * step_x if len(runs) > 1 else SPARK_W / 2)
            return x, y0 + SPARK_H - s / peak * (SPARK_H - 3)

        lines = []
        for (i0, s0, _), (i1, s1, _) in zip(points, points[1:]):
            (x0, y0_), (x1, y1) = xy(i0, s0), xy(i1, s1)
            # A run the node took no part in: dashed and faint rather than a false reading.
            style = (stroke(theme.ACTIVE, 1.6) if i1 == i0 + 1 else
                     stroke(theme.ACTIVE, 1.2, extra="stroke-opacity:0.45;stroke-dasharray:3 3"))
            lines.append(f'<line x1="{x0:.1f}" y1="{y0_:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" '
                         f'{style} stroke-linecap="round"/>')
        dots = "".join(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{2.8 if k == len(points) - 1 else 1.9}" '
            f'{fill(theme.BAD if bad else theme.ACTIVE)}/>'
            for k, (i, s, bad) in enumerate(points) for x, y in [xy(i, s)])
        tip = f"{name}: " + ", ".join(f"{s:.2f}s" + (" (failed)" if bad else "")
                                      for _, s, bad in points)
        out.append(
            f'<g class="series" data-name="{esc(name)}"><title>{esc(tip)}</title>'
            f'<text x="{left - 8}" y="{y0 + 16}" text-anchor="end" font-size="11" '
            f'{fill(INK)}>{esc(_clip(str(name), (label_w - 16) // 7))}</text>'
            f'<line x1="{left}" y1="{y0 + SPARK_H}" x2="{left + SPARK_W}" y2="{y0 + SPARK_H}" '
            f'{stroke(RULE)}/>{"".join(lines)}{dots}'
            f'<text x="{left + SPARK_W + 12}" y="{y0 + 16}" font-size="11" {fill(INK)}>'
            f'{_seconds(latest, precise=True)}</text>'
            f'<text x="{left + SPARK_W + 62}" y="{y0 + 16}" font-size="11" {fill(colour)}>'
            f"{esc(change)}</text></g>")
    out.append("</svg>")
    return "".join(out)


def _change(latest: float, earlier: list[float]) -> tuple[str, str]:
    if not earlier:
        return "its only run here", MUTED
    ordered = sorted(earlier)
    median = ordered[len(ordered) // 2] if len(ordered) % 2 else \
        (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    if median <= 0:
        return "new", MUTED
    ratio = latest / median
    colour = theme.BAD if ratio >= 1.5 else theme.GOOD if ratio <= 0.67 else MUTED
    arrow = "▲" if ratio > 1.05 else "▼" if ratio < 0.95 else "≈"
    return f"{arrow} {ratio:.1f}× (median {_seconds(median, precise=True)})", colour


# -- shared pieces -----------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def esc(text: object) -> str:
    """Escape for SVG/XML text and attributes (and drop characters XML forbids)."""
    return escape(_CONTROL.sub("", str(text)), quote=True)


def _svg_open(width: float, height: float, css_class: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="workbench-{css_class}" '
            f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'font-family="{theme.SANS}" style="max-width:100%;height:auto">'
            f"{theme.background()}")


def _clip(text: str, chars: int) -> str:
    chars = max(int(chars), 4)
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _kind(kind: object) -> str:
    return str(getattr(kind, "value", kind) or "")


def _epoch(value: object) -> float | None:
    """Seconds since the epoch of a datetime or pandas Timestamp; None for None/NaT/NaN."""
    if value is None or isinstance(value, float):
        return None
    try:
        return value.timestamp()  # type: ignore[union-attr]
    except (AttributeError, ValueError, TypeError, OverflowError):
        return None


def _nice_step(span: float, ticks: int) -> float:
    raw = span / max(ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _seconds(value: float, *, precise: bool = False) -> str:
    if value >= 60:
        return f"{value / 60:.1f}m"
    if precise:
        return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"
    return f"{value:g}s"
