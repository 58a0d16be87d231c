"""``.workbench/service.json``: what a running ``workbench serve`` says about itself (its
Prefect server, pid, work pool), so that ``workbench status`` and ``wb.server()`` in other
processes find the server, and a second ``serve`` of the same project is refused.

The one module that knows this file. It is written atomically (a reader never sees half of
it), counts only while the process it names is alive (a service killed hard leaves it
behind), and is removed only by the process that wrote it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import WorkbenchConfig

FILE_NAME = "service.json"       # under .workbench/ while `workbench serve` runs


@dataclass(frozen=True)
class ServiceRecord:
    """``.workbench/service.json``: what a running ``workbench serve`` says about itself."""

    api_url: str
    pid: int
    started_at: datetime | None     # UTC
    pool: str | None                # the work pool its deployments run on; None: in process


def path(config: WorkbenchConfig) -> Path:
    return config.state_dir / FILE_NAME


def write(config: WorkbenchConfig, api_url: str, pool: str | None) -> ServiceRecord:
    """Say that this process serves the project, on ``api_url``."""
    record = ServiceRecord(api_url=api_url, pid=os.getpid(), pool=pool,
                           started_at=datetime.now(timezone.utc))
    target = path(config)
    partial = target.with_suffix(".part")
    partial.write_text(json.dumps({"api_url": record.api_url, "pid": record.pid,
                                   "pool": record.pool,
                                   "started_at": record.started_at.isoformat()}))
    partial.replace(target)
    return record


def read(config: WorkbenchConfig) -> ServiceRecord | None:
    """The running ``workbench serve``'s record, or None: no file, unreadable, or its
    process has gone."""
    try:
        data = json.loads(path(config).read_text())
        record = ServiceRecord(api_url=str(data["api_url"]), pid=int(data["pid"]),
                               started_at=_utc(data.get("started_at")),
                               pool=data.get("pool") or None)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if alive(record.pid) else None


def remove(config: WorkbenchConfig) -> None:
    """Remove the record if this process wrote it; another service's record stays."""
    if (record := read(config)) is not None and record.pid == os.getpid():
        path(config).unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (on this machine). A zombie does not: killed, it waits
    for a parent to reap it, which a container's init may never do."""
    if pid <= 0:            # 0 and negatives name process groups, not a process
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True         # someone else's process, alive
    except OSError:
        return False
    try:                    # "pid (name) S ...": the state follows the name's last ")"
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:         # no /proc (macOS): kill's answer stands
        return True
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X")


def _utc(value: object) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
