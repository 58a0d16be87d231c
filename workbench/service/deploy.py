"""What ``workbench serve`` deploys: one deployment per flow (one load per source), their
event triggers and schedule, their names and tags.

Names end with ``@<project>`` and every deployment carries the tag
``workbench-project:<project>``, so projects sharing one Prefect server keep their
deployments apart and ``wb.server()`` shows only its own. Prefect is imported when the
deployments are declared, not when their names are asked for (``wb.server()`` needs only
the names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import (FILE_ARRIVED, PROJECT_LABEL, SOURCE_LABEL, SOURCE_LOADED, SOURCE_STALE,
                     resource_id)

if TYPE_CHECKING:
    from ..config import WorkbenchConfig

TAG = "workbench"                       # on every deployment the service registers
BUILD_DEPLOYMENT = "build-downstream"
FRESHNESS_DEPLOYMENT = "check-freshness"
ANSWER_DEPLOYMENT = "answer-stale"


def deployment_name(config: WorkbenchConfig, name: str) -> str:
    """``load-events@sales``: projects sharing a server keep their deployments apart."""
    return f"{name}@{config.project}"


def project_tag(config: WorkbenchConfig) -> str:
    """The tag on every deployment of this project (``wb.server()`` filters on it)."""
    return f"workbench-project:{config.project}"


def deployments(config: WorkbenchConfig, *, triggered: bool = True) -> list:
    """The deployments the service registers, with their event triggers.

    ``triggered=False``: the load and build-downstream deployments carry no triggers (they
    stay for manual runs from the UI), because the serve process runs each batch of
    arrivals itself (``warm.py``); with them, their automations would run every arrival a
    second time, in fresh processes."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.events import DeploymentEventTrigger
    from prefect.schedules import Interval
    from prefect.types.entrypoint import EntrypointType

    from . import flows
    from .catchup import ANCHOR

    root = str(config.root)
    ours = {PROJECT_LABEL: config.project}
    common = {"tags": [TAG, project_tag(config)], "entrypoint_type": EntrypointType.MODULE_PATH}
    from_event = {"root": root, "source": f"{{{{ event.resource['{SOURCE_LABEL}'] }}}}"}
    # One run of a source at a time; a second trigger waits for the first (ENQUEUE).
    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy="ENQUEUE")
    declared = []
    for source in config.sources:
        declared.append(flows.load_source.to_deployment(
            name=deployment_name(config, f"load-{source.name}"),
            parameters={"root": root, "source": source.name},
            triggers=[DeploymentEventTrigger(
                name=f"workbench: {source.name} file arrived", expect={FILE_ARRIVED},
                match={"prefect.resource.id": resource_id(source.name), **ours},
                parameters={"root": root, "source": source.name})] if triggered else [],
            description=f"Load new files of source {source.name} into the warehouse.",
            concurrency_limit=one_at_a_time, **common))
    declared.append(flows.build_downstream.to_deployment(
        name=deployment_name(config, BUILD_DEPLOYMENT), parameters={"root": root},
        triggers=[DeploymentEventTrigger(
            name="workbench: source loaded", expect={SOURCE_LOADED},
            match={"prefect.resource.id": resource_id("*"), **ours},
            parameters=from_event)] if triggered else [],
        description="Build what is downstream of a source that just loaded new data "
                    f"(default: of {flows.ALL_STALE}).",
        concurrency_limit=one_at_a_time, **common))
    declared.append(flows.check_freshness.to_deployment(
        name=deployment_name(config, FRESHNESS_DEPLOYMENT), parameters={"root": root},
        # On a fixed anchor: a restart does not move the next check (serve also checks
        # when it starts).
        schedule=Interval(config.service.freshness_every, anchor_date=ANCHOR),
        # One at a time; checks that fell due while nobody served them are dropped, not run
        # all at once when serving starts again.
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy="CANCEL_NEW"),
        description="Compare every source with its SLA; emit workbench.source.stale.",
        **common))
    answered = [s.name for s in config.sources if config.stale_answers(s.name)]
    declared.append(flows.answer_stale.to_deployment(
        name=deployment_name(config, ANSWER_DEPLOYMENT), parameters={"root": root},
        triggers=[DeploymentEventTrigger(
            name="workbench: source stale", expect={SOURCE_STALE},
            match={"prefect.resource.id": [resource_id(name) for name in answered], **ours},
            parameters=from_event)] if answered else [],
        description="Answer a stale source as [service] on_stale says: reload, notify, run.",
        **common))
    return declared
