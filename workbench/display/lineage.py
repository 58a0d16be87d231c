"""A picture of the graph: sources on the left, actions on the right, drawn as plain SVG.

    >>> Lineage(wb.graph(), statuses={"stg_users": "error"}, highlight="user_engagement")

The layout is a small Sugiyama: nodes go into layers by their longest path from a root, an
edge that spans several layers gets a virtual point in each layer it crosses (so it runs
between the boxes instead of through them), the order inside each layer comes from
barycentre sweeps that keep the ordering with the fewest crossings, and the vertical
positions are pulled towards each node's neighbours while keeping the boxes apart (an
isotonic regression per layer, so chains such as ``events -> stg_events`` end up straight).
Everything is static SVG: it renders in JupyterLab, survives nbconvert's HTML export and
opens as a file. Text is escaped; names too long for their column are shortened, with the
whole name in the node's tooltip.
"""

from __future__ import annotations

import bisect
import difflib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..graph import Graph
from .charts import FONT, INK, MUTED, NO_STATUS, STATUS_COLOURS, _clip, _kind, esc

# kind -> (fill, accent); the accent colours the kind tag and the source/seed stripe.
KIND_STYLES = {
    "source": ("#ddf4ff", "#0969da"),
    "seed": ("#fff8c5", "#9a6700"),
    "model": ("#f6f8fa", "#57606a"),
    "snapshot": ("#eaeef2", "#57606a"),
    "step": ("#fbefff", "#8250df"),
    "action": ("#dafbe1", "#116329"),
    "test": ("#ffffff", "#6e7781"),
}
FRESHNESS_COLOURS = {"fresh": "#1a7f37", "warn": "#bf8700", "stale": "#cf222e",
                     "never loaded": "#6e7781", "no SLA": "#8c959f"}
STATUS_GLYPHS = {"success": "✓", "error": "✕", "fail": "✕", "warn": "!", "skipped": "–"}
_GROUP_ORDER = ("sources", "seeds", "staging", "intermediate", "models", "snapshots", "marts",
                "steps", "actions", "tests")

BOX_H = 38            # a node's box
TEST_H = 24           # a test's box: one line, there are many
GAP_Y = 12            # between two boxes of a layer
LANE = 8              # between an edge's virtual point and its neighbours
GAP_X = 52            # between two columns
CHAR_W = 7.0          # a 12px semi-bold character, generously
COL_MIN, COL_MAX = 120, 228
MARGIN, HEAD = 16, 26
FADED = 0.28


@dataclass
class _Slot:
    """A place in a layer: a node, or the point where a long edge crosses the layer."""

    key: str              # node id, or "~<edge index>:<layer>" for a virtual point
    layer: int
    real: bool
    height: float = BOX_H
    y: float = 0.0

    @property
    def half(self) -> float:
        return self.height / 2 if self.real else 1.0


class Lineage:
    """The graph as a left-to-right picture, coloured by kind, run status and freshness.

    Args:
        graph: the workbench graph (``wb.graph()``).
        statuses: node name -> status of its last run (success, error, fail, warn, skipped);
            drawn as the box's border colour and a glyph.
        freshness: source name -> freshness state (fresh, warn, stale, never loaded, no SLA);
            drawn as a badge on the source.
        highlight: a node name; it, everything upstream and everything downstream of it stay
            bright, the rest fades.
        include_tests: draw dbt tests too (hidden by default: a project has many).
    """

    def __init__(self, graph: Graph, *, statuses: dict[str, str] | None = None,
                 freshness: dict[str, str] | None = None, highlight: str | None = None,
                 include_tests: bool = False) -> None:
        self.graph = graph
        self.statuses = {str(k): str(v) for k, v in (statuses or {}).items()}
        self.freshness = {str(k): str(v) for k, v in (freshness or {}).items()}
        self.include_tests = include_tests
        self.highlight = highlight
        self._ids = [i for i in graph.order() if include_tests or graph.nodes[i].kind != "test"]
        # graph.order() leaves out nodes on a cycle; draw them anyway, after the rest.
        shown = set(self._ids)
        self._cyclic = sorted(i for i in graph.nodes if i not in shown
                              and (include_tests or graph.nodes[i].kind != "test"))
        self._ids += self._cyclic
        shown = set(self._ids)
        self._edges = [(p, c) for p, c in graph.edges() if p in shown and c in shown]
        self._hidden_tests = sum(n.kind == "test" for n in graph.nodes.values()) \
            if not include_tests else 0
        self._lit_nodes, self._lit_edges = self._lineage_of(highlight)
        self._layout()

    # -- what is emphasised ------------------------------------------------------------------
    def _lineage_of(self, name: str | None) -> tuple[set[str] | None, set[tuple[str, str]]]:
        if name is None:
            return None, set()
        found = [i for i in self._ids if self.graph.nodes[i].name == name]
        if not found:
            names = sorted({self.graph.nodes[i].name for i in self._ids})
            close = difflib.get_close_matches(name, names, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"no node {name!r} in the graph.{hint} See wb.graph() for the "
                              f"nodes.", node=name)
        up: set[str] = set(found)
        down: set[str] = set(found)
        for node in found:
            up |= self.graph.upstream(node)
            down |= self.graph.downstream(node)
        edges = {(p, c) for p, c in self._edges
                 if (p in up and c in up) or (p in down and c in down)}
        return up | down, edges

    # -- layout --------------------------------------------------------------------------------
    def _layout(self) -> None:
        nodes, parents = self.graph.nodes, self.graph.parents
        shown = set(self._ids)
        layer: dict[str, int] = {}
        for node in self._ids:               # parents first, so one pass gives longest paths
            layer[node] = max((layer[p] + 1 for p in parents[node] & shown if p in layer),
                              default=0)
        # A seed (or any root but a source) sits just before its first reader rather than
        # in the first column: its edges stay short and the first column stays "sources".
        children = self.graph.children
        for node in reversed(self._ids):
            kids = {k for k in children[node] & shown if nodes[k].kind != "test"}
            if nodes[node].kind != "source" and not (parents[node] & shown) and kids:
                layer[node] = max(layer[node], min(layer[k] for k in kids) - 1)
        cyclic = set(self._cyclic)
        for node in self._ids:               # and what hangs below it (its tests) follows
            if parents[node] & shown and node not in cyclic:
                layer[node] = max(layer[p] + 1 for p in parents[node] & shown)
        used = {n: i for i, n in enumerate(sorted(set(layer.values())))}   # no empty layer
        layer = {node: used[n] for node, n in layer.items()}
        depth = len(used)
        self._layers: list[list[_Slot]] = [[] for _ in range(depth)]
        slot: dict[str, _Slot] = {}
        for node in self._ids:
            slot[node] = _Slot(node, layer[node], True,
                               TEST_H if nodes[node].kind == "test" else BOX_H)
            self._layers[layer[node]].append(slot[node])

        # Each edge becomes a chain of slots; neighbours in adjacent layers drive the order.
        self._chains: list[list[_Slot]] = []
        up: dict[str, list[_Slot]] = {s: [] for s in slot}
        down: dict[str, list[_Slot]] = {s: [] for s in slot}
        for index, (p, c) in enumerate(self._edges):
            chain = [slot[p]]
            for lay in range(layer[p] + 1, layer[c]):
                virtual = _Slot(f"~{index}:{lay}", lay, False)
                self._layers[lay].append(virtual)
                up[virtual.key], down[virtual.key] = [], []
                chain.append(virtual)
            chain.append(slot[c])
            if layer[c] > layer[p]:        # a back edge (a cycle) takes no part in ordering
                for a, b in zip(chain, chain[1:]):
                    down[a.key].append(b)
                    up[b.key].append(a)
            self._chains.append(chain)

        rank = {"source": 0, "seed": 1, "step": 2, "model": 3, "snapshot": 3, "action": 4}
        for row in self._layers:             # a stable start: kind, then name
            row.sort(key=lambda s: (0, rank.get(nodes[s.key].kind, 5), nodes[s.key].name)
                     if s.real else (1, 0, s.key))
        self._order(up, down)
        self._place(up, down)

    def _order(self, up: dict[str, list[_Slot]], down: dict[str, list[_Slot]]) -> None:
        def between(row: list[_Slot], nxt: list[_Slot]) -> int:
            """Crossings between two adjacent layers: inversions of the edges' lower ends."""
            pos = {s.key: i for i, s in enumerate(nxt)}
            pairs = sorted((i, pos[t.key]) for i, s in enumerate(row) for t in down[s.key]
                           if t.key in pos)
            seen: list[int] = []
            total = 0
            for _, b in pairs:
                total += len(seen) - bisect.bisect_right(seen, b)
                bisect.insort(seen, b)
            return total

        def crossings() -> int:
            return sum(between(a, b) for a, b in zip(self._layers, self._layers[1:]))

        def around(i: int) -> int:
            return ((between(self._layers[i - 1], self._layers[i]) if i > 0 else 0)
                    + (between(self._layers[i], self._layers[i + 1])
                       if i + 1 < len(self._layers) else 0))

        def sweep(rows: list[list[_Slot]], links: dict[str, list[_Slot]]) -> None:
            for row in rows:
                where = {s.key: i for r in self._layers for i, s in enumerate(r)}
                centre = {s.key: (sum(where[n.key] for n in links[s.key]) / len(links[s.key])
                                  if links[s.key] else where[s.key]) for s in row}
                row.sort(key=lambda s: centre[s.key])

        def transpose() -> None:
            """Swap neighbours in a layer while that removes crossings (a local polish)."""
            for _ in range(4):
                better = False
                for i, row in enumerate(self._layers):
                    for j in range(len(row) - 1):
                        before = around(i)
                        row[j], row[j + 1] = row[j + 1], row[j]
                        if around(i) < before:
                            better = True
                        else:
                            row[j], row[j + 1] = row[j + 1], row[j]
                if not better:
                    return

        best, best_count = [list(r) for r in self._layers], crossings()
        small = sum(len(r) for r in self._layers) <= 400
        for _ in range(12):
            if best_count == 0:
                break
            sweep(self._layers[1:], up)
            sweep(self._layers[-2::-1], down)
            if small:
                transpose()
            count = crossings()
            if count < best_count:
                best, best_count = [list(r) for r in self._layers], count
        self._layers = best
        self._crossings = best_count

    def _place(self, up: dict[str, list[_Slot]], down: dict[str, list[_Slot]]) -> None:
        def gap(a: _Slot, b: _Slot) -> float:
            return a.half + b.half + (GAP_Y if a.real and b.real else LANE)

        for row in self._layers:            # stacked, then centred on the tallest layer
            y = 0.0
            for i, s in enumerate(row):
                y += gap(row[i - 1], s) if i else s.half
                s.y = y
        tallest = max((r[-1].y + r[-1].half for r in self._layers if r), default=0.0)
        for row in self._layers:
            if row:
                shift = (tallest - (row[-1].y + row[-1].half)) / 2
                for s in row:
                    s.y += shift

        def pull(row: list[_Slot], links: list[dict[str, list[_Slot]]]) -> None:
            wish = []
            for s in row:
                near = [n.y for link in links for n in link[s.key]]
                wish.append(sum(near) / len(near) if near else s.y)
            offsets = [0.0]
            for a, b in zip(row, row[1:]):
                offsets.append(offsets[-1] + gap(a, b))
            # Virtual points pull harder: a long edge should run straight.
            weights = [1.0 if s.real else 2.0 for s in row]
            z = _isotonic([w - o for w, o in zip(wish, offsets)], weights)
            for s, zi, o in zip(row, z, offsets):
                s.y = zi + o

        for _ in range(6):
            for row in self._layers[1:]:
                pull(row, [up])
            for row in self._layers[-2::-1]:
                pull(row, [down])
        for row in self._layers:
            pull(row, [up, down])

        top = min((r[0].y - r[0].half for r in self._layers if r), default=0.0)
        bottom = max((r[-1].y + r[-1].half for r in self._layers if r), default=0.0)
        for row in self._layers:
            for s in row:
                s.y += MARGIN + HEAD - top
        self._body_height = bottom - top
        if any(c[-1].layer <= c[0].layer for c in self._chains):    # room for cycles' loops
            self._body_height += BOX_H * 1.5

        nodes = self.graph.nodes
        self._widths = []
        for row in self._layers:
            need = max((self._width_of(nodes[s.key]) for s in row if s.real), default=0)
            self._widths.append(min(COL_MAX, max(COL_MIN, need)))
        self._xs = []
        x = float(MARGIN)
        for width in self._widths:
            self._xs.append(x)
            x += width + GAP_X
        self._body_width = x - GAP_X - MARGIN if self._widths else 0.0
        if any(c[-1].layer <= c[0].layer for c in self._chains):
            self._body_width += 36

    def _width_of(self, node) -> float:
        """The width a node's box asks for: its name, or its kind tag beside its badge."""
        kind = _kind(node.kind)
        need = len(node.name) * CHAR_W + 34
        state = self.freshness.get(node.name) if kind == "source" else None
        if state:
            need = max(need, 11 + len(kind) * 6 + 10 + _badge_width(state) + 6)
        return need

    # -- drawing -------------------------------------------------------------------------------
    @property
    def svg(self) -> str:
        """The picture as a standalone ``<svg>`` document (a string)."""
        legend, legend_w, legend_h = self._legend()
        width = max(self._body_width, legend_w) + 2 * MARGIN
        height = MARGIN + HEAD + self._body_height + 18 + legend_h + MARGIN
        legend_y = MARGIN + HEAD + self._body_height + 18
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="workbench-lineage" '
               f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} '
               f'{height:.0f}" font-family="{FONT}" style="max-width:100%;'
               f'min-width:{min(width, max(width * 0.7, 600)):.0f}px;height:auto">',
               f"<title>{esc(self._title())}</title>",
               '<rect width="100%" height="100%" fill="#ffffff"/>']
        out += self._headings()
        out.append('<g class="edges">')
        out += self._edges_svg()
        out.append('</g><g class="nodes">')
        out += [self._node_svg(s) for row in self._layers for s in row if s.real]
        out.append(f'</g><g class="legend" transform="translate({MARGIN},{legend_y:.0f})">'
                   f"{legend}</g></svg>")
        return "".join(out)

    def _title(self) -> str:
        text = f"Lineage: {len(self._ids)} nodes, {len(self._edges)} edges"
        if self._hidden_tests:
            text += f", {self._hidden_tests} tests hidden"
        if self.highlight is not None:
            text += f"; highlight {self.highlight}"
        return text

    def _headings(self) -> list[str]:
        out = []
        for row, x, width in zip(self._layers, self._xs, self._widths):
            label = _clip(self._layer_label(row), int((width + GAP_X * 0.8) / 7.4))
            out.append(f'<text x="{x + width / 2:.1f}" y="{MARGIN + 10}" text-anchor="middle" '
                       f'font-size="10.5" letter-spacing="0.6" fill="{MUTED}">'
                       f"{esc(label.upper())}</text>")
        return out

    def _layer_label(self, row: list[_Slot]) -> str:
        counts: dict[str, int] = {}
        for s in row:
            if s.real:
                group = _group(self.graph.nodes[s.key])
                counts[group] = counts.get(group, 0) + 1
        ordered = sorted(counts, key=lambda g: (_GROUP_ORDER.index(g)
                                                 if g in _GROUP_ORDER else 99, g))
        return " · ".join(ordered)

    def _edges_svg(self) -> list[str]:
        # Spread the ends over a box's side, in the order of where the other end lies, so
        # arrows into one box do not land on one point.
        ports_out: dict[str, list[int]] = {}
        ports_in: dict[str, list[int]] = {}
        for index, chain in enumerate(self._chains):
            ports_out.setdefault(chain[0].key, []).append(index)
            ports_in.setdefault(chain[-1].key, []).append(index)

        def offsets(ports: dict[str, list[int]], end: int) -> dict[tuple[str, int], float]:
            found = {}
            for key, indices in ports.items():
                indices.sort(key=lambda i: (self._chains[i][end].y,
                                            self._chains[i][end].layer))
                height = self._chains[indices[0]][0 if end == 1 else -1].height
                spread = min(7.0, (height - 14) / max(len(indices) - 1, 1))
                for k, i in enumerate(indices):
                    found[(key, i)] = (k - (len(indices) - 1) / 2) * spread
            return found

        out_at, in_at = offsets(ports_out, 1), offsets(ports_in, -2)
        lit = self._lit_nodes
        drawn = []
        for index, chain in enumerate(self._chains):
            first, last = chain[0], chain[-1]
            points = [(self._right(first), first.y + out_at[(first.key, index)])]
            for virtual in chain[1:-1]:
                points += [(self._xs[virtual.layer], virtual.y),
                           (self._xs[virtual.layer] + self._widths[virtual.layer], virtual.y)]
            end = (self._xs[last.layer] - 1, last.y + in_at[(last.key, index)])
            points.append((end[0] - 6, end[1]))
            path = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
            if last.layer <= first.layer:   # a cycle: loop back below the boxes
                (x0, y0), (x1, y1) = points[0], points[-1]
                dip = max(y0, y1) + BOX_H * 1.4
                path += (f" Q{x0 + 30:.1f},{y0:.1f} {x0 + 30:.1f},{(y0 + dip) / 2:.1f}"
                         f" Q{x0 + 30:.1f},{dip:.1f} {x0:.1f},{dip:.1f} H{x1 - 4:.1f}"
                         f" Q{x1 - 34:.1f},{dip:.1f} {x1 - 34:.1f},{(y1 + dip) / 2:.1f}"
                         f" Q{x1 - 34:.1f},{y1:.1f} {x1:.1f},{y1:.1f}")
                points = []
            for (x0, y0), (x1, y1) in zip(points, points[1:]):
                if abs(y1 - y0) < 0.5 or x1 - x0 < 1:
                    path += f" L{x1:.1f},{y1:.1f}"
                else:
                    bend = max((x1 - x0) * 0.5, 18)
                    path += f" C{x0 + bend:.1f},{y0:.1f} {x1 - bend:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
            edge = (first.key, last.key)
            colour, stroke, opacity = "#8c959f", 1.3, 1.0
            if lit is not None:
                if edge in self._lit_edges:
                    colour, stroke = "#0969da", 2.0
                else:
                    opacity = 0.15
            names = (self.graph.nodes[first.key].name, self.graph.nodes[last.key].name)
            drawn.append(
                f'<g class="edge" data-from="{esc(names[0])}" data-to="{esc(names[1])}"'
                + (f' opacity="{opacity}"' if opacity < 1 else "") + ">"
                f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{stroke}"/>'
                f'<path d="M{end[0] - 7:.1f},{end[1] - 4:.1f} L{end[0]:.1f},{end[1]:.1f} '
                f'L{end[0] - 7:.1f},{end[1] + 4:.1f} Z" fill="{colour}"/></g>')
        return drawn

    def _right(self, s: _Slot) -> float:
        return self._xs[s.layer] + self._widths[s.layer]

    def _node_svg(self, s: _Slot) -> str:
        node = self.graph.nodes[s.key]
        kind = _kind(node.kind)
        fill, accent = KIND_STYLES.get(kind, KIND_STYLES["model"])
        status = self.statuses.get(node.name)
        border = STATUS_COLOURS.get(status, NO_STATUS) if status else NO_STATUS
        stroke_w = 2.0 if status else 1.0
        x, y, w, h = self._xs[s.layer], s.y - s.height / 2, self._widths[s.layer], s.height
        line1 = y + 16 if kind != "test" else y + h / 2 + 4
        focus = self.highlight is not None and node.name == self.highlight
        faded = self._lit_nodes is not None and s.key not in self._lit_nodes

        shape = []
        if focus:
            shape.append(f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="{w + 8:.1f}" '
                         f'height="{h + 8:.1f}" rx="9" fill="none" stroke="#0969da" '
                         f'stroke-width="2.5" stroke-opacity="0.55"/>')
        stroke = f'stroke="{border}" stroke-width="{stroke_w}"'
        if kind == "step":
            shape.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h}" '
                         f'rx="{h / 2}" fill="{fill}" {stroke}/>')
        elif kind == "action":
            tip = 12
            shape.append(f'<path d="M{x + 5:.1f},{y:.1f} H{x + w - tip:.1f} L{x + w:.1f},'
                         f'{y + h / 2:.1f} L{x + w - tip:.1f},{y + h:.1f} H{x + 5:.1f} '
                         f'Q{x:.1f},{y + h:.1f} {x:.1f},{y + h - 5:.1f} V{y + 5:.1f} '
                         f'Q{x:.1f},{y:.1f} {x + 5:.1f},{y:.1f} Z" fill="{fill}" {stroke}/>')
        else:
            dash = ' stroke-dasharray="4 3"' if kind == "test" else ""
            shape.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h}" '
                         f'rx="{4 if kind in ("source", "seed") else 7}" fill="{fill}" '
                         f"{stroke}{dash}/>")
            if kind in ("source", "seed"):
                shape.append(f'<rect x="{x + stroke_w / 2 + 1:.1f}" y="{y + 4:.1f}" '
                             f'width="3.5" height="{h - 8}" rx="1.5" fill="{accent}"/>')
        pad = 16 if kind == "step" else 11
        room = int((w - pad - 22) / CHAR_W)
        parts = [f'<text x="{x + pad:.1f}" y="{line1:.1f}" font-size="12" '
                 f'font-weight="{400 if kind == "test" else 600}" '
                 f'fill="{INK}">{esc(_clip(node.name, room))}</text>']
        if kind != "test":      # the dashed border says "test"; one line keeps them small
            parts.append(f'<text x="{x + pad:.1f}" y="{y + 30:.1f}" font-size="9.5" '
                         f'fill="{accent}" letter-spacing="0.4">{esc(kind)}</text>')
        if status:
            parts.append(f'<text x="{x + w - (20 if kind == "action" else 9):.1f}" '
                         f'y="{line1:.1f}" text-anchor="end" font-size="12" font-weight="700" '
                         f'fill="{border}">{esc(STATUS_GLYPHS.get(status, "•"))}</text>')
        state = self.freshness.get(node.name) if kind == "source" else None
        if state:
            colour = FRESHNESS_COLOURS.get(state, MUTED)
            badge_w = _badge_width(state)
            bx = x + w - badge_w - 6
            parts.append(f'<g class="freshness"><rect x="{bx:.1f}" y="{y + 21:.1f}" '
                         f'width="{badge_w:.1f}" height="13" rx="6.5" fill="{colour}"/>'
                         f'<text x="{bx + badge_w / 2:.1f}" y="{y + 30.5:.1f}" '
                         f'text-anchor="middle" font-size="9" font-weight="600" fill="#ffffff">'
                         f"{esc(state)}</text></g>")
        tip = [f"{kind} {node.name}"]
        if node.relation:
            tip.append(f"writes {node.relation}")
        if status:
            tip.append(f"last run: {status}")
        if state:
            tip.append(f"freshness: {state}")
        ins = sorted(self.graph.nodes[p].name for p in self.graph.parents[s.key])
        if ins:
            tip.append("inputs: " + ", ".join(ins))
        opacity = f' opacity="{FADED}"' if faded else ""
        return (f'<g class="node" data-id="{esc(s.key)}" data-name="{esc(node.name)}" '
                f'data-kind="{esc(kind)}"'
                + (f' data-status="{esc(status)}"' if status else "") + f"{opacity}>"
                f"<title>{esc(chr(10).join(tip))}</title>{''.join(shape)}{''.join(parts)}</g>")

    def _legend(self) -> tuple[str, float, float]:
        kinds = [k for k in KIND_STYLES if any(_kind(self.graph.nodes[i].kind) == k
                                               for i in self._ids)]
        items = []
        x = 0.0
        for kind in kinds:
            fill, accent = KIND_STYLES[kind]
            rx = 6 if kind == "step" else 3
            items.append(f'<rect x="{x:.1f}" y="0" width="20" height="12" rx="{rx}" '
                         f'fill="{fill}" stroke="{accent}"/>'
                         f'<text x="{x + 25:.1f}" y="10" font-size="10.5" fill="{INK}">'
                         f"{esc(kind)}</text>")
            x += 25 + len(kind) * 5.8 + 14
        x += 10
        shown = (("success", "success"), ("error", "error / fail"), ("warn", "warn"),
                 ("skipped", "skipped"), (None, "not run")) if self.statuses else ()
        for status, label in shown:
            colour = STATUS_COLOURS[status] if status else NO_STATUS
            items.append(f'<rect x="{x:.1f}" y="0" width="20" height="12" rx="3" fill="#ffffff" '
                         f'stroke="{colour}" stroke-width="{2 if status else 1}"/>'
                         f'<text x="{x + 25:.1f}" y="10" font-size="10.5" fill="{INK}">'
                         f"{esc(label)}</text>")
            x += 25 + len(label) * 5.8 + 14
        width = x
        second = ""
        if self.freshness:
            second = (f'<text x="0" y="30" font-size="10.5" fill="{MUTED}">source badges: '
                      f"freshness against its SLA (fresh, warn, stale, never loaded, no SLA)"
                      + (f"; {self._hidden_tests} dbt tests hidden (include_tests=True)"
                         if self._hidden_tests else "") + "</text>")
        elif self._hidden_tests:
            second = (f'<text x="0" y="30" font-size="10.5" fill="{MUTED}">'
                      f"{self._hidden_tests} dbt tests hidden (include_tests=True)</text>")
        return "".join(items) + second, width, 36 if second else 14

    # -- display -------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        return (f'<div class="workbench-lineage"><div style="font:600 13px {FONT};'
                f'margin:4px 0">{esc(self._title())}</div>'
                f'<div style="overflow-x:auto">{self.svg}</div></div>')

    def __repr__(self) -> str:
        lines = [self._title()]
        for i, row in enumerate(self._layers):
            names = []
            for s in row:
                if not s.real:
                    continue
                node = self.graph.nodes[s.key]
                marks = [m for m in (self.statuses.get(node.name),
                                     self.freshness.get(node.name)
                                     if _kind(node.kind) == "source" else None)
                         if m and m not in ("success", "fresh")]
                names.append(node.name + (f" [{', '.join(marks)}]" if marks else ""))
            lines.append(f"{'  ' if i == 0 else '→ '}{self._layer_label(row)}: "
                         f"{', '.join(names)}")
        return "\n".join(lines)

    def save(self, path: str | Path) -> Path:
        """Write the SVG to ``path`` (``.svg``) and return it."""
        path = Path(path)
        path.write_text(self.svg, encoding="utf-8")
        return path


def _badge_width(state: str) -> float:
    return len(state) * 5.6 + 10


def _group(node) -> str:
    kind = _kind(node.kind)
    if kind == "model":
        schema = (node.relation or "").split(".")[0]
        return schema if schema and schema not in ("main",) else "models"
    return {"source": "sources", "seed": "seeds", "step": "steps", "action": "actions",
            "snapshot": "snapshots", "test": "tests"}.get(kind, kind + "s")


def _isotonic(values: list[float], weights: list[float]) -> list[float]:
    """The non-decreasing sequence closest to ``values`` (weighted least squares; PAVA)."""
    blocks: list[list[float]] = []          # [mean, weight, count]
    for v, w in zip(values, weights):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for mean, _, count in blocks:
        out += [mean] * int(count)
    return out
