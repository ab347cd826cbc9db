"""Poll the inventory jobs the catalog records and reconcile each finished one with the catalog.

Runs hourly. A vault inventory lags uploads by about a day, so while any stored archive is not
yet confirmed, a new inventory is requested once the pending ones are done. Missing archives,
unknown archives and size or checksum mismatches are published as the table artifact
`inventory-reconciliation`, and a mismatch fails the run loudly. For S3 a listing with HEAD
stands in for the inventory and completes at once.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from icefloe.catalog import INVENTORY_SEEN, Catalog
from tasks.common import settings_for
from tasks.jobs import request_inventory_task
from tasks.pipeline import pending_inventory_jobs_task, reconcile_job_task


def unconfirmed_copies(config: str | None) -> int:
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        count = 0
        for copy in catalog.copies():
            check = catalog.latest_verification(f"archive:{copy.archive_name}", INVENTORY_SEEN)
            count += check is None or not check.ok
        return count


@flow(name="poll-inventory", flow_run_name="poll inventory", description=__doc__)
def poll_inventory(config: str | None = None) -> dict[str, Any]:
    """Reconcile finished inventory jobs; request another while copies are unconfirmed.

    Args:
        config: the icefloe.toml to use (default: $ICEFLOE_CONFIG, else ./icefloe.toml).
    """
    results = [reconcile_job_task(job_id, config) for job_id in pending_inventory_jobs_task(config)]
    still_running = [r["job"] for r in results if not r["ready"]]
    requested = None
    if not still_running and unconfirmed_copies(config):
        requested = request_inventory_task(config)
    return {"reconciled": [r for r in results if r["ready"]], "running": still_running, "requested": requested}
