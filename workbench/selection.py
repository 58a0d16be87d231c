"""What a selection expression means: dbt's grammar, with the workbench's own kinds beside it.

dbt's grammar, exactly: space-separated terms are united, comma-separated atoms within a term
intersected, ``--exclude`` subtracted; an atom is ``[@][n+]method:value[+n]``. Every atom
dbt can read (a name, ``tag:``, ``path:``, ``source:``, ``config.``, ``state:``, ...) is
answered by dbt's own selector (``dbt ls`` on the warm manifest, one call per atom), with
its graph operators and the tests it adds (dbt's default, eager), so a dbt project's
selection picks the nodes ``dbt ls`` picks. The set algebra is done here, as dbt does it:
per atom, then union, intersection, difference.

The workbench's own kinds, which dbt cannot see, use method names dbt does not have:

    loader:events       the loader of a configured source (``loaders``: all of them)
    step:name, action:name, ``steps``, ``actions``
    model:x seed:x snapshot:x test:x   a node of that kind by name (``*`` and globs allowed)

and take the same operators on the workbench's graph (``loader:events+`` is the loader and
everything downstream of it, dbt nodes, steps and actions included). A dbt atom with an
unbounded ``+`` goes on across the steps and actions dbt cannot see. A bare name of a loader,
step or action that names no dbt node means that node. ``source:<loader>`` (the workbench's
meaning before it followed dbt) still means the loader when dbt's ``source:`` selects
nothing by that name, with a FutureWarning.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .graph import Graph

DbtLs = Callable[[str], list[str]]
# dbt's own atom grammar (dbt.graph.selector_spec.RAW_SELECTOR_PATTERN).
_ATOM = re.compile(r"^(?P<childrens_parents>@)?(?P<parents>(?P<parents_depth>\d*)\+)?"
                   r"(?:(?P<method>[\w.]+):)?(?P<value>.*?)"
                   r"(?P<children>\+(?P<children_depth>\d*))?$")
OWN_METHODS = {"loader": "source", "step": "step", "action": "action", "model": "model",
               "seed": "seed", "snapshot": "snapshot", "test": "test"}
OWN_PLURALS = {"loaders": "source", "steps": "step", "actions": "action"}
_LEGACY_PLURAL = "sources"      # the loaders, before dbt's meaning of source: was followed


@dataclass(frozen=True)
class Atom:
    """One ``[@][n+]method:value[+n]`` of an expression."""

    raw: str
    method: str
    value: str
    parents: bool = False
    parents_depth: int | None = None
    children: bool = False
    children_depth: int | None = None
    childrens_parents: bool = False

    @classmethod
    def parse(cls, raw: str) -> Atom:
        match = _ATOM.match(raw)
        if not match or not match["value"]:
            raise ConfigError(f"selection {raw!r} is not a selector: write "
                              f"[@][n+]method:value[+n], e.g. tag:nightly+", selection=raw)
        depth = (lambda d: int(d) if d else None)
        return cls(raw, match["method"] or "", match["value"],
                   bool(match["parents"]), depth(match["parents_depth"]),
                   bool(match["children"]), depth(match["children_depth"]),
                   bool(match["childrens_parents"]))

    @property
    def core(self) -> str:
        return f"{self.method}:{self.value}" if self.method else self.value


def select(graph: Graph, expression: str | None, exclude: str | None = None,
           dbt_ls: DbtLs | None = None) -> set[str]:
    """Node ids of ``graph`` that ``expression`` (every node when None) minus ``exclude``
    selects (module doc). Raises ConfigError naming an atom of ``expression`` that matches
    no node.
    """
    chosen = (_expression(graph, expression, dbt_ls, strict=True) if expression
              else set(graph.nodes))
    if exclude:
        chosen -= _expression(graph, exclude, dbt_ls, strict=False)
    return chosen


def _expression(graph: Graph, expression: str, dbt_ls: DbtLs | None, *, strict: bool
                ) -> set[str]:
    chosen: set[str] = set()
    for term in expression.split():
        sets = [_atom(graph, Atom.parse(raw), dbt_ls, strict) for raw in term.split(",") if raw]
        chosen |= set.intersection(*sets) if sets else set()
    return chosen


def _atom(graph: Graph, atom: Atom, dbt_ls: DbtLs | None, strict: bool) -> set[str]:
    own = _own_core(graph, atom, dbt_ls)
    if own is not None:
        found = _with_neighbours(graph, own, atom)
    elif dbt_ls is None:        # no dbt at hand (a graph of loaders alone, unit tests)
        found = _with_neighbours(graph, set(graph.find(atom.value)) if not atom.method
                                 else set(), atom)
    else:
        found = _across_steps(graph, graph.from_dbt(dbt_ls(atom.raw)), atom)
    if strict and not found:
        raise ConfigError(f"selection {atom.raw!r} matches no node of the graph. "
                          f"See wb.graph() for the nodes.", selection=atom.raw)
    return found


def _own_core(graph: Graph, atom: Atom, dbt_ls: DbtLs | None) -> set[str] | None:
    """The nodes an atom of the workbench's own kinds names (before operators), or None
    when the atom is dbt's to answer."""
    kinds = {n.kind for n in graph.nodes.values()}
    if atom.method in OWN_METHODS:
        kind = OWN_METHODS[atom.method]
        return {n.id for n in graph.nodes.values()
                if n.kind == kind and fnmatchcase(n.name, atom.value)}
    if not atom.method and atom.value in OWN_PLURALS:
        return {n.id for n in graph.nodes.values() if n.kind == OWN_PLURALS[atom.value]}
    dbt_names = {n.name for n in graph.nodes.values() if n.is_dbt}
    if not atom.method and atom.value not in dbt_names:
        own = {n.id for n in graph.nodes.values()
               if n.kind in ("source", "step", "action") and n.name == atom.value}
        if own:
            return own
    legacy_loaders = (atom.method == "source" and "source" in kinds) or \
        (not atom.method and atom.value == _LEGACY_PLURAL)
    if legacy_loaders:
        loaders = {n.id for n in graph.nodes.values() if n.kind == "source"
                   and (atom.value == _LEGACY_PLURAL or fnmatchcase(n.name, atom.value))}
        if loaders and not (dbt_ls and dbt_ls(atom.core)):     # dbt's meaning wins
            new = "loaders" if atom.value == _LEGACY_PLURAL else f"loader:{atom.value}"
            warnings.warn(f"selection {atom.core!r} means the workbench's loader; write "
                          f"{new!r} (source: now means dbt's source selector)",
                          FutureWarning, stacklevel=5)
            return loaders
    return None


def _with_neighbours(graph: Graph, core: set[str], atom: Atom) -> set[str]:
    """``core`` with the atom's graph operators applied on the workbench's graph, as dbt
    applies them on its own, and the tests of what that covers (dbt's eager rule)."""
    found = set(core)
    if atom.parents:
        found |= _walk(core, graph.parents, atom.parents_depth)
    if atom.children:
        found |= _walk(core, graph.children, atom.children_depth)
    if atom.childrens_parents:
        below = core | _walk(core, graph.children, None)
        found |= below | _walk(below, graph.parents, None)
    return found | _eager_tests(graph, found)


def _across_steps(graph: Graph, found: set[str], atom: Atom) -> set[str]:
    """dbt's answer for an atom, carried on across steps and actions (which dbt cannot
    see) when the atom walks without a depth limit."""
    added: set[str] = set()
    if atom.parents and atom.parents_depth is None:
        for node in [n for n in found if graph.nodes[n].kind in ("step", "action")]:
            added |= graph.upstream(node)
    if (atom.children and atom.children_depth is None) or atom.childrens_parents:
        for node in list(found):
            for child in graph.children[node] - found:
                if graph.nodes[child].kind in ("step", "action"):
                    added |= {child} | graph.downstream(child)
    added -= found
    return found | added | _eager_tests(graph, added)


def _eager_tests(graph: Graph, ids: set[str]) -> set[str]:
    return {child for node in ids for child in graph.children[node]
            if graph.nodes[child].kind == "test"}


def _walk(start: set[str], links: dict[str, set[str]], depth: int | None) -> set[str]:
    seen: set[str] = set()
    frontier, level = set(start), 0
    while frontier and (depth is None or level < depth):
        frontier = {nxt for node in frontier for nxt in links.get(node, ())} - seen
        seen |= frontier
        level += 1
    return seen
