"""Poll the inventory jobs the catalog records and reconcile each finished one with the catalog.

Runs hourly. A vault inventory lags uploads by about a day, so while any copy in the configured
vault or bucket is not yet confirmed, a new inventory is requested once the pending ones are
done. For S3 a listing with HEAD stands in for the inventory: it is finished when requested,
so it is read in the same run. Copies left in a vault or bucket no longer configured are
reported, never polled for. Missing archives, unknown archives and size or checksum mismatches
are published as the table artifact `inventory-reconciliation`, and a mismatch fails the run
loudly. `icefloe inventory reconcile` does the same by hand.
"""

from __future__ import annotations

from prefect import flow
from prefect.logging import get_run_logger

from flows.stages import names_failed_stage
from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from icefloe.confirmation import InventoryPoll, unconfirmed, unconfirmed_elsewhere
from tasks.common import settings_for
from tasks.jobs import request_inventory_task
from tasks.pipeline import pending_inventory_jobs_task, reconcile_job_task


def unconfirmed_copies(config: str | None, *, elsewhere: bool = False) -> int:
    """Copies in the configured vault or bucket (``elsewhere``: in any other) not yet confirmed."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        store = open_coldstore(settings.coldstore, catalog)
        pick = unconfirmed_elsewhere if elsewhere else unconfirmed
        return len(pick(catalog, store.backend, store.container))


@flow(name="poll-inventory", flow_run_name="poll inventory", description=__doc__)
@names_failed_stage
def poll_inventory(config: str | None = None) -> InventoryPoll:
    """Reconcile finished inventory jobs; request another while copies are unconfirmed.

    Args:
        config: the icefloe.toml to use (default: $ICEFLOE_CONFIG, else ./icefloe.toml).
    """
    results = [reconcile_job_task(job_id, config) for job_id in pending_inventory_jobs_task(config)]
    still_running = [r.job for r in results if not r.ready]
    requested = None
    if not still_running and unconfirmed_copies(config):
        requested = request_inventory_task(config)
        results.append(reconcile_job_task(requested, config))  # an S3 listing is finished at once
    elsewhere = unconfirmed_copies(config, elsewhere=True)
    if elsewhere:
        get_run_logger().warning(
            "%d copies are in a vault or bucket no longer configured and stay unconfirmed; "
            "they are not polled for", elsewhere)
    return InventoryPoll(
        reconciled=tuple(r for r in results if r.ready),
        running=tuple(r.job for r in results if not r.ready),
        requested=requested,
        elsewhere=elsewhere,
    )
