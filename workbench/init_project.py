"""``workbench init``: a ``workbench.toml`` for a dbt project that already exists.

The project is parsed by dbt itself (as a run would: the workbench's profile, packages
installed), and each table its ``source()``s read becomes a ``[sources.<name>]`` entry whose
files the user points at. Only sources in one schema can be loaded (the loaders write one
raw schema): the schema most sources use becomes ``raw_schema``, and the others are listed as
comments, as the external inputs they stay. An existing ``workbench.toml`` is never touched.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

WAREHOUSE = "data/warehouse.duckdb"
LANDING = "data/landing"


@dataclass(frozen=True)
class InitResult:
    """What ``init`` wrote: the file, the dbt project, the sources to fill in, the others."""

    file: Path
    dbt_project: Path
    sources: tuple[str, ...]
    external: tuple[str, ...]

    def next_steps(self) -> str:
        lines = [f"wrote {self.file} for the dbt project in {self.dbt_project}: "
                 f"{len(self.sources)} source(s) to fill in"
                 + (f", {len(self.external)} left as external inputs" if self.external
                    else "")]
        steps = []
        if self.sources:
            steps.append(f"put each source's files under {LANDING}/<name>/ and set its path "
                         f"and format in workbench.toml ({', '.join(self.sources)})")
        steps += ["workbench run --dry-run     # what would load and build, and why",
                  "workbench run               # load, then dbt build, into " + WAREHOUSE]
        return "\n".join([*lines, "next:", *(f"  {i}. {s}" for i, s in enumerate(steps, 1))])


def find_dbt_project(start: Path, dbt: Path | None = None) -> Path:
    """The folder holding dbt_project.yml: ``dbt`` if given, else ``start`` or one folder
    below it."""
    if dbt is not None:
        if not (dbt / "dbt_project.yml").is_file():
            raise ConfigError(f"no dbt_project.yml in {dbt}: --dbt names the folder of a dbt "
                              f"project", path=str(dbt))
        return dbt.resolve()
    if (start / "dbt_project.yml").is_file():
        return start.resolve()
    below = sorted(p.parent for p in start.glob("*/dbt_project.yml"))
    if len(below) == 1:
        return below[0].resolve()
    found = f" (found {', '.join(map(str, below))}: choose one)" if below else ""
    raise ConfigError(f"no dbt_project.yml in {start}{found}. Run workbench init in the dbt "
                      f"project's folder, or give it: workbench init --dbt PATH",
                      path=str(start))


def init_project(root: Path, dbt: Path | None = None,
                 vars: dict[str, Any] | None = None) -> InitResult:
    """Write ``root/workbench.toml`` for the dbt project at ``dbt`` (found from ``root``
    when None). Raises ConfigError if the file exists or dbt cannot parse the project."""
    root = root.resolve()
    file = root / "workbench.toml"
    if file.exists():
        raise ConfigError(f"{file} already exists; workbench init never overwrites it. Edit "
                          f"it, or move it away and run workbench init again.", path=str(file))
    project = find_dbt_project(root, dbt)
    from .transform import DbtProject

    manifest = DbtProject(project, root / WAREHOUSE, state_dir=root / ".workbench",
                          log_dir=root / ".workbench" / "dbt-logs", vars=vars).manifest()
    tables = sorted({(s.schema, s.identifier or s.name, f"{s.source_name}.{s.name}")
                     for s in manifest.sources.values()})
    schemas = Counter(schema for schema, _, _ in tables)
    raw_schema = "raw" if not schemas or schemas["raw"] == max(schemas.values()) \
        else schemas.most_common(1)[0][0]
    loaded = [(name, label) for schema, name, label in tables if schema == raw_schema]
    external = [f"{schema}.{name}" for schema, name, _ in tables if schema != raw_schema]
    file.write_text(_toml(os.path.relpath(project, root), raw_schema, loaded, external, vars))
    return InitResult(file, project, tuple(n for n, _ in loaded), tuple(external))


def _toml(dbt_project: str, raw_schema: str, loaded: list[tuple[str, str]],
          external: list[str], vars: dict[str, Any] | None) -> str:
    lines = ["# Written by `workbench init` for an existing dbt project. See README.md,",
             '# "Configuration" and "Bringing your own dbt project", for every key.',
             "[workbench]", f'warehouse = "{WAREHOUSE}"', f'dbt_project = "{dbt_project}"',
             f'landing = "{LANDING}"']
    if raw_schema != "raw":
        lines.append(f'raw_schema = "{raw_schema}"     # the schema the sources below read')
    for name, label in loaded:
        source_call = "source('" + label.replace(".", "', '", 1) + "')"
        lines += ["", f"[sources.{name}]          # {source_call}",
                  'format = "csv"              # csv, parquet or json: what its files are',
                  f'# path = "{name}/*.csv"     # its files under {LANDING}/: fill in']
    if external:
        lines += ["", "# Read by the project, loaded by nothing here (external inputs, run "
                      "against what is there):"]
        lines += [f"#   {relation}" for relation in external]
    if vars:
        import json

        lines += ["", "[dbt]", f"vars = {_inline_table(json.loads(json.dumps(vars)))}"]
    return "\n".join(lines) + "\n"


def _inline_table(value: Any) -> str:
    """``value`` as TOML (vars are JSON-like: tables, arrays, strings, numbers, booleans)."""
    import json

    if isinstance(value, dict):
        items = ", ".join(f"{_key(str(k))} = {_inline_table(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline_table(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _key(key: str) -> str:
    import json

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
