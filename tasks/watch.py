"""The daily watch: the catalog's concerns as Prefect events, which the automations notify."""

from __future__ import annotations

from prefect import task
from prefect.events import emit_event
from prefect.logging import get_run_logger

from icefloe.catalog import Catalog
from icefloe.watch import concerns
from tasks.common import STAGE, retry_if_transient, settings_for


@task(**STAGE, name="emit-concerns", retries=2, retry_delay_seconds=30, retry_condition_fn=retry_if_transient)
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
