"""Abort multipart uploads left open longer than a given age (weekly).

An upload a crash left behind is resumed by rerunning it, but one nobody reruns still costs
storage. This lists the open uploads of the configured vault or bucket and aborts those older
than `older_than_hours`; the table artifact `stale-uploads` lists what was aborted.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from flows.stages import names_failed_stage
from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from tasks.common import retry_if_transient, settings_for


@task(
    name="abort stale uploads",
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=30),
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,
)
def abort_stale_uploads_task(older_than_hours: float, config: str | None = None) -> list[dict[str, Any]]:
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        store = open_coldstore(settings.coldstore, catalog)
        aborted = store.abort_uploads_older_than(timedelta(hours=older_than_hours))
    rows = [asdict(u) for u in aborted]
    create_table_artifact(
        key="stale-uploads",
        table=rows or [{"upload_id": "-", "note": "no stale uploads"}],
        description=f"Uploads open longer than {older_than_hours} h, aborted",
    )
    return rows


@flow(name="cleanup-uploads", flow_run_name="cleanup uploads", description=__doc__)
@names_failed_stage
def cleanup_uploads(older_than_hours: float = 24, config: str | None = None) -> list[dict[str, Any]]:
    """Abort the multipart uploads open longer than ``older_than_hours``.

    Args:
        older_than_hours: age after which an open upload counts as abandoned.
        config: the icefloe.toml to use (default: $ICEFLOE_CONFIG, else ./icefloe.toml).
    """
    return abort_stale_uploads_task(older_than_hours, config)
