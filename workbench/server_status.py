"""The old home of server status, kept so that ``workbench.server_status.read`` and its
types stay importable: the code now lives in ``workbench.service.status`` (reading) and
``workbench.display.server`` (showing)."""

from __future__ import annotations

from .service.record import ServiceRecord as ServiceFile
from .service.record import read as service_file
from .service.status import (DeploymentInfo, FlowRunInfo, PoolInfo, ServerStatus,
                             WorkerInfo, read)

__all__ = ["DeploymentInfo", "FlowRunInfo", "PoolInfo", "ServerStatus", "ServiceFile",
           "WorkerInfo", "read", "service_file"]
