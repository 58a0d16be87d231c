"""dbt, run in process through its programmatic runner.

dbt's start-up (imports, adapter plugins, parsing) is most of a small build, so this module
keeps what it can warm for the life of the process: the imports, and the parsed manifest,
reused for as long as the project's files are unchanged (``fingerprint``). dbt is imported
only here and only when needed, so the rest of the package loads without it.

(Named ``transform``, never ``dbt_*.py``: dbt imports every such top-level module as a plugin.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import deps
from .errors import ConfigError
from .failing_rows import runnable_query
from .graph import dbt_kind
from .node_keys import definition_keys
from .profile import WarehouseProfile, read_yaml, write_profile
from .project_files import project_files
from .results import NodeResult

log = logging.getLogger(__name__)

_STATUS = {"success": "success", "pass": "success", "error": "error", "fail": "fail",
           "warn": "warn", "skipped": "skipped", "runtime error": "error"}
_KINDS = {"model", "seed", "snapshot", "test"}   # unit tests are "test" (graph.dbt_kind)
_invoke_lock = threading.Lock()   # dbt's runner keeps global state: one invocation at a time
_BUILT_TYPES = {"model", "seed", "snapshot", "test", "unit_test"}   # what a build runs
# Per-call work a warm process does not need, each left out unless the user sets dbt's own
# environment variable for it (dbt then reads that instead): a debug-level log file of
# every event and statement (warnings and errors are still written), and after each
# invocation but the parse a rewrite of target/manifest.json and run_results.json (the
# parse writes the manifest; the ledger keeps the results).
_LEAN = {"DBT_LOG_LEVEL_FILE": ("--log-level-file", "warn"),
         "DBT_WRITE_JSON": ("--no-write-json",)}


class DbtProject:
    """One dbt project, run against one warehouse file whatever its profile says
    (``workbench.profile``), with its packages installed and the run's vars.

    ``vars`` may be set between runs (``wb.run(vars=...)``): a change re-parses the project
    (vars can enable nodes) and changes every node's definition key.
    """

    def __init__(self, project_dir: Path, warehouse: Path, *, target: str | None = None,
                 log_dir: Path | None = None, state_dir: Path | None = None,
                 vars: dict[str, Any] | None = None) -> None:
        self.project_dir = Path(project_dir)
        self.warehouse = Path(warehouse)
        self.target = target
        self.vars: dict[str, Any] = dict(vars or {})
        self.log_dir = log_dir or self.project_dir / "logs"
        self.profile_dir = (state_dir or self.project_dir / ".workbench") / "dbt-profile"
        self.profile: WarehouseProfile | None = None
        self._context = ""
        self._manifest: Any = None
        self._manifest_fingerprint: str | None = None
        self._parsing = threading.Lock()    # one parse at a time (runs parse in a thread)
        self._fingerprint_stamp: tuple = ()
        self._fingerprint = ""
        self._keys: tuple[Any, dict[str, str]] | None = None
        self._pins = 0                      # runs under way that pinned the files (pinned())
        self._pinned: str | None = None
        if not (self.project_dir / "dbt_project.yml").is_file():
            raise ConfigError(
                f"no dbt project at {self.project_dir} (dbt_project.yml missing). Set "
                f"dbt_project in workbench.toml to the folder that holds dbt_project.yml.",
                path=str(self.project_dir))

    def fingerprint(self) -> str:
        """A hash of what defines the project's build: every file dbt reads (the project,
        its installed and ``local:`` packages: ``workbench.project_files``), the profile's
        target and the vars (the project's and the run's).

        A run asks several times (plan, graph, each build); the files are re-read only when
        a file's size or modification time, or the vars, changed since the last hash, and
        not looked at again at all while the run has them ``pinned()``.
        """
        if self._pinned is not None:
            return self._pinned
        files = project_files(self.project_dir)
        stamp = (_json(self.vars), *((label, *_size_and_mtime(p)) for label, p in files))
        if stamp != self._fingerprint_stamp:
            self.profile = write_profile(self.project_dir, self.warehouse, self.profile_dir,
                                         self.target)
            self._context = _json({
                "profile": self.profile.key, "vars": self.vars,
                "project_vars": read_yaml(self.project_dir / "dbt_project.yml").get("vars")})
            digest = hashlib.sha256(self._context.encode())   # no paths: a moved project
            for label, path in files:                         # is the same project
                digest.update(label.encode())
                digest.update(path.read_bytes())
            self._fingerprint_stamp, self._fingerprint = stamp, digest.hexdigest()
        if self._pins:
            self._pinned = self._fingerprint
        return self._fingerprint

    @contextlib.contextmanager
    def pinned(self):
        """The project's files as they are when a run starts, for the length of the run.

        ``fingerprint()`` then looks at the files once, not at every plan, build and record
        (each look lists and stats the project's files and parses its YAML: ~25 ms), and a
        file edited while a run is under way is seen by the next run, not by half of this
        one (its plan and its builds read the same manifest).
        """
        self._pins += 1
        try:
            yield self
        finally:
            self._pins -= 1
            if not self._pins:
                self._pinned = None

    def shares_warehouse(self) -> bool:
        """Whether dbt-duckdb opens the warehouse with DuckDB's default configuration, so
        that it may share this process's open instance of the file
        (``Warehouse.held_open``). A profile's ``config_options`` or plugins give dbt's
        connection a configuration of its own, which DuckDB refuses for an open file; its
        ``attach`` list: on a shared instance, a model built into an attached database was
        not found by the models reading it (tests/test_dbt_fidelity.py)."""
        if self.profile is None:
            self.fingerprint()              # writes the profile and its key
        output = json.loads(self.profile.key).get("output", {})
        return not any(output.get(key) for key in ("config_options", "plugins", "attach"))

    def manifest(self) -> Any:
        """The parsed manifest, re-parsed only when the project's files changed."""
        with self._parsing:
            return self._parsed()

    def _parsed(self) -> Any:
        fingerprint = self.fingerprint()
        if self._manifest is None or fingerprint != self._manifest_fingerprint:
            started = time.perf_counter()
            if deps.missing(self.project_dir):      # as `dbt deps` would, by itself
                deps.ensure_installed(self.project_dir, self._invoke)
                fingerprint = self.fingerprint()
            result = self._invoke(["parse"])
            if not result.success:
                hint = (" Give it with [dbt] vars in workbench.toml, wb.run(vars={...}) or "
                        "workbench run --vars '{...}'." if "Required var" in
                        str(result.exception) else "")
                raise ConfigError(f"dbt could not parse {self.project_dir}: "
                                  f"{result.exception}{hint}", path=str(self.project_dir))
            self._manifest, self._manifest_fingerprint = result.result, fingerprint
            log.info("parsed dbt project in %.2fs", time.perf_counter() - started)
        return self._manifest

    def definition_keys(self) -> dict[str, str]:
        """Each dbt node's definition key (``definition_keys``), for the current manifest."""
        manifest = self.manifest()
        if self._keys is None or self._keys[0] is not manifest:
            self._keys = (manifest, definition_keys(manifest, self._context))
        return self._keys[1]

    def views(self) -> frozenset[str]:
        """Unique ids of the models built as plain views: no hooks, no enforced contract.

        New data in what such a view reads needs no rebuild of it: DuckDB binds a view's
        query when the view is read (``select *`` picks up a new column), not when it is
        created. So the scheduler passes new data through them (``Plan.passthrough``).
        """
        manifest = self.manifest()
        return frozenset(
            uid for uid, node in manifest.nodes.items()
            if dbt_kind(node.resource_type) == "model"
            and getattr(node.config, "materialized", None) == "view"
            and not getattr(node.config, "pre_hook", None)
            and not getattr(node.config, "post_hook", None)
            and not getattr(getattr(node.config, "contract", None), "enforced", False))

    def build(self, select: Sequence[str] = (), *, exact: bool = False,
              full_refresh: bool = False) -> list[NodeResult]:
        """``dbt build`` of ``select`` (everything when empty); one NodeResult per node.

        ``exact``: run only the nodes named, no tests dbt would add by itself (the workbench
        schedules tests as nodes of its own graph).
        """
        args = ["build"]
        manifest = _fresh_compilation_state(self.manifest())
        if select:
            args += ["--select", *(_by_type_if_all(manifest, select) if exact else select)]
        if exact:
            args += ["--indirect-selection", "empty"]
        if full_refresh:
            args.append("--full-refresh")
        result = self._invoke(args, manifest=manifest)
        if result.result is None or not hasattr(result.result, "results"):
            return [NodeResult("dbt build", "dbt", "error",
                               message=f"dbt failed before building: {result.exception}")]
        database = self.warehouse.stem       # the name dbt-duckdb gives the warehouse
        return [_unless_elsewhere(_node_result(r), r.node, database)
                for r in result.result.results if dbt_kind(r.node.resource_type) in _KINDS]

    def ls(self, selector: str, exclude: str | None = None) -> list[str]:
        """Unique ids of the nodes a dbt selector picks (``marts``, ``tag:x``, ...), less
        those ``exclude`` picks: what ``dbt ls --select ... --exclude ...`` lists."""
        excluding = ["--exclude", exclude] if exclude else []
        result = self._invoke(["ls", "--select", selector, *excluding, "--output", "json",
                               "--output-keys", "unique_id"], manifest=self.manifest())
        if not result.success:
            raise ConfigError(f"dbt cannot read the selection {selector!r}: "
                              f"{result.exception}", selection=selector)
        return [json.loads(line)["unique_id"] for line in result.result or ()]

    def _invoke(self, args: list[str], *, manifest: Any = None):
        from dbt.cli.main import dbtRunner

        _discover_plugins_once()
        if self.profile is None:
            self.fingerprint()              # writes the profile dbt gets
        full = [*args, "--project-dir", str(self.project_dir), *self.profile.cli_args,
                "--log-path", str(self.log_dir),
                "--quiet", "--log-level", "none", "--no-use-colors", "--no-version-check",
                *_lean_flags(args[0])]
        if self.vars:
            full += ["--vars", _json(self.vars)]    # dbt's CLI reads YAML, and JSON is YAML
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



def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _size_and_mtime(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _by_type_if_all(manifest: Any, names: Sequence[str]) -> list[str]:
    """``names``, or the resource types a build runs when they name every node of them.

    The same selection, found faster: dbt matches each name against every node (for a batch
    of the sample's ~100 nodes, ~20,000 comparisons, a tenth of a second or more), each
    resource type once.
    """
    present: dict[str, set[str]] = {}
    for node in (*manifest.nodes.values(), *getattr(manifest, "unit_tests", {}).values()):
        kind = str(getattr(node.resource_type, "value", node.resource_type))
        if kind in _BUILT_TYPES and getattr(node.config, "materialized", "") != "ephemeral":
            present.setdefault(kind, set()).add(node.name)
    if present and set().union(*present.values()) <= set(names):
        return [f"resource_type:{kind}" for kind in sorted(present)]
    return list(names)


_plugin_modules: dict[tuple[str, ...], dict[str, Any]] = {}   # sys.path -> dbt_* modules


def _discover_plugins_once() -> None:
    """Let dbt find its plugin modules once per process, not at every invocation.

    At each invocation dbt lists every module on ``sys.path`` for ``dbt_*`` plugins
    (``PluginManager.get_prefixed_modules``): 0.1-0.3 s of a warm invocation's ~0.6 s, with
    the same answer every time. The answer is kept for as long as ``sys.path`` is the same
    (a plugin installed meanwhile could not be imported without a new path entry anyway).
    Invocations hold ``_invoke_lock``, so the cache needs no lock of its own.
    """
    from dbt.plugins.manager import PluginManager

    discover = PluginManager.__dict__["get_prefixed_modules"].__func__
    if getattr(discover, "workbench_cached", False):
        return

    def get_prefixed_modules(cls) -> dict[str, Any]:
        key = tuple(sys.path)
        if key not in _plugin_modules:
            _plugin_modules.clear()
            _plugin_modules[key] = discover(cls)
        return dict(_plugin_modules[key])

    get_prefixed_modules.workbench_cached = True
    PluginManager.get_prefixed_modules = classmethod(get_prefixed_modules)


def _lean_flags(command: str) -> list[str]:
    """``_LEAN``'s flags for ``command``, but for those the user's environment decides."""
    return [flag for variable, flags in _LEAN.items() if variable not in os.environ
            and not (command == "parse" and variable == "DBT_WRITE_JSON") for flag in flags]


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


def _unless_elsewhere(result: NodeResult, node: Any, database: str) -> NodeResult:
    """Say so when dbt wrote the node into another database than the warehouse (a model
    configured with ``database=`` an attached file): the workbench reads only the
    warehouse, so ``wb.table()`` and the catalogue will not see it."""
    written = getattr(node, "database", None)
    if result.kind == "test" or result.failed or not written or written == database:
        return result
    from dataclasses import replace

    note = (f"written to database {written!r}, not the warehouse {database!r} the workbench "
            f"reads: wb.table() and wb.tables() do not see it (the project or its profile "
            f"sets database={written!r} for it)")
    return replace(result, message=f"{result.message}\n{note}" if result.message else note)
