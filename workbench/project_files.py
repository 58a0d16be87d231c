"""The files that define what a dbt project builds, for its fingerprint.

The project folder (but dbt's own output: target/, logs/), the packages installed in
``dbt_packages``, and ``local:`` packages wherever they live: a macro edited in a package
outside the project folder must rebuild the models that call it, as dbt would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from . import deps

_SKIP_DIRS = {"target", "logs", "__pycache__", ".git"}


def project_files(project_dir: Path) -> list[tuple[str, Path]]:
    """(label, path) of every file that defines the project, sorted; labels carry no
    absolute path, so a moved project keeps its fingerprint."""
    project_dir = Path(project_dir)
    packages = deps.install_dir(project_dir)
    files = [(str(p.relative_to(project_dir)), p)
             for p in _walk(project_dir, skip={packages})]
    if packages.is_dir():        # symlinked local packages are not followed: see below
        files += [(f"{packages.name}/{p.relative_to(packages)}", p) for p in _walk(packages)]
    for folder in deps.local_dirs(project_dir):
        if folder.is_dir() and not folder.is_relative_to(project_dir.resolve()):
            files += [(f"local:{folder.name}/{p.relative_to(folder)}", p)
                      for p in _walk(folder, skip={folder / "dbt_packages"})]
    return sorted(files)


def _walk(top: Path, skip: set[Path] = frozenset()) -> Iterator[Path]:
    for folder, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")
                   and Path(folder) / d not in skip]
        for name in names:
            if not name.startswith("."):
                yield Path(folder) / name
