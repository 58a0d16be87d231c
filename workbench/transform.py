"""dbt, run in process through its programmatic runner.

dbt's start-up (imports, adapter plugins, parsing) is most of a small build, so this module
keeps what it can warm for the life of the process: the imports, and the parsed manifest,
reused for as long as the project's files are unchanged (``fingerprint``). dbt is imported
only here and only when needed, so the rest of the package loads without it.

(Named ``transform``, never ``dbt_*.py``: dbt imports every such top-level module as a plugin.)
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .failing_rows import runnable_query
from .graph import dbt_kind
from .results import NodeResult

log = logging.getLogger(__name__)

_SKIP_DIRS = {"target", "logs", "dbt_packages", "__pycache__", ".git"}
_STATUS = {"success": "success", "pass": "success", "error": "error", "fail": "fail",
           "warn": "warn", "skipped": "skipped", "runtime error": "error"}
_KINDS = {"model", "seed", "snapshot", "test"}
_invoke_lock = threading.Lock()   # dbt's runner keeps global state: one invocation at a time


class DbtProject:
    """One dbt project, its profile kept in the repo, run against one warehouse file."""

    def __init__(self, project_dir: Path, warehouse: Path, *, target: str | None = None,
                 log_dir: Path | None = None) -> None:
        self.project_dir = Path(project_dir)
        self.warehouse = Path(warehouse)
        self.target = target
        self.log_dir = log_dir or self.project_dir / "logs"
        self._manifest: Any = None
        self._manifest_fingerprint: str | None = None
        self._fingerprint_stamp: tuple = ()
        self._fingerprint = ""
        self._keys: tuple[Any, dict[str, str]] | None = None
        if not (self.project_dir / "dbt_project.yml").is_file():
            raise ConfigError(
                f"no dbt project at {self.project_dir} (dbt_project.yml missing). Set "
                f"dbt_project in workbench.toml to the folder that holds dbt_project.yml.",
                path=str(self.project_dir))
        if not (self.project_dir / "profiles.yml").is_file():
            raise ConfigError(
                f"{self.project_dir} has no profiles.yml. The workbench keeps the dbt profile "
                f"in the repo (never in ~/.dbt): add one whose path reads "
                f"{{{{ env_var('WORKBENCH_WAREHOUSE') }}}}.", path=str(self.project_dir))

    def fingerprint(self) -> str:
        """A hash of every file dbt reads from the project, to know when it changed.

        A run asks several times (plan, graph, each build); the files are re-read only when
        a file's size or modification time changed since the last hash.
        """
        files = sorted(self._project_files())
        stamp = tuple((str(p), *_size_and_mtime(p)) for p in files)
        if stamp != self._fingerprint_stamp:
            digest = hashlib.sha256(f"{self.target}".encode())   # no paths: a moved project
            for path in files:                                   # is the same project
                digest.update(str(path.relative_to(self.project_dir)).encode())
                digest.update(path.read_bytes())
            self._fingerprint_stamp, self._fingerprint = stamp, digest.hexdigest()
        return self._fingerprint

    def manifest(self) -> Any:
        """The parsed manifest, re-parsed only when the project's files changed."""
        fingerprint = self.fingerprint()
        if self._manifest is None or fingerprint != self._manifest_fingerprint:
            started = time.perf_counter()
            result = self._invoke(["parse"])
            if not result.success:
                raise ConfigError(f"dbt could not parse {self.project_dir}: "
                                  f"{result.exception}", path=str(self.project_dir))
            self._manifest, self._manifest_fingerprint = result.result, fingerprint
            log.info("parsed dbt project in %.2fs", time.perf_counter() - started)
        return self._manifest

    def definition_keys(self) -> dict[str, str]:
        """Each dbt node's definition key (``definition_keys``), for the current manifest."""
        manifest = self.manifest()
        if self._keys is None or self._keys[0] is not manifest:
            self._keys = (manifest, definition_keys(manifest, self.target))
        return self._keys[1]

    def build(self, select: Sequence[str] = (), *, exact: bool = False,
              full_refresh: bool = False) -> list[NodeResult]:
        """``dbt build`` of ``select`` (everything when empty); one NodeResult per node.

        ``exact``: run only the nodes named, no tests dbt would add by itself (the workbench
        schedules tests as nodes of its own graph).
        """
        args = ["build"]
        if select:
            args += ["--select", *select]
        if exact:
            args += ["--indirect-selection", "empty"]
        if full_refresh:
            args.append("--full-refresh")
        manifest = _fresh_compilation_state(self.manifest())
        result = self._invoke(args, manifest=manifest)
        if result.result is None or not hasattr(result.result, "results"):
            return [NodeResult("dbt build", "dbt", "error",
                               message=f"dbt failed before building: {result.exception}")]
        return [_node_result(r) for r in result.result.results
                if dbt_kind(r.node.resource_type) in _KINDS]

    def ls(self, selector: str) -> list[str]:
        """Unique ids of the nodes a dbt selector picks (``marts``, ``tag:x``, ...)."""
        import json

        result = self._invoke(["ls", "--select", selector, "--output", "json",
                               "--output-keys", "unique_id"], manifest=self.manifest())
        if not result.success:
            raise ConfigError(f"dbt cannot read the selection {selector!r}: "
                              f"{result.exception}", selection=selector)
        return [json.loads(line)["unique_id"] for line in result.result or ()]

    def _invoke(self, args: list[str], *, manifest: Any = None):
        from dbt.cli.main import dbtRunner

        full = [*args, "--project-dir", str(self.project_dir),
                "--profiles-dir", str(self.project_dir), "--log-path", str(self.log_dir),
                "--quiet", "--log-level", "none", "--no-use-colors", "--no-version-check"]
        if self.target:
            full += ["--target", self.target]
        with _invoke_lock:
            previous = os.environ.get("WORKBENCH_WAREHOUSE")
            os.environ["WORKBENCH_WAREHOUSE"] = str(self.warehouse)
            try:
                return dbtRunner(manifest=manifest).invoke(full)
            finally:
                _release_duckdb()
                if previous is None:
                    os.environ.pop("WORKBENCH_WAREHOUSE", None)
                else:
                    os.environ["WORKBENCH_WAREHOUSE"] = previous

    def _project_files(self):
        for folder, dirs, files in os.walk(self.project_dir):
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
            for name in files:
                if not name.startswith("."):
                    yield Path(folder) / name


def definition_keys(manifest: Any, target: str | None = None) -> dict[str, str]:
    """unique_id -> a hash of everything that defines what a node builds or checks.

    A node's key covers its own code and file checksum (a seed's file), the relation it
    writes (schema macros included), its config, a
    generic test's arguments, the macros it calls (and the macros those call), dbt's
    version and the target, and the keys of its parents (models, seeds, snapshots and
    sources). So editing one model changes the key of that model and of everything
    downstream of it, a macro change reaches its users, and nothing else moves. New *data*
    is not in the key: the scheduler follows loads through the graph.
    """
    base = f"{getattr(manifest.metadata, 'dbt_version', '')}\0{target}"
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
    return {uid: key for uid, key in keys.items() if uid in manifest.nodes}


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def _size_and_mtime(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _release_duckdb() -> None:
    """Close the DuckDB connection dbt-duckdb caches between invocations.

    Kept, it would keep this process's DuckDB instance of the warehouse alive after the
    run's write lock is released, so another process's run could meet DuckDB's own file
    lock ("Conflicting lock") instead of waiting its turn on ours. Reopening costs
    milliseconds.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:      # another adapter: nothing of ours to release
        return
    with DuckDBConnectionManager._LOCK:
        environment, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if environment is not None:
        environment.close()


def _fresh_compilation_state(manifest: Any) -> Any:
    """Let a reused manifest compile again. dbt marks nodes whose ephemeral CTEs it injected
    (``extra_ctes_injected``) and would not inject them a second time, so the next build of
    anything reading an ephemeral model fails with "__dbt__cte__... does not exist"."""
    for node in manifest.nodes.values():
        if getattr(node, "extra_ctes_injected", False):
            node.extra_ctes_injected = False
            node.extra_ctes = []
            if hasattr(node, "_pre_injected_sql"):
                node._pre_injected_sql = None
    return manifest


def _node_result(result: Any) -> NodeResult:
    node = result.node
    kind = dbt_kind(node.resource_type)
    status = _STATUS.get(str(getattr(result.status, "value", result.status)).lower(), "error")
    message = result.message
    failures = getattr(result, "failures", None)
    compiled = None
    if kind == "test" and status in ("fail", "warn", "error"):
        if failures is not None and status != "error":
            message = f"test {node.name} {status}ed: {failures} failing row(s) ({message})"
        compiled = runnable_query(getattr(node, "compiled_code", None),
                                  getattr(node, "database", None))
        if compiled:
            message = f"{message}\nQuery for the failing rows:\n{compiled.strip()}"
    if status == "success" and kind != "test":
        message = None   # dbt's "OK" / "INSERT 16" adds nothing a person needs
    relation = None if kind == "test" else f"{node.schema}.{node.alias}"
    return NodeResult(
        name=node.name, kind=kind, status=status,
        seconds=float(result.execution_time or 0.0), message=message or None,
        failures=failures if kind == "test" else None, relation=relation,
        query=compiled)
