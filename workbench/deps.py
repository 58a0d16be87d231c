"""dbt packages: which a project declares, whether they are installed, and the files that
define them (so an edit in a ``local:`` package outside the project rebuilds its users).

``dbt deps`` runs by itself only when packages are missing, by dbt's own test (fewer
installed than declared) or a ``local:`` package not yet linked: installed packages are
never fetched again, so a project that has its packages runs offline, and ``local:``
packages install without a network at all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .profile import read_yaml

PACKAGE_FILES = ("dependencies.yml", "packages.yml")


def declared(project_dir: Path) -> list[dict[str, Any]]:
    """The ``packages:`` entries of dependencies.yml or packages.yml (dbt reads one)."""
    for name in PACKAGE_FILES:
        packages = read_yaml(project_dir / name).get("packages")
        if packages:
            return [p for p in packages if isinstance(p, dict)]
    return []


def install_dir(project_dir: Path) -> Path:
    """Where dbt installs packages (``packages-install-path``, default dbt_packages)."""
    project = read_yaml(project_dir / "dbt_project.yml")
    return project_dir / str(project.get("packages-install-path", "dbt_packages"))


def local_dirs(project_dir: Path) -> list[Path]:
    """The folders of ``local:`` packages, resolved against the project folder."""
    return [(project_dir / str(p["local"])).resolve() for p in declared(project_dir)
            if "local" in p]


def missing(project_dir: Path) -> list[str]:
    """What is declared but not installed (empty when ``dbt deps`` has nothing to do)."""
    packages = declared(project_dir)
    folder = install_dir(project_dir)
    installed = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    lost = [f"local package {d}" for d in local_dirs(project_dir)
            if _package_name(d) not in installed]
    if len(installed) < len(packages):
        lost += [f"{len(packages) - len(installed)} of {len(packages)} declared package(s)"]
    return lost


def ensure_installed(project_dir: Path, invoke: Callable[[list[str]], Any]) -> None:
    """Run ``dbt deps`` (through ``invoke``) when packages are missing; ConfigError saying
    what to do when it cannot (a hub or git package with no network)."""
    lost = missing(project_dir)
    if not lost:
        return
    result = invoke(["deps"])
    if not result.success:
        raise ConfigError(
            f"{project_dir}: dbt packages are declared but not installed ({'; '.join(lost)}), "
            f"and `dbt deps` failed: {result.exception}. Run `dbt deps` in {project_dir} "
            f"where the network is (it installs into {install_dir(project_dir).name}/), "
            f"then run again.", path=str(project_dir))


def _package_name(folder: Path) -> str:
    return str(read_yaml(folder / "dbt_project.yml").get("name", folder.name))
