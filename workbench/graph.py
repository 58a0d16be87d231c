"""The one graph: workbench sources and the dbt nodes that read them.

Built from the configuration and dbt's manifest. It answers "which dbt selector covers
what is downstream of this source?" and "which nodes did that build touch?".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import WorkbenchConfig


@dataclass(frozen=True)
class GraphNode:
    id: str             # "source:events", or dbt's unique_id ("model.workbench.stg_events")
    name: str
    kind: str           # source | seed | model | snapshot | test


class Graph:
    """Sources, seeds, models, snapshots and tests, with edges from dbt's source()/ref()."""

    def __init__(self, nodes: dict[str, GraphNode], children: dict[str, set[str]],
                 dbt_sources: dict[str, list[str]]) -> None:
        self.nodes = nodes
        self.children = children
        self.dbt_sources = dbt_sources     # workbench source -> dbt source unique_ids

    @classmethod
    def build(cls, config: WorkbenchConfig, manifest: Any) -> Graph:
        nodes: dict[str, GraphNode] = {}
        children: dict[str, set[str]] = {}
        dbt_sources: dict[str, list[str]] = {s.name: [] for s in config.sources}
        for uid, src in manifest.sources.items():
            identifier = (src.identifier or src.name)
            if src.schema == config.raw_schema and identifier in dbt_sources:
                dbt_sources[identifier].append(uid)
                children.setdefault(f"source:{identifier}", set()).add(uid)
        for source in config.sources:
            nodes[f"source:{source.name}"] = GraphNode(f"source:{source.name}", source.name,
                                                       "source")
        for uid, node in manifest.nodes.items():
            if node.resource_type in ("model", "seed", "snapshot", "test"):
                nodes[uid] = GraphNode(uid, node.name, node.resource_type)
        for parent, kids in manifest.child_map.items():
            children.setdefault(parent, set()).update(kids)
        return cls(nodes, children, dbt_sources)

    def downstream(self, node_id: str) -> set[str]:
        """Every node reachable from ``node_id`` (not including it)."""
        seen: set[str] = set()
        stack = [node_id]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen

    def source_selectors(self, source: str) -> list[str]:
        """dbt selectors for everything downstream of a workbench source."""
        return [f"source:{uid.split('.', 2)[2]}+" for uid in self.dbt_sources.get(source, [])]

    def downstream_names(self, source: str) -> set[str]:
        """Names of the dbt nodes downstream of a workbench source."""
        return {self.nodes[n].name for n in self.downstream(f"source:{source}")
                if n in self.nodes}
