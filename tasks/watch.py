"""The daily watch and the weekly summary: catalog facts as Prefect events, which the
automations notify."""

from __future__ import annotations

from prefect.events import emit_event
from prefect.logging import get_run_logger

from icefloe.catalog import Catalog
from icefloe.summary import Summary, weekly_summary
from icefloe.watch import concerns
from tasks.common import settings_for, stage

SUMMARY_EVENT = "icefloe.summary.weekly"


@stage(name="emit-concerns")
def emit_concerns_task(config: str | None = None) -> list[str]:
    settings = settings_for(config)
    logger = get_run_logger()
    with Catalog.open(settings.catalog_path) as catalog:
        found = concerns(catalog, settings)
    for concern in found:
        emit_event(
            event=concern.event,
            resource={"prefect.resource.id": f"icefloe.{concern.kind}.{concern.subject}",
                      "prefect.resource.name": concern.subject, "icefloe.partition": concern.partition},
            payload={"message": concern.message},
        )
        logger.warning(concern.message)
    return [f"{c.kind}: {c.subject}" for c in found]


@stage(name="emit-summary", task_run_name="weekly summary")
def emit_summary_task(config: str | None = None) -> Summary:
    """The weekly summary as one event, which the "icefloe: weekly summary" automation sends."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        found = weekly_summary(catalog, settings)
    emit_event(
        event=SUMMARY_EVENT,
        resource={"prefect.resource.id": "icefloe.summary.weekly", "prefect.resource.name": "weekly summary"},
        payload={"subject": found.subject, "message": found.body},
    )
    get_run_logger().info("%s\n%s", found.subject, found.body)
    return found
