"""The service's Prefect events: their names, the resource they are about, and emitting one.

Every event is about one source of one project: resource ``workbench.source.<name>``,
labelled ``workbench.project`` so that projects sharing a Prefect server trigger only their
own deployments (``deploy.py`` matches on both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import WorkbenchConfig

FILE_ARRIVED = "workbench.file.arrived"      # the watcher saw a complete new file
SOURCE_LOADED = "workbench.source.loaded"    # a load brought new rows
SOURCE_STALE = "workbench.source.stale"      # a source has just gone past its SLA
RESOURCE_PREFIX = "workbench.source."
SOURCE_LABEL = "workbench.source"            # the source's plain name, for trigger parameters
PROJECT_LABEL = "workbench.project"


def resource(config: WorkbenchConfig, source: str) -> dict[str, str]:
    """The Prefect event resource of a source: ``workbench.source.<name>``, labelled with
    its project so that triggers answer only their own project's events."""
    return {"prefect.resource.id": resource_id(source), "prefect.resource.name": source,
            SOURCE_LABEL: source, PROJECT_LABEL: config.project}


def resource_id(source: str) -> str:
    """``workbench.source.events``; ``*`` matches every source in a trigger."""
    return f"{RESOURCE_PREFIX}{source}"


def source_of(value: str) -> str:
    """A source's name from a trigger parameter, whether it is the name or the resource id."""
    return value.removeprefix(RESOURCE_PREFIX)


def emit(event: str, config: WorkbenchConfig, source: str, payload: dict[str, Any]) -> bool:
    """Emit ``event`` about ``source`` to the Prefect server in the current settings; False
    when Prefect did not take it (events are off, or no server to send them to)."""
    from prefect.events import emit_event

    return emit_event(event, resource=resource(config, source), payload=payload) is not None
