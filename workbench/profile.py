"""The dbt profile the workbench hands dbt: the project's own, pointed at the warehouse.

dbt writes wherever its profile's ``path`` says, and the workbench reads only its warehouse.
So the workbench never lets the profile choose: it reads the project's profile where the dbt
CLI would find it (``profiles.yml`` in the dbt project folder, else ``$DBT_PROFILES_DIR``,
else ``~/.dbt``), keeps every setting of the target (threads, extensions, settings, attach,
plugins, ``env_var()`` calls left for dbt to render), replaces its ``path`` with the
warehouse, and writes that one profile to ``.workbench/dbt-profile/profiles.yml``. Every dbt
invocation then gets ``--profiles-dir`` there with ``--profile`` and ``--target`` named, so a
profile whose path points elsewhere, a profile name missing from profiles.yml, or no
profiles.yml at all all build into the warehouse. The project's files are never edited.

Why a written profile rather than the ``WORKBENCH_WAREHOUSE`` variable alone: a variable
reaches only profiles written to read it; ``--target-path`` moves dbt's artifacts, not its
database. A target that is not DuckDB is a ConfigError: the loaders, steps and readers all
work on the one DuckDB file, so a PostgreSQL build would never be seen.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_PROFILE = "workbench"       # the name used when dbt_project.yml names none
DEFAULT_TARGET = "warehouse"
DEFAULT_OUTPUT = {"type": "duckdb", "threads": 4}


@dataclass(frozen=True)
class WarehouseProfile:
    """The profile written for dbt: where it is, which profile and target to name."""

    profiles_dir: Path
    profile: str
    target: str
    key: str            # the target's settings but its path: part of every node's key
    origin: str         # where the settings came from, for messages

    @property
    def cli_args(self) -> list[str]:
        return ["--profiles-dir", str(self.profiles_dir), "--profile", self.profile,
                "--target", self.target]


def write_profile(project_dir: Path, warehouse: Path, out_dir: Path,
                  target: str | None = None) -> WarehouseProfile:
    """Write the profile dbt gets (only when its text changed) and say how to name it.

    Raises ConfigError when the chosen target is not a DuckDB one, or is not in the profile.
    """
    name = _project_profile_name(project_dir) or DEFAULT_PROFILE
    file, profiles = _find_profiles(project_dir)
    profile = profiles.get(name) if isinstance(profiles, dict) else None
    if not isinstance(profile, dict) or not isinstance(profile.get("outputs"), dict):
        output, target, origin = dict(DEFAULT_OUTPUT), target or DEFAULT_TARGET, (
            f"a default DuckDB profile (no profile {name!r} in "
            f"{file or 'profiles.yml, $DBT_PROFILES_DIR or ~/.dbt'})")
    else:
        target = target or _render(profile.get("target", "dev"), file)
        outputs = profile["outputs"]
        if target not in outputs:
            raise ConfigError(
                f"{file}: profile {name!r} has no target {target!r}; its targets: "
                f"{', '.join(outputs)}. Set dbt_target in workbench.toml to one of them.",
                path=str(file))
        output, origin = dict(outputs[target]), f"target {target!r} of profile {name!r} in {file}"
        kind = _render(output.get("type", ""), file)
        if kind != "duckdb":
            raise ConfigError(
                f"{origin} is type {kind!r}: the workbench builds into its DuckDB warehouse "
                f"{warehouse} and reads only that. Name a duckdb target with dbt_target in "
                f"workbench.toml (dbt's CLI can still use {target!r}).", path=str(file))
    key = json.dumps({"profile": name, "target": target,
                      "output": {k: v for k, v in output.items() if k != "path"}},
                     sort_keys=True, default=str)
    output["path"] = str(Path(warehouse).resolve())
    text = json.dumps({name: {"target": target, "outputs": {target: output}}},
                      indent=2, default=str)       # JSON is YAML, and needs no yaml writer
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "profiles.yml"
    if not path.is_file() or path.read_text() != text:
        temporary = path.with_name(f".profiles.{os.getpid()}.tmp")
        temporary.write_text(text)
        temporary.replace(path)            # another process may read it meanwhile
    return WarehouseProfile(out_dir, name, target, key, origin)


def _project_profile_name(project_dir: Path) -> str | None:
    value = read_yaml(project_dir / "dbt_project.yml").get("profile")
    return str(value) if value else None


def _find_profiles(project_dir: Path) -> tuple[Path | None, dict]:
    """profiles.yml where the dbt CLI run from the project folder would find it."""
    folders = [project_dir]
    if os.environ.get("DBT_PROFILES_DIR"):
        folders.append(Path(os.environ["DBT_PROFILES_DIR"]))
    folders.append(Path.home() / ".dbt")
    for folder in folders:
        file = folder / "profiles.yml"
        if file.is_file():
            return file, read_yaml(file)
    return None, {}


def read_yaml(file: Path) -> dict[str, Any]:
    """A YAML file as a dict ({} when absent); ConfigError naming it when unreadable."""
    if not file.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML: {error}", path=str(file)) from error
    return data if isinstance(data, dict) else {}


def _render(value: Any, file: Path | None) -> str:
    """A profile value as dbt reads it: ``{{ env_var('X', 'default') }}`` rendered."""
    text = str(value)
    if "{{" not in text:
        return text
    import jinja2

    def env_var(name: str, default: str | None = None) -> str:
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise ConfigError(f"{file}: env_var({name!r}) is not set and has no default",
                              path=str(file))
        return default

    return jinja2.Environment().from_string(text).render(env_var=env_var).strip()
