"""A picture of the graph: sources on the left, actions on the right, drawn as plain SVG.

    >>> Lineage(wb.graph(), statuses={"stg_users": "error"}, highlight="user_engagement")

``lineage_layout`` places the boxes (a small Sugiyama: layers by longest path, few crossings,
straight chains) and ``lineage_svg`` draws them in ``theme``'s colours, which follow
JupyterLab's light or dark theme. Everything is static SVG: it renders in JupyterLab, survives
nbconvert's HTML export and opens as a file.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from ..errors import ConfigError
from ..graph import Graph
from .charts import _kind
from .lineage_layout import Layout
from .lineage_script import interactive
from .lineage_svg import Drawing, TestCount, layer_label


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
        include_tests: draw dbt tests too. By default they are not drawn: each model says
            how many tests it has, and a model whose test failed or warned is marked with it.
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
        self.tests = {} if include_tests else self._tests_of_models()
        self._layout = Layout(graph, self._ids, self._cyclic, self._edges, self.freshness,
                              {k: t.label for k, t in self.tests.items()})

    def _tests_of_models(self) -> dict[str, TestCount]:
        """Each drawn node's dbt tests, and those whose last run failed or warned."""
        found: dict[str, TestCount] = {}
        shown = set(self._ids)
        for key, node in self.graph.nodes.items():
            if node.kind != "test":
                continue
            status = self.statuses.get(node.name)
            for parent in self.graph.parents[key] & shown:
                count = found.setdefault(parent, TestCount())
                count.names.append(node.name)
                if status in ("error", "fail", "warn"):
                    count.failing.append((node.name, status))
        return found

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

    # -- drawing -------------------------------------------------------------------------------
    @property
    def svg(self) -> str:
        """The picture as a standalone ``<svg>`` document (a string)."""
        return Drawing(self.graph, self._layout, self._title(), statuses=self.statuses,
                       freshness=self.freshness, highlight=self.highlight,
                       lit_nodes=self._lit_nodes, lit_edges=self._lit_edges,
                       hidden_tests=self._hidden_tests, tests=self.tests).svg()

    def _title(self) -> str:
        text = f"Lineage: {len(self._ids)} nodes, {len(self._edges)} edges"
        if self._hidden_tests:
            text += f", {self._hidden_tests} tests counted on their models"
        if self.highlight is not None:
            text += f"; highlight {self.highlight}"
        return text

    # -- display -------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        """The SVG with a small script for JupyterLab (pan, zoom, search, click a node to
        follow it); where scripts do not run, the same SVG, static."""
        return interactive(self._title(), self.svg)

    def __repr__(self) -> str:
        lines = [self._title()]
        for i, row in enumerate(self._layout.layers):
            names = []
            for s in row:
                if not s.real:
                    continue
                node = self.graph.nodes[s.key]
                tests = self.tests.get(s.key)
                marks = [m for m in (self.statuses.get(node.name),
                                     self.freshness.get(node.name)
                                     if _kind(node.kind) == "source" else None,
                                     tests.label if tests and tests.failing else None)
                         if m and m not in ("success", "fresh")]
                names.append(node.name + (f" [{', '.join(marks)}]" if marks else ""))
            lines.append(f"{'  ' if i == 0 else '→ '}{layer_label(self.graph, row)}: "
                         f"{', '.join(names)}")
        return "\n".join(lines)

    def save(self, path: str | Path) -> Path:
        """Write the SVG to ``path`` (``.svg``) and return it."""
        path = Path(path)
        path.write_text(self.svg, encoding="utf-8")
        return path
