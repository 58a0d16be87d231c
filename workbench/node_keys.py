"""Each dbt node's definition key: what decides whether a node must be built again.

Pure functions over dbt's parsed manifest (``transform.DbtProject.definition_keys`` caches
them per manifest); the ledger keeps the key each node was last built with.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .graph import dbt_kind


def definition_keys(manifest: Any, context: str | None = "") -> dict[str, str]:
    """unique_id -> a hash of everything that defines what a node builds or checks.

    A node's key covers its own code and file checksum (a seed's file), the relation it
    writes (schema macros included), its config, a
    generic test's arguments, the macros it calls (and the macros those call, in packages
    too), dbt's version, ``context`` (the profile's target and the vars: a var can change
    any node, and dbt does not say which) and the keys of its parents (models, seeds,
    snapshots and sources). A unit test's key covers its fixtures and its model's key. So
    editing one model changes the key of that model and of everything downstream of it, a
    macro change reaches its users, and nothing else moves. New *data* is not in the key:
    the scheduler follows loads through the graph.
    """
    base = f"{getattr(manifest.metadata, 'dbt_version', '')}\0{context}"
    macros: dict[str, str] = {}
    keys: dict[str, str] = {}

    def macro_key(uid: str, seen: frozenset = frozenset()) -> str:
        if uid not in macros:
            macro = manifest.macros.get(uid)
            if macro is None or uid in seen:
                return uid
            called = sorted(macro_key(m, seen | {uid}) for m in macro.depends_on.macros)
            macros[uid] = _digest(base, macro.macro_sql, *called)
        return macros[uid]

    def node_key(uid: str) -> str:
        if uid not in keys:
            if uid in manifest.sources:
                source = manifest.sources[uid]
                keys[uid] = _digest(base, source.schema, source.identifier or source.name)
                return keys[uid]
            node = manifest.nodes.get(uid)
            if node is None:
                return uid
            test = getattr(node, "test_metadata", None)
            keys[uid] = _digest(
                base, dbt_kind(node.resource_type), node.raw_code or "",
                getattr(node, "relation_name", None) or "",
                getattr(getattr(node, "checksum", None), "checksum", ""),
                _json(node.config.to_dict()), _json(test.to_dict() if test else None),
                *sorted(macro_key(m) for m in node.depends_on.macros),
                *sorted(node_key(p) for p in getattr(node.depends_on, "nodes", ())))
        return keys[uid]

    for uid in manifest.nodes:
        node_key(uid)
    for uid, unit in getattr(manifest, "unit_tests", {}).items():
        definition = {k: v for k, v in unit.to_dict().items() if k != "created_at"}
        keys[uid] = _digest(base, "unit_test", _json(definition),
                            *sorted(node_key(p) for p in unit.depends_on.nodes))
    return {uid: key for uid, key in keys.items()
            if uid in manifest.nodes or uid.startswith("unit_test.")}


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
