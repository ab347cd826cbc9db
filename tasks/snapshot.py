"""The catalog snapshot task: after every archive and clear, the catalog goes offsite too."""

from __future__ import annotations

from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from icefloe.catalog import Catalog
from icefloe.coldstore.snapshots import backup_catalog
from tasks.archive import archiving_password
from tasks.common import settings_for, stage


@stage(
    name="snapshot-catalog",
    task_run_name="snapshot catalog",
    cache_policy=NO_CACHE,  # the catalog as it is now, every time
)
def snapshot_catalog_task(config: str | None = None) -> str | None:
    """Seal the catalog with the archive password and keep it in cold storage; its name.

    None when ``coldstore.catalog_snapshots = false``.
    """
    settings = settings_for(config)
    if not settings.coldstore.catalog_snapshots:
        get_run_logger().info("catalog snapshots are off (coldstore.catalog_snapshots = false)")
        return None
    password = archiving_password(settings.archive)
    with Catalog.open(settings.catalog_path) as catalog:
        stored = backup_catalog(settings, catalog, password)
    get_run_logger().info("catalog snapshot %s stored (%d bytes)", stored.name, stored.size)
    return stored.name
