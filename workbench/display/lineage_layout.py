"""Where the lineage picture puts each box and each edge's bends: a small Sugiyama.

Nodes go into layers by their longest path from a root, an edge that spans several layers gets
a virtual point in each layer it crosses (so it runs between the boxes instead of through
them), the order inside each layer comes from barycentre sweeps that keep the ordering with
the fewest crossings, and the vertical positions are pulled towards each node's neighbours
while keeping the boxes apart (an isotonic regression per layer, so chains such as
``events -> stg_events`` end up straight). No SVG here: ``lineage_svg`` draws the result.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ..graph import Graph
from .charts import _kind

BOX_H = 38            # a node's box
TEST_H = 24           # a test's box: one line, there are many
GAP_Y = 12            # between two boxes of a layer
LANE = 8              # between an edge's virtual point and its neighbours
GAP_X = 52            # between two columns
CHAR_W = 8.4          # a 12px semi-bold character, generously (DejaVu Sans Bold, a
#                      usual fallback of system-ui, is ~8px wide)
SMALL_W = 6.2         # a 9.5px character of the second line (kind, test count)
COL_MIN, COL_MAX = 120, 420     # a column fits its longest name up to COL_MAX
MARGIN, HEAD = 16, 26


@dataclass
class Slot:
    """A place in a layer: a node, or the point where a long edge crosses the layer."""

    key: str              # node id, or "~<edge index>:<layer>" for a virtual point
    layer: int
    real: bool
    height: float = BOX_H
    y: float = 0.0

    @property
    def half(self) -> float:
        return self.height / 2 if self.real else 1.0


class Layout:
    """The positions of ``ids`` (in dependency order, ``cyclic`` ones last) and ``edges``:
    ``layers`` of slots with their ``y``, each column's ``xs`` and ``widths``, each edge's
    ``chains`` of slots, and the body's size. ``freshness`` widens sources with a badge,
    ``notes`` (node id -> text, e.g. "3 tests") a box with that note on its second line."""

    def __init__(self, graph: Graph, ids: list[str], cyclic: list[str],
                 edges: list[tuple[str, str]], freshness: dict[str, str],
                 notes: dict[str, str] | None = None) -> None:
        self.graph, self.ids, self.cyclic, self.edges = graph, ids, cyclic, edges
        self.freshness, self.notes = freshness, notes or {}
        self._build()

    def _build(self) -> None:
        nodes, parents = self.graph.nodes, self.graph.parents
        shown = set(self.ids)
        layer: dict[str, int] = {}
        for node in self.ids:                # parents first, so one pass gives longest paths
            layer[node] = max((layer[p] + 1 for p in parents[node] & shown if p in layer),
                              default=0)
        # A seed (or any root but a source) sits just before its first reader rather than
        # in the first column: its edges stay short and the first column stays "sources".
        children = self.graph.children
        for node in reversed(self.ids):
            kids = {k for k in children[node] & shown if nodes[k].kind != "test"}
            if nodes[node].kind != "source" and not (parents[node] & shown) and kids:
                layer[node] = max(layer[node], min(layer[k] for k in kids) - 1)
        cyclic = set(self.cyclic)
        for node in self.ids:                # and what hangs below it (its tests) follows
            if parents[node] & shown and node not in cyclic:
                layer[node] = max(layer[p] + 1 for p in parents[node] & shown)
        # Actions come after everything else (the picture reads left to right: sources,
        # models, then what leaves the warehouse), so no column mixes marts and actions.
        actions = [n for n in self.ids if nodes[n].kind == "action" and n not in cyclic]
        others = [layer[n] for n in self.ids if nodes[n].kind != "action"]
        if actions and others:
            last = max(others) + 1
            for node in actions:
                layer[node] = max(layer[node], last)
        used = {n: i for i, n in enumerate(sorted(set(layer.values())))}   # no empty layer
        layer = {node: used[n] for node, n in layer.items()}
        depth = len(used)
        self.layers: list[list[Slot]] = [[] for _ in range(depth)]
        slot: dict[str, Slot] = {}
        for node in self.ids:
            slot[node] = Slot(node, layer[node], True,
                               TEST_H if nodes[node].kind == "test" else BOX_H)
            self.layers[layer[node]].append(slot[node])

        # Each edge becomes a chain of slots; neighbours in adjacent layers drive the order.
        self.chains: list[list[Slot]] = []
        up: dict[str, list[Slot]] = {s: [] for s in slot}
        down: dict[str, list[Slot]] = {s: [] for s in slot}
        for index, (p, c) in enumerate(self.edges):
            chain = [slot[p]]
            for lay in range(layer[p] + 1, layer[c]):
                virtual = Slot(f"~{index}:{lay}", lay, False)
                self.layers[lay].append(virtual)
                up[virtual.key], down[virtual.key] = [], []
                chain.append(virtual)
            chain.append(slot[c])
            if layer[c] > layer[p]:        # a back edge (a cycle) takes no part in ordering
                for a, b in zip(chain, chain[1:]):
                    down[a.key].append(b)
                    up[b.key].append(a)
            self.chains.append(chain)

        rank = {"source": 0, "seed": 1, "step": 2, "model": 3, "snapshot": 3, "action": 4}
        for row in self.layers:             # a stable start: kind, then name
            row.sort(key=lambda s: (0, rank.get(nodes[s.key].kind, 5), nodes[s.key].name)
                     if s.real else (1, 0, s.key))
        self._order(up, down)
        self._place(up, down)

    def _order(self, up: dict[str, list[Slot]], down: dict[str, list[Slot]]) -> None:
        def between(row: list[Slot], nxt: list[Slot]) -> int:
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
            return sum(between(a, b) for a, b in zip(self.layers, self.layers[1:]))

        def around(i: int) -> int:
            return ((between(self.layers[i - 1], self.layers[i]) if i > 0 else 0)
                    + (between(self.layers[i], self.layers[i + 1])
                       if i + 1 < len(self.layers) else 0))

        def sweep(rows: list[list[Slot]], links: dict[str, list[Slot]]) -> None:
            for row in rows:
                where = {s.key: i for r in self.layers for i, s in enumerate(r)}
                centre = {s.key: (sum(where[n.key] for n in links[s.key]) / len(links[s.key])
                                  if links[s.key] else where[s.key]) for s in row}
                row.sort(key=lambda s: centre[s.key])

        def transpose() -> None:
            """Swap neighbours in a layer while that removes crossings (a local polish)."""
            for _ in range(4):
                better = False
                for i, row in enumerate(self.layers):
                    for j in range(len(row) - 1):
                        before = around(i)
                        row[j], row[j + 1] = row[j + 1], row[j]
                        if around(i) < before:
                            better = True
                        else:
                            row[j], row[j + 1] = row[j + 1], row[j]
                if not better:
                    return

        best, best_count = [list(r) for r in self.layers], crossings()
        small = sum(len(r) for r in self.layers) <= 400
        for _ in range(12):
            if best_count == 0:
                break
            sweep(self.layers[1:], up)
            sweep(self.layers[-2::-1], down)
            if small:
                transpose()
            count = crossings()
            if count < best_count:
                best, best_count = [list(r) for r in self.layers], count
        self.layers = best
        self.crossings = best_count

    def _place(self, up: dict[str, list[Slot]], down: dict[str, list[Slot]]) -> None:
        def gap(a: Slot, b: Slot) -> float:
            return a.half + b.half + (GAP_Y if a.real and b.real else LANE)

        for row in self.layers:            # stacked, then centred on the tallest layer
            y = 0.0
            for i, s in enumerate(row):
                y += gap(row[i - 1], s) if i else s.half
                s.y = y
        tallest = max((r[-1].y + r[-1].half for r in self.layers if r), default=0.0)
        for row in self.layers:
            if row:
                shift = (tallest - (row[-1].y + row[-1].half)) / 2
                for s in row:
                    s.y += shift

        def pull(row: list[Slot], links: list[dict[str, list[Slot]]]) -> None:
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
            for row in self.layers[1:]:
                pull(row, [up])
            for row in self.layers[-2::-1]:
                pull(row, [down])
        for row in self.layers:
            pull(row, [up, down])
        self._close_bands()

        top = min((r[0].y - r[0].half for r in self.layers if r), default=0.0)
        bottom = max((r[-1].y + r[-1].half for r in self.layers if r), default=0.0)
        for row in self.layers:
            for s in row:
                s.y += MARGIN + HEAD - top
        self.body_height = bottom - top
        if any(c[-1].layer <= c[0].layer for c in self.chains):    # room for cycles' loops
            self.body_height += BOX_H * 1.5

        self.widths = []
        for row in self.layers:
            need = max((self._width_of(s.key) for s in row if s.real), default=0)
            self.widths.append(min(COL_MAX, max(COL_MIN, need)))
        self.xs = []
        x = float(MARGIN)
        for width in self.widths:
            self.xs.append(x)
            x += width + GAP_X
        self.body_width = x - GAP_X - MARGIN if self.widths else 0.0
        if any(c[-1].layer <= c[0].layer for c in self.chains):
            self.body_width += 36

    def _close_bands(self) -> None:
        """Close a band across the whole picture with nothing in it: straightening a chain
        (invoices -> stg_invoices -> revenue_by_month) can push it far below the rest, and an
        empty stripe that tall reads as a picture cut in two. Edges across the band just get
        shorter."""
        slots = sorted((s for row in self.layers for s in row), key=lambda s: s.y - s.half)
        bottom, shift = None, 0.0
        for s in slots:
            top = s.y - s.half
            if bottom is not None and top - shift - bottom > BOX_H:
                shift = top - bottom - BOX_H
            s.y -= shift
            bottom = max(bottom if bottom is not None else s.y + s.half, s.y + s.half)

    def _width_of(self, key: str) -> float:
        """The width a node's box asks for: its name and status mark, or its second line
        (the kind tag beside a source's badge or a model's test count)."""
        node = self.graph.nodes[key]
        kind = _kind(node.kind)
        need = len(node.name) * CHAR_W + 11 + 26 + (12 if kind == "action" else 0)
        state = self.freshness.get(node.name) if kind == "source" else None
        if state:
            need = max(need, 11 + len(kind) * SMALL_W + 10 + badge_width(state) + 6)
        if key in self.notes:
            need = max(need, 11 + len(kind) * SMALL_W + 14 + len(self.notes[key]) * SMALL_W
                       + 9 + (12 if kind == "action" else 0))
        return need


def badge_width(state: str) -> float:
    """The width of a source's freshness badge."""
    return len(state) * 5.6 + 10


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
