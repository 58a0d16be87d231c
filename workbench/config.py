"""Project configuration: frozen dataclasses read from ``workbench.toml``.

Defaults follow convention so a small project needs only its sources listed::

    [workbench]
    warehouse = "data/warehouse.duckdb"   # the file dbt and the loaders write
    dbt_project = "dbt"                   # any dbt-duckdb project, with profiles.yml inside
    landing = "data/landing"              # raw files, one folder per source

    [sources.events]
    path = "events/*.parquet"             # glob under landing
    format = "parquet"                    # csv | parquet | json
    mode = "append"                       # append | replace
    warn_after = "1d"                     # freshness SLA (used by wb.freshness())

    [steps.classify_messages]             # Python steps and actions: StepConfig, see
    function = "package.module:function"  # workbench.steps for what the function gets

    [dbt]
    vars = { start_date = "2024-01-01" }  # passed to every dbt invocation as --vars

Environment variables with the prefix ``WORKBENCH_`` override the ``[workbench]`` table
(``WORKBENCH_WAREHOUSE``, ``WORKBENCH_DBT_PROJECT``, ``WORKBENCH_LANDING``,
``WORKBENCH_DBT_TARGET``), so one checkout can run against another warehouse unchanged.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError

CONFIG_FILE = "workbench.toml"
FORMATS = ("csv", "parquet", "json")
MODES = ("append", "replace")
BAD_ROWS = ("fail", "quarantine")     # a file with a bad row: rejected whole, or rows set aside
# What the service may do when a source is past its SLA: load it again (the files may have
# arrived without the watcher seeing them), write an alert through the delivery channel, or
# run a selection of the pipeline ("run:export_user_engagement").
STALE_ANSWERS = ("reload", "notify")
RUN_ANSWER = "run:"
_MAIN_KEYS = ("warehouse", "dbt_project", "landing", "dbt_target", "raw_schema", "lock_timeout",
              "name")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class SourceConfig:
    """One landing source: a folder of files that becomes the table ``raw.<name>``."""

    name: str                       # also the raw table name; a plain identifier
    path: str                       # glob under the landing folder, e.g. "events/*.parquet"
    format: Literal["csv", "parquet", "json", "custom"]
    mode: Literal["append", "replace"] = "append"   # replace: the table is rebuilt from all files
    primary_key: tuple[str, ...] = ()               # documented for dbt tests; not enforced on load
    options: dict[str, Any] = field(default_factory=dict)  # passed to DuckDB's reader
    warn_after: timedelta | None = None    # freshness SLA; None means not checked
    error_after: timedelta | None = None
    reader: str | None = None       # "module:function" or "file.py:function": a reader of
                                    # your own, read(con, path, options, types) -> relation
    on_stale: tuple[str, ...] | None = None     # the service's answers; None: [service]'s
    on_bad_rows: Literal["fail", "quarantine"] = "fail"   # quarantine (CSV): good rows load,
                                    # bad ones go to _workbench.rejects with line and error


@dataclass(frozen=True)
class StepConfig:
    """``[steps.<name>]`` or ``[actions.<name>]``: a Python function in the graph (see
    ``workbench.steps`` for what the function gets and returns)."""

    name: str
    kind: str                       # "step" or "action"
    function: str                   # "package.module:function" or "path/file.py:function"
    inputs: tuple[str, ...]         # dbt model names (or other steps' outputs)
    output: str | None = None       # steps only: the table written in schema `steps`
    options: dict[str, Any] = field(default_factory=dict)
    version: str = "1"              # bump to invalidate caches keyed on the step's logic


@dataclass(frozen=True)
class ServiceConfig:
    """``[service]``: how ``workbench serve`` checks freshness and answers a stale source."""

    freshness_every: timedelta = timedelta(minutes=10)  # the scheduled check's interval
    on_stale: tuple[str, ...] = ("reload", "notify")    # see STALE_ANSWERS
    notify_to: str = "data-team@localhost"              # who "notify" writes to
    notify: dict[str, Any] = field(default_factory=lambda: {"delivery": "outbox"})
    # The project's local Prefect server stops itself after this long without a flow run;
    # None ("0") keeps it until `workbench server stop`.
    server_idle: timedelta | None = timedelta(hours=2)
    # `workbench serve` merges a source's files landing within this of each other into one load.
    debounce: timedelta = timedelta(seconds=0.3)


@dataclass(frozen=True)
class WorkbenchConfig:
    """Everything the workbench needs to know about one project, paths resolved."""

    root: Path
    warehouse: Path
    dbt_project: Path
    landing: Path
    sources: tuple[SourceConfig, ...]
    steps: tuple[StepConfig, ...] = ()      # Python steps between dbt layers
    actions: tuple[StepConfig, ...] = ()    # Python actions after dbt
    raw_schema: str = "raw"         # where loaders write; dbt sources point here
    dbt_target: str | None = None   # None: the profile's default target
    lock_timeout: float = 600.0     # seconds a run waits for another run's write lock
    service: ServiceConfig = field(default_factory=ServiceConfig)
    name: str = ""                  # the project on a shared Prefect server; "" -> folder name
    dbt_vars: dict[str, Any] = field(default_factory=dict)  # [dbt] vars: dbt's --vars, each run

    @property
    def project(self) -> str:
        """The project's name where several share one Prefect server: ``[workbench] name``,
        else the folder's name, in letters, digits, ``-`` and ``_``."""
        return re.sub(r"[^A-Za-z0-9_-]+", "-", self.name or self.root.name).strip("-") or "project"

    def stale_answers(self, source: str) -> tuple[str, ...]:
        """What the service does when ``source`` goes past its SLA."""
        own = self.source(source).on_stale
        return self.service.on_stale if own is None else own

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"no source named {name!r} in {self.root / CONFIG_FILE}; "
                          f"configured sources: {known}", source=name)

    @property
    def published(self) -> Path:
        """The read-only snapshot readers open (see warehouse.py for why it exists)."""
        return self.warehouse.with_name(self.warehouse.stem + ".published.duckdb")

    @property
    def state_dir(self) -> Path:
        """Per-project scratch space: Prefect home, dbt logs, locks."""
        return self.root / ".workbench"


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` that holds a ``workbench.toml``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(
        f"no {CONFIG_FILE} found in {here} or any folder above it. Run the workbench from a "
        f"project folder, or pass its path: Workbench('path/to/project').", path=str(here))


def load_config(root: Path | str | None = None) -> WorkbenchConfig:
    """Read and validate ``workbench.toml`` under ``root`` (found from the cwd if None)."""
    root = find_root(Path(root) if root else None)
    file = root / CONFIG_FILE
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}", path=str(file)) from exc
    main = dict(_table(data, "workbench", file, "[workbench]"))
    unknown = set(main) - set(_MAIN_KEYS)
    if unknown:
        raise ConfigError(f"{file} [workbench]: unknown keys {sorted(unknown)}; known: "
                          f"{', '.join(_MAIN_KEYS)}", key=sorted(unknown)[0])
    for key in ("warehouse", "dbt_project", "landing", "dbt_target"):
        if value := os.environ.get(f"WORKBENCH_{key.upper()}"):
            main[key] = value
    for key in ("warehouse", "dbt_project", "landing", "dbt_target", "raw_schema", "name"):
        if key in main:
            _require_string(main[key], f"{file} [workbench]", key)
    sources = tuple(_source(name, spec, file)
                    for name, spec in _table(data, "sources", file, "[sources.<name>]").items())
    steps = tuple(_step(name, spec, "step", file)
                  for name, spec in _table(data, "steps", file, "[steps.<name>]").items())
    actions = tuple(_step(name, spec, "action", file)
                    for name, spec in _table(data, "actions", file, "[actions.<name>]").items())
    raw_schema = main.get("raw_schema", "raw")
    _require_identifier(raw_schema, "raw_schema", file)
    return WorkbenchConfig(
        root=root,
        warehouse=_path(root, main.get("warehouse", "data/warehouse.duckdb")),
        dbt_project=_path(root, main.get("dbt_project", "dbt")),
        landing=_path(root, main.get("landing", "data/landing")),
        sources=sources,
        steps=steps,
        actions=actions,
        raw_schema=raw_schema,
        dbt_target=main.get("dbt_target"),
        lock_timeout=_seconds(main.get("lock_timeout", 600), f"{file} [workbench]",
                              "lock_timeout"),
        service=_service(data.get("service", {}), file),
        name=main.get("name", ""),
        dbt_vars=_dbt_vars(data.get("dbt", {}), file),
    )


def parse_duration(text: str | int | float | None, *, where: str = "") -> timedelta | None:
    """``"90s"``, ``"15m"``, ``"12h"``, ``"2d"``, ``"1w"`` or a number of seconds."""
    if text is None:
        return None
    if isinstance(text, (int, float)):
        return timedelta(seconds=text)
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"{where}: cannot read duration {text!r}; write e.g. '30m', '12h' "
                          f"or '2d'", value=text)
    return timedelta(**{_UNITS[match[2]]: float(match[1])})


def _source(name: str, spec: Any, file: Path) -> SourceConfig:
    where = f"{file} [sources.{name}]"
    _require_identifier(name, "source name", file)
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: must be a table with at least path and format", source=name)
    unknown = set(spec) - {"path", "format", "mode", "primary_key", "options",
                           "warn_after", "error_after", "reader", "on_stale", "on_bad_rows"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}", source=name)
    for key in ("path", "reader"):
        if key in spec:
            _require_string(spec[key], where, key)
    fmt = spec.get("format") or ("custom" if spec.get("reader") else
                                 _guess_format(spec.get("path", "")))
    if fmt == "custom" and not spec.get("reader"):
        raise ConfigError(f"{where}: format 'custom' needs reader = 'module:function'",
                          source=name)
    if fmt not in (*FORMATS, "custom"):
        raise ConfigError(f"{where}: format must be one of {FORMATS}, not {fmt!r}", source=name)
    _require_confined(spec.get("path"), where, name)
    on_bad_rows = spec.get("on_bad_rows", "fail")
    if on_bad_rows not in BAD_ROWS or (on_bad_rows == "quarantine" and fmt != "csv"):
        raise ConfigError(f"{where}: on_bad_rows must be one of {BAD_ROWS}, and 'quarantine' "
                          f"needs format = 'csv' (DuckDB keeps rejected rows aside only when "
                          f"reading CSV), not {on_bad_rows!r} with {fmt!r}", source=name)
    mode = spec.get("mode", "append")
    if mode not in MODES:
        raise ConfigError(f"{where}: mode must be one of {MODES}, not {mode!r}", source=name)
    return SourceConfig(
        name=name,
        path=spec.get("path") or f"{name}/*",
        format=fmt,
        mode=mode,
        primary_key=_strings(spec.get("primary_key", ()), where, "primary_key"),
        options=_options(spec.get("options", {}), where),
        warn_after=parse_duration(spec.get("warn_after"), where=f"{where} warn_after"),
        error_after=parse_duration(spec.get("error_after"), where=f"{where} error_after"),
        reader=spec.get("reader"),
        on_stale=(_answers(spec["on_stale"], where) if "on_stale" in spec else None),
        on_bad_rows=on_bad_rows,
    )


def _require_confined(glob: str | None, where: str, name: str) -> None:
    """A source's glob is relative to the landing folder and stays inside it: an absolute
    path or a ``..`` part could load any file the process can read (``/etc/passwd``)."""
    if glob and (Path(glob).is_absolute() or ".." in Path(glob).parts):
        raise ConfigError(f"{where}: path {glob!r} must be a glob under the landing folder, "
                          f"e.g. \"{name}/*.csv\" (no absolute path, no '..')", source=name,
                          key="path", value=glob)


def _service(spec: Any, file: Path) -> ServiceConfig:
    where = f"{file} [service]"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: must be a table", path=str(file))
    unknown = set(spec) - {"freshness_every", "on_stale", "notify_to", "notify", "server_idle",
                           "debounce"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}", path=str(file))
    default = ServiceConfig()
    every = parse_duration(spec.get("freshness_every", default.freshness_every.total_seconds()),
                           where=f"{where} freshness_every")
    if every.total_seconds() < 1:
        raise ConfigError(f"{where}: freshness_every must be at least 1s, not "
                          f"{spec.get('freshness_every')!r}", path=str(file))
    notify = spec.get("notify", default.notify)
    if not isinstance(notify, dict):
        raise ConfigError(f"{where}: notify must be a table, e.g. notify = "
                          f"{{ delivery = \"outbox\" }}", path=str(file))
    return ServiceConfig(freshness_every=every,
                         on_stale=_answers(spec.get("on_stale", default.on_stale), where),
                         notify_to=str(spec.get("notify_to", default.notify_to)),
                         notify=dict(notify),
                         server_idle=_idle(spec.get("server_idle", default.server_idle), where),
                         debounce=parse_duration(spec.get("debounce", 0.3),
                                                 where=f"{where} debounce"))   # 300 ms


def _dbt_vars(spec: Any, file: Path) -> dict[str, Any]:
    """``[dbt] vars``: the project's vars for dbt (a run's own vars are laid over them)."""
    where = f"{file} [dbt]"
    if not isinstance(spec, dict) or set(spec) - {"vars"}:
        raise ConfigError(f"{where}: must be a table with only vars = {{ name = value }}",
                          path=str(file))
    values = spec.get("vars", {})
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: vars must be a table, e.g. vars = {{ start_date = "
                          f"\"2024-01-01\" }}, not {values!r}", key="vars", value=values)
    return dict(values)


def _idle(value: Any, where: str) -> timedelta | None:
    """``server_idle``: a duration, or 0 for never."""
    if value is None or isinstance(value, timedelta):
        return value
    idle = parse_duration(value, where=f"{where} server_idle")
    return idle if idle.total_seconds() > 0 else None


def _answers(value: Any, where: str) -> tuple[str, ...]:
    answers = (value,) if isinstance(value, str) else tuple(value)
    for answer in answers:
        if not isinstance(answer, str) or answer not in STALE_ANSWERS and not (
                answer.startswith(RUN_ANSWER) and answer.removeprefix(RUN_ANSWER).strip()):
            raise ConfigError(f"{where}: on_stale answer {answer!r} must be one of "
                              f"{', '.join(STALE_ANSWERS)}, {RUN_ANSWER}<selection>",
                              value=answer)
    return answers


def _step(name: str, spec: Any, kind: str, file: Path) -> StepConfig:
    where = f"{file} [{kind}s.{name}]"
    _require_identifier(name, f"{kind} name", file)
    if not isinstance(spec, dict) or "function" not in spec:
        raise ConfigError(f"{where}: needs function = 'module:function'", step=name)
    unknown = set(spec) - {"function", "inputs", "output", "options", "version"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}", step=name)
    _require_string(spec["function"], where, "function")
    output = spec.get("output")
    if kind == "step":
        output = output or name
        _require_identifier(output, f"{kind} output", file)
    elif output:
        raise ConfigError(f"{where}: actions write no table; remove output", step=name)
    return StepConfig(name=name, kind=kind, function=spec["function"],
                      inputs=_strings(spec.get("inputs", ()), where, "inputs"),
                      output=output, options=_options(spec.get("options", {}), where),
                      version=str(spec.get("version", "1")))


def _guess_format(path: str) -> str | None:
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"csv": "csv", "tsv": "csv", "parquet": "parquet", "json": "json",
            "jsonl": "json", "ndjson": "json"}.get(suffix)


def _table(data: dict, key: str, file: Path, example: str) -> dict:
    """``[key]`` (empty if absent), which must be a table."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{file}: {key} must be a table, e.g. {example}", path=str(file),
                          key=key)
    return value


def _require_string(value: Any, where: str, key: str) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string, not {value!r}", key=key,
                          value=value)


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    """A string or a list of strings, as a tuple."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where}: {key} must be a string or a list of strings, not "
                          f"{value!r}", key=key, value=value)
    return tuple(values)


def _options(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: options must be a table, e.g. options = "
                          f"{{ header = true }}, not {value!r}", key="options", value=value)
    return dict(value)


def _seconds(value: Any, where: str, key: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not seconds >= 0:
        raise ConfigError(f"{where}: {key} must be a number of seconds >= 0, not {value!r}",
                          key=key, value=value)
    return seconds


def _require_identifier(value: str, what: str, file: Path) -> None:
    if not IDENTIFIER.match(value):
        raise ConfigError(f"{file}: {what} {value!r} must be a plain identifier "
                          f"(letters, digits, underscore)", value=value)


def _path(root: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else root / path
