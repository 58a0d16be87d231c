"""Draws a laid-out lineage (``lineage_layout.Layout``) as one static SVG document.

Boxes are coloured by kind (a faint fill and a tag in the kind's accent), bordered by the last
run's status and badged with a source's freshness; every colour comes from ``theme`` through
``style=``, so the picture follows JupyterLab's light or dark theme and falls back to light
colours as a file. Text is escaped; names too long for their column are shortened, with the
whole name in the node's tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..graph import Graph
from . import theme
from .charts import _clip, _kind, esc
from .lineage_layout import BOX_H, CHAR_W, GAP_X, HEAD, MARGIN, Layout, Slot, badge_width

STATUS_GLYPHS = {"success": "✓", "error": "✕", "fail": "✕", "warn": "!", "skipped": "–"}
_GROUP_ORDER = ("sources", "seeds", "staging", "intermediate", "models", "snapshots", "marts",
                "steps", "actions", "tests")
FADED = 0.28          # the opacity of what a highlight leaves out
TINT = 0.12           # a box's fill: its kind's accent, this opaque over the background


@dataclass
class TestCount:
    """A node's dbt tests when they are not drawn: their names, and those that failed or
    warned in the last run (name, status)."""

    names: list[str] = field(default_factory=list)
    failing: list[tuple[str, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``3 tests``, or ``✕ 1 of 3 tests`` when one failed."""
        total = f"{len(self.names)} test{'s' if len(self.names) != 1 else ''}"
        return f"✕ {len(self.failing)} of {total}" if self.failing else total

    @property
    def status(self) -> str | None:
        """The worst status among the failing tests (error/fail before warn)."""
        states = {s for _, s in self.failing}
        return next((s for s in ("error", "fail", "warn") if s in states), None)


@dataclass
class Drawing:
    """What to draw and what to stress: the layout, the last run's ``statuses``, sources'
    ``freshness``, and (with a highlight) the nodes and edges that stay bright."""

    graph: Graph
    layout: Layout
    title: str
    statuses: dict[str, str] = field(default_factory=dict)
    freshness: dict[str, str] = field(default_factory=dict)
    highlight: str | None = None
    lit_nodes: set[str] | None = None
    lit_edges: set[tuple[str, str]] = field(default_factory=set)
    hidden_tests: int = 0
    tests: dict[str, TestCount] = field(default_factory=dict)

    def svg(self) -> str:
        """The picture as a standalone ``<svg>`` document."""
        lay = self.layout
        legend, legend_w, legend_h = self._legend()
        width = max(lay.body_width, legend_w) + 2 * MARGIN
        legend_y = MARGIN + HEAD + lay.body_height + 18
        height = legend_y + legend_h + MARGIN
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="workbench-lineage" '
               f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} '
               f'{height:.0f}" font-family="{theme.SANS}" style="max-width:100%;'
               f'min-width:{min(width, max(width * 0.7, 600)):.0f}px;height:auto">',
               f"<title>{esc(self.title)}</title>", theme.background()]
        out += self._headings()
        out.append('<g class="edges">')
        out += self._edges()
        out.append('</g><g class="nodes">')
        out += [self._node(s) for row in lay.layers for s in row if s.real]
        out.append(f'</g><g class="legend" transform="translate({MARGIN},{legend_y:.0f})">'
                   f"{legend}</g></svg>")
        return "".join(out)

    def _headings(self) -> list[str]:
        """Each column's main group (SOURCES, STAGING, MARTS, ...), and the others it holds
        as a quieter ``+ 1 seed``: one word a column, never a list of groups. Neighbouring
        columns of one group alone (marts that read marts) share one heading, centred over
        them with a rule under it, so no word repeats along the top."""
        spans: list[list] = []      # [groups, left, right, columns]
        for row, x, width in zip(self.layout.layers, self.layout.xs, self.layout.widths):
            groups = column_groups(self.graph, row)
            if not groups:
                continue
            last = spans[-1] if spans else None
            if last and len(groups) == len(last[0]) == 1 and groups[0][0] == last[0][0][0]:
                last[2], last[3] = x + width, last[3] + 1
            else:
                spans.append([groups, x, x + width, 1])
        out = []
        for groups, x, right, columns in spans:
            width = right - x
            if columns > 1:
                out.append(f'<line class="heading-rule" x1="{x:.1f}" x2="{right:.1f}" '
                           f'y1="{MARGIN + 15}" y2="{MARGIN + 15}" {theme.stroke(theme.RULE)}/>')
            (main, _), rest = groups[0], groups[1:]
            room = int((width + GAP_X * 0.8) / 7.4)
            label = f'<tspan font-weight="600">{esc(_clip(main.upper(), room))}</tspan>'
            if rest:
                more = ", ".join(f"{n} {g.rstrip('s') if n == 1 else g}" for g, n in rest)
                label += (f'<tspan font-size="9.5"> + '
                          f'{esc(_clip(more, max(room - len(main) - 2, 8)))}</tspan>')
            out.append(f'<text class="heading" x="{x + width / 2:.1f}" y="{MARGIN + 10}" '
                       f'text-anchor="middle" font-size="10.5" letter-spacing="0.6" '
                       f'{theme.fill(theme.MUTED)}>{label}</text>')
        return out

    def _edges(self) -> list[str]:
        # Spread the ends over a box's side, in the order of where the other end lies, so
        # arrows into one box do not land on one point.
        chains, xs, widths = self.layout.chains, self.layout.xs, self.layout.widths
        ports_out: dict[str, list[int]] = {}
        ports_in: dict[str, list[int]] = {}
        for index, chain in enumerate(chains):
            ports_out.setdefault(chain[0].key, []).append(index)
            ports_in.setdefault(chain[-1].key, []).append(index)

        def offsets(ports: dict[str, list[int]], end: int) -> dict[tuple[str, int], float]:
            found = {}
            for key, indices in ports.items():
                indices.sort(key=lambda i: (chains[i][end].y, chains[i][end].layer))
                height = chains[indices[0]][0 if end == 1 else -1].height
                spread = min(7.0, (height - 14) / max(len(indices) - 1, 1))
                for k, i in enumerate(indices):
                    found[(key, i)] = (k - (len(indices) - 1) / 2) * spread
            return found

        out_at, in_at = offsets(ports_out, 1), offsets(ports_in, -2)
        drawn = []
        for index, chain in enumerate(chains):
            first, last = chain[0], chain[-1]
            points = [(xs[first.layer] + widths[first.layer],
                       first.y + out_at[(first.key, index)])]
            for virtual in chain[1:-1]:
                points += [(xs[virtual.layer], virtual.y),
                           (xs[virtual.layer] + widths[virtual.layer], virtual.y)]
            end = (xs[last.layer] - 1, last.y + in_at[(last.key, index)])
            points.append((end[0] - 6, end[1]))
            drawn.append(self._edge(first, last, _path(points, first, last), end))
        return drawn

    def _edge(self, first: Slot, last: Slot, path: str, end: tuple[float, float]) -> str:
        colour, width, opacity = theme.FAINT, 1.3, 1.0
        if self.lit_nodes is not None:
            if (first.key, last.key) in self.lit_edges:
                colour, width = theme.ACTIVE, 2.0
            else:
                opacity = 0.15
        names = (self.graph.nodes[first.key].name, self.graph.nodes[last.key].name)
        return (f'<g class="edge" data-from="{esc(names[0])}" data-to="{esc(names[1])}"'
                + (f' opacity="{opacity}"' if opacity < 1 else "") + ">"
                f'<path d="{path}" {theme.stroke(colour, width)}/>'
                f'<path d="M{end[0] - 7:.1f},{end[1] - 4:.1f} L{end[0]:.1f},{end[1]:.1f} '
                f'L{end[0] - 7:.1f},{end[1] + 4:.1f} Z" {theme.fill(colour)}/></g>')

    def _node(self, s: Slot) -> str:
        node = self.graph.nodes[s.key]
        kind = _kind(node.kind)
        accent = theme.KIND.get(kind, theme.KIND["model"])
        status = self.statuses.get(node.name)
        tests = self.tests.get(s.key)
        failing = tests.status if tests else None      # a failed test marks its model
        border = theme.colour(failing or status, theme.FAINT) if status or failing \
            else theme.FAINT
        stroke_w = 2.0 if status or failing else 1.0
        x, y = self.layout.xs[s.layer], s.y - s.height / 2
        w, h = self.layout.widths[s.layer], s.height
        line1 = y + 16 if kind != "test" else y + h / 2 + 4
        focus = self.highlight is not None and node.name == self.highlight
        faded = self.lit_nodes is not None and s.key not in self.lit_nodes

        shape = []
        if focus:
            shape.append(f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="{w + 8:.1f}" '
                         f'height="{h + 8:.1f}" rx="9" '
                         f'{theme.stroke(theme.ACTIVE, 2.5, extra="stroke-opacity:0.55")}/>')
        dash = ";stroke-dasharray:4 3" if kind == "test" else ""
        box = theme.stroke(border, stroke_w, fill_=accent, extra=f"fill-opacity:{TINT}{dash}")
        if kind == "step":
            shape.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h}" '
                         f'rx="{h / 2}" {box}/>')
        elif kind == "action":
            tip = 12
            shape.append(f'<path d="M{x + 5:.1f},{y:.1f} H{x + w - tip:.1f} L{x + w:.1f},'
                         f'{y + h / 2:.1f} L{x + w - tip:.1f},{y + h:.1f} H{x + 5:.1f} '
                         f'Q{x:.1f},{y + h:.1f} {x:.1f},{y + h - 5:.1f} V{y + 5:.1f} '
                         f'Q{x:.1f},{y:.1f} {x + 5:.1f},{y:.1f} Z" {box}/>')
        else:
            shape.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h}" '
                         f'rx="{4 if kind in ("source", "seed") else 7}" {box}/>')
            if kind in ("source", "seed"):
                shape.append(f'<rect x="{x + stroke_w / 2 + 1:.1f}" y="{y + 4:.1f}" '
                             f'width="3.5" height="{h - 8}" rx="1.5" {theme.fill(accent)}/>')
        pad = 16 if kind == "step" else 11
        room = int((w - pad - 22) / CHAR_W)
        parts = [f'<text x="{x + pad:.1f}" y="{line1:.1f}" font-size="12" '
                 f'font-weight="{400 if kind == "test" else 600}" '
                 f'{theme.fill(theme.INK)}>{esc(_clip(node.name, room))}</text>']
        if kind != "test":      # the dashed border says "test"; one line keeps them small
            parts.append(f'<text x="{x + pad:.1f}" y="{y + 30:.1f}" font-size="9.5" '
                         f'{theme.fill(accent)} letter-spacing="0.4">{esc(kind)}</text>')
        right = x + w - (20 if kind == "action" else 9)
        if status:
            parts.append(f'<text x="{right:.1f}" y="{line1:.1f}" text-anchor="end" '
                         f'font-size="12" font-weight="700" {theme.fill(border)}>'
                         f'{esc(STATUS_GLYPHS.get(status, "•"))}</text>')
        if tests:
            parts.append(_tests_note(tests, right, y + 30))
        state = self.freshness.get(node.name) if kind == "source" else None
        if state:
            parts.append(_freshness_badge(state, x + w - badge_width(state) - 6, y + 21))
        opacity = f' opacity="{FADED}"' if faded else ""
        return (f'<g class="node" data-id="{esc(s.key)}" data-name="{esc(node.name)}" '
                f'data-kind="{esc(kind)}"'
                + (f' data-status="{esc(status)}"' if status else "")
                + (f' data-tests="{len(tests.names)}" data-failing-tests="'
                   f'{esc(" ".join(n for n, _ in tests.failing))}"' if tests else "")
                + f"{opacity}>"
                f"<title>{esc(self._tooltip(s, kind, status, state))}</title>"
                f"{''.join(shape)}{''.join(parts)}</g>")

    def _tooltip(self, s: Slot, kind: str, status: str | None, state: str | None) -> str:
        node = self.graph.nodes[s.key]
        tip = [f"{kind} {node.name}"]
        if node.description:
            tip.append(node.description.strip())
        if node.relation:
            tip.append(f"writes {node.relation}")
        if status:
            tip.append(f"last run: {status}")
        if state:
            tip.append(f"freshness: {state}")
        ins = sorted(self.graph.nodes[p].name for p in self.graph.parents[s.key]
                     if self.graph.nodes[p].kind != "test")
        if ins:
            tip.append("inputs: " + ", ".join(ins))
        tests = self.tests.get(s.key)
        if tests:
            failing = dict(tests.failing)
            tip.append(f"tests ({len(tests.names)}; all drawn with include_tests=True):")
            tip += [f"  {failing.get(n, 'ok' if status else 'not run')}: {n}"
                    for n in sorted(tests.names, key=lambda n: (n not in failing, n))[:12]]
            if len(tests.names) > 12:
                tip.append(f"  … and {len(tests.names) - 12} more")
        return "\n".join(tip)

    def _legend(self) -> tuple[str, float, float]:
        present = {_kind(self.graph.nodes[i].kind) for i in self.layout.ids}
        items = []
        x = 0.0
        for kind in (k for k in theme.KIND if k in present):
            accent = theme.KIND[kind]
            rx = 6 if kind == "step" else 3
            swatch = theme.stroke(accent, 1, fill_=accent, extra=f"fill-opacity:{TINT}")
            items.append(f'<rect x="{x:.1f}" y="0" width="20" height="12" rx="{rx}" {swatch}/>'
                         + _legend_text(x + 25, kind))
            x += 25 + len(kind) * 5.8 + 14
        x += 10
        shown = (("success", "success"), ("error", "error / fail"), ("warn", "warn"),
                 ("skipped", "skipped"), (None, "not run")) if self.statuses else ()
        for status, label in shown:
            colour = theme.colour(status) if status else theme.FAINT
            items.append(f'<rect x="{x:.1f}" y="0" width="20" height="12" rx="3" '
                         f'{theme.stroke(colour, 2 if status else 1)}/>'
                         + _legend_text(x + 25, label))
            x += 25 + len(label) * 5.8 + 14
        hidden = (f"{self.hidden_tests} dbt tests counted on their models; a failed one marks "
                  f"its model (all drawn with include_tests=True)"
                  if self.hidden_tests else "")
        second = ""
        if self.freshness:
            second = ("source badges: freshness against its SLA (fresh, warn, stale, never "
                      "loaded, no SLA)" + (f"; {hidden}" if hidden else ""))
        elif hidden:
            second = hidden
        if second:
            second = (f'<text x="0" y="30" font-size="10.5" {theme.fill(theme.MUTED)}>'
                      f"{esc(second)}</text>")
        return "".join(items) + second, x, 36 if second else 14


def column_groups(graph: Graph, row: list[Slot]) -> list[tuple[str, int]]:
    """The groups of a column's nodes (sources, staging, marts...) and how many of each,
    the largest first (ties in pipeline order)."""
    counts: dict[str, int] = {}
    for s in row:
        if s.real:
            group = _group(graph.nodes[s.key])
            counts[group] = counts.get(group, 0) + 1
    return sorted(counts.items(), key=lambda gn: (-gn[1], _GROUP_ORDER.index(gn[0])
                                                   if gn[0] in _GROUP_ORDER else 99, gn[0]))


def layer_label(graph: Graph, row: list[Slot]) -> str:
    """A column's heading as text: ``marts`` or ``marts + 1 seed``."""
    groups = column_groups(graph, row)
    if not groups:
        return ""
    rest = ", ".join(f"{n} {g.rstrip('s') if n == 1 else g}" for g, n in groups[1:])
    return groups[0][0] + (f" + {rest}" if rest else "")


def _group(node) -> str:
    kind = _kind(node.kind)
    if kind == "model":
        schema = (node.relation or "").split(".")[0]
        return schema if schema and schema not in ("main",) else "models"
    return {"source": "sources", "seed": "seeds", "step": "steps", "action": "actions",
            "snapshot": "snapshots", "test": "tests"}.get(kind, kind + "s")


def _path(points: list[tuple[float, float]], first: Slot, last: Slot) -> str:
    """An edge through its points: straight or a gentle curve between columns, and a loop
    below the boxes for an edge that goes back (a cycle)."""
    path = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
    if last.layer <= first.layer:
        (x0, y0), (x1, y1) = points[0], points[-1]
        dip = max(y0, y1) + BOX_H * 1.4
        return path + (f" Q{x0 + 30:.1f},{y0:.1f} {x0 + 30:.1f},{(y0 + dip) / 2:.1f}"
                       f" Q{x0 + 30:.1f},{dip:.1f} {x0:.1f},{dip:.1f} H{x1 - 4:.1f}"
                       f" Q{x1 - 34:.1f},{dip:.1f} {x1 - 34:.1f},{(y1 + dip) / 2:.1f}"
                       f" Q{x1 - 34:.1f},{y1:.1f} {x1:.1f},{y1:.1f}")
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if abs(y1 - y0) < 0.5 or x1 - x0 < 1:
            path += f" L{x1:.1f},{y1:.1f}"
        else:
            bend = max((x1 - x0) * 0.5, 18)
            path += f" C{x0 + bend:.1f},{y0:.1f} {x1 - bend:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
    return path


def _freshness_badge(state: str, x: float, y: float) -> str:
    """A pill in the state's colour: outlined and tinted, so its text reads on any theme."""
    colour, width = theme.colour(state), badge_width(state)
    pill = theme.stroke(colour, 1, fill_=colour, extra="fill-opacity:0.15")
    return (f'<g class="freshness"><rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="13" rx="6.5" {pill}/><text x="{x + width / 2:.1f}" y="{y + 9.5:.1f}" '
            f'text-anchor="middle" font-size="9" font-weight="600" {theme.fill(colour)}>'
            f"{esc(state)}</text></g>")


def _tests_note(tests: TestCount, right: float, y: float) -> str:
    """A model's test count on its second line, in the failing tests' colour if any."""
    colour = theme.colour(tests.status) if tests.status else theme.MUTED
    weight = "700" if tests.status else "400"
    return (f'<text class="tests" x="{right:.1f}" y="{y:.1f}" text-anchor="end" '
            f'font-size="9.5" font-weight="{weight}" {theme.fill(colour)}>'
            f"{esc(tests.label)}</text>")


def _legend_text(x: float, text: str) -> str:
    return (f'<text x="{x:.1f}" y="10" font-size="10.5" {theme.fill(theme.INK)}>'
            f"{esc(text)}</text>")
