"""The one graph: sources, dbt nodes, Python steps and actions.

Edges come from dbt's own ``source()``/``ref()`` (the manifest) and from the inputs that steps
and actions declare. A step's output is the dbt source ``steps.<output>``, so a dbt model that
reads it hangs below the step. A dbt source that nothing of the workbench fills (a table
another system writes) is an ``external`` node: an input drawn in the graph and lineage,
never scheduled. dbt's unit tests are ``test`` nodes below the model they test, as dbt
orders them; disabled nodes are not in the manifest, so never in the graph. The graph
answers "what is downstream of this source?", "what does this selection mean?" and "what can
start now?".

Selection (``wb.run(select=..., exclude=...)``) follows dbt's grammar, with the workbench's
own kinds (``loader:``, ``step:``, ``action:``) beside dbt's methods: see ``selection``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from . import selection as _selection
from .config import WorkbenchConfig
from .errors import ConfigError

KINDS = ("source", "external", "seed", "model", "snapshot", "test", "step", "action")
_DBT_KINDS = ("model", "seed", "snapshot", "test")


@dataclass(frozen=True)
class GraphNode:
    id: str             # "source:events", "step:x", "action:y", or dbt's unique_id
    name: str
    kind: str           # one of KINDS
    relation: str | None = None     # schema.table it writes, if any
    description: str | None = None  # dbt's ``description:`` (a loader: its dbt source's)

    @property
    def is_dbt(self) -> bool:
        return self.kind in _DBT_KINDS


class Graph:
    """Nodes and edges; ``parents``/``children`` map node id -> set of node ids.

    ``aliases`` maps a dbt source's unique_id to the node that fills it (a loader or a
    step), so that what dbt's selector answers can be read in this graph (``from_dbt``);
    ``dbt_ls`` is the selector itself (``DbtProject.ls``), which ``select`` uses by default.
    """

    def __init__(self, nodes: dict[str, GraphNode], edges: Iterable[tuple[str, str]],
                 aliases: dict[str, str] | None = None,
                 dbt_ls: Callable[[str], list[str]] | None = None) -> None:
        self.nodes = nodes
        self.aliases = dict(aliases or {})
        self.dbt_ls = dbt_ls
        self.parents: dict[str, set[str]] = {n: set() for n in nodes}
        self.children: dict[str, set[str]] = {n: set() for n in nodes}
        for parent, child in edges:
            if parent in nodes and child in nodes and parent != child:
                self.parents[child].add(parent)
                self.children[parent].add(child)

    @classmethod
    def of_sources(cls, config: WorkbenchConfig) -> Graph:
        """The loaders alone, without dbt: what a run that selects loaders only needs."""
        return cls({f"source:{s.name}": GraphNode(f"source:{s.name}", s.name, "source",
                                                  f"{config.raw_schema}.{s.name}")
                    for s in config.sources}, ())

    @classmethod
    def build(cls, config: WorkbenchConfig, manifest: Any,
              dbt_ls: Callable[[str], list[str]] | None = None) -> Graph:
        nodes = dict(cls.of_sources(config).nodes)
        edges: list[tuple[str, str]] = []
        for step in (*config.steps, *config.actions):
            nodes[f"{step.kind}:{step.name}"] = GraphNode(
                f"{step.kind}:{step.name}", step.name, step.kind,
                f"steps.{step.output}" if step.output else None)
        ephemeral = {uid for uid, node in manifest.nodes.items()
                     if getattr(node.config, "materialized", None) == "ephemeral"}
        dbt_nodes = {**manifest.nodes, **getattr(manifest, "unit_tests", {})}
        for uid, node in dbt_nodes.items():
            kind = dbt_kind(node.resource_type)
            if kind in _DBT_KINDS and uid not in ephemeral:
                relation = None if kind == "test" else f"{node.schema}.{node.alias}"
                nodes[uid] = GraphNode(uid, node.name, kind, relation,
                                       getattr(node, "description", None) or None)
        # A dbt source filled by the workbench is not a node of its own: the node that
        # fills it takes its place (a loader for raw.<source>, a step for steps.<output>).
        # One that nothing here fills is an external input.
        fillers = {(config.raw_schema, s.name): f"source:{s.name}" for s in config.sources}
        fillers |= {("steps", s.output): f"step:{s.name}" for s in config.steps}
        stand_in = {uid: fillers.get((src.schema, src.identifier or src.name), uid)
                    for uid, src in manifest.sources.items()}
        for uid, src in manifest.sources.items():
            if stand_in[uid] == uid:
                nodes[uid] = GraphNode(uid, f"{src.source_name}.{src.name}", "external",
                                       f"{src.schema}.{src.identifier or src.name}",
                                       src.description or None)
            elif src.description and stand_in[uid] in nodes:
                nodes[stand_in[uid]] = replace(nodes[stand_in[uid]], description=src.description)
        for parent, kids in manifest.child_map.items():
            parent_id = stand_in.get(parent, parent)
            edges += [(parent_id, kid) for kid in kids if parent_id]
        edges = _fold(edges, ephemeral)
        by_name = {n.name: n.id for n in nodes.values() if n.kind in
                   ("model", "seed", "snapshot", "source")}
        by_name |= {s.output: f"step:{s.name}" for s in config.steps}
        for step in (*config.steps, *config.actions):
            for name in step.inputs:
                if name not in by_name:
                    raise ConfigError(
                        f"[{step.kind}s.{step.name}] input {name!r} is not a dbt model, seed, "
                        f"source or step output of this project", step=step.name)
                edges.append((by_name[name], f"{step.kind}:{step.name}"))
        return cls(nodes, edges, {uid: node for uid, node in stand_in.items() if uid != node},
                   dbt_ls)

    # -- walking -------------------------------------------------------------------------------
    def downstream(self, node_id: str) -> set[str]:
        return _walk(node_id, self.children)

    def upstream(self, node_id: str) -> set[str]:
        return _walk(node_id, self.parents)

    def order(self, ids: Iterable[str] | None = None) -> list[str]:
        """Node ids in dependency order (parents first), ties by name."""
        wanted = set(self.nodes if ids is None else ids)
        remaining = {n: len(self.parents[n] & wanted) for n in wanted}
        ready = sorted((n for n, count in remaining.items() if count == 0), reverse=True)
        ordered = []
        while ready:
            node = ready.pop()
            ordered.append(node)
            for child in self.children[node] & wanted:
                remaining[child] -= 1
                if remaining[child] == 0:
                    ready.append(child)
                    ready.sort(reverse=True)
        return ordered

    def find(self, name: str) -> list[str]:
        return [n.id for n in self.nodes.values() if n.name == name]

    # -- selection -----------------------------------------------------------------------------
    def selection(self, sources: Iterable[str] | None = None, select: str | None = None,
                  dbt_ls: Callable[[str], list[str]] | None = None,
                  exclude: str | None = None) -> set[str]:
        """The node ids a run request may touch: the one place that decides it.

        ``select`` (or ``exclude`` alone) wins: ``selection.select``, dbt's grammar; else
        ``sources``: those sources, everything downstream of them and the tests of what
        that covers; else every node.
        """
        if select or exclude:
            chosen = self.select(select, dbt_ls=dbt_ls, exclude=exclude)
        elif sources is None:
            chosen = set(self.nodes)
        else:
            chosen = {f"source:{name}" for name in sources}
            for name in sources:
                chosen |= self.downstream(f"source:{name}")
            chosen |= self.tests_of(chosen)
        # External inputs are never run: what reads them runs against what is there.
        return {n for n in chosen if self.nodes[n].kind != "external"}

    def select(self, expression: str | None, dbt_ls: Callable[[str], list[str]] | None = None,
               exclude: str | None = None) -> set[str]:
        """Node ids selected by ``expression`` (every node when None) minus ``exclude``
        (``selection.select``)."""
        return _selection.select(self, expression, exclude, dbt_ls or self.dbt_ls)

    def from_dbt(self, unique_ids: Iterable[str]) -> set[str]:
        """dbt's answer as ids of this graph: a source by the node that fills it, and
        what the graph does not hold (ephemeral models, exposures...) left out."""
        ids = {self.aliases.get(uid, uid) for uid in unique_ids}
        return ids & self.nodes.keys()

    def tests_of(self, ids: set[str]) -> set[str]:
        return {n for n, node in self.nodes.items() if node.kind == "test"
                and self.parents[n] and self.parents[n] <= ids}

    # -- display -------------------------------------------------------------------------------
    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame([{
            "id": n.id, "name": n.name, "kind": n.kind, "relation": n.relation,
            "parents": sorted(self.nodes[p].name for p in self.parents[n.id]),
        } for n in (self.nodes[i] for i in self.order())])

    def edges(self) -> list[tuple[str, str]]:
        return sorted((p, c) for c, ps in self.parents.items() for p in ps)

    def __repr__(self) -> str:
        counts = {k: sum(n.kind == k for n in self.nodes.values()) for k in KINDS}
        parts = ", ".join(f"{v} {k}s" for k, v in counts.items() if v)
        return f"Graph({parts}, {len(self.edges())} edges)"

    def _repr_html_(self) -> str:
        from .display.html import html_table

        rows = [(n.kind, n.name, ", ".join(sorted(self.nodes[p].name
                                                  for p in self.parents[n.id])))
                for n in (self.nodes[i] for i in self.order()) if n.kind != "test"]
        return f"<div><b>{repr(self)}</b>" + html_table(["kind", "name", "inputs"], rows,
                                                        limit=200) + "</div>"


def dbt_kind(resource_type: Any) -> str:
    """dbt's NodeType as our plain kind string (``"model"``, ``"test"``...); a unit test
    is a ``"test"``: it passes or fails, and gates its model, as a data test does."""
    kind = str(getattr(resource_type, "value", resource_type))
    return "test" if kind == "unit_test" else kind


def _fold(edges: list[tuple[str, str]], hidden: set[str]) -> list[tuple[str, str]]:
    """Drop ``hidden`` nodes (dbt's ephemeral models: compiled into their children, never
    built or reported on their own), linking their parents straight to their children."""
    for node in hidden:
        parents = [p for p, c in edges if c == node]
        children = [c for p, c in edges if p == node]
        edges = [(p, c) for p, c in edges if node not in (p, c)]
        edges += [(p, c) for p in parents for c in children]
    return edges


def _walk(start: str, links: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for nxt in links.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen
