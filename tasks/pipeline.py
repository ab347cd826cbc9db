"""Tasks that join the stages: planning a run, reconciling inventories, filling and rotating."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from icefloe.archive.scan import scan_partition
from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from icefloe.confirmation import read_job, unread_jobs
from icefloe.errors import GateNotMet, UsageError
from icefloe.lifecycle import live_set
from icefloe.partitions import active_partition, capacity_bytes, fill_level, rotate
from tasks.common import artifact_key, settings_for, stage


@stage(name="plan archive", task_run_name="plan archive {label}", cache_policy=NO_CACHE)
def plan_archive_task(label: str, config: str | None = None) -> dict[str, Any]:
    """What an archive run would do: files, bytes and the disc type; changes nothing."""
    settings = settings_for(config)
    part = settings.partition(label)
    entries = scan_partition(part.path, sentinel=part.sentinel, compression=settings.archive.compression)
    files = [e for e in entries if e.kind == "file"]
    total = sum(e.size for e in files)
    stored = sum(e.size for e in files if getattr(e, "method", "") == "copy")
    plan = {
        "partition": label,
        "files": len(files),
        "bytes": total,
        "stored_as_is_bytes": stored,
        "disc": settings.archive.disc,
        "burner": settings.archive.burner,
        "backend": settings.coldstore.backend,
        "container": settings.coldstore.vault
        if settings.coldstore.backend == "glacier"
        else settings.coldstore.bucket,
    }
    create_table_artifact(key=artifact_key("archive-plan"), table=[plan], description=f"Dry run of archive {label}")
    return plan


@stage(
    name="reconcile inventory",
    task_run_name="reconcile {job_id}",
    cache_policy=NO_CACHE,
)
def reconcile_job_task(job_id: str, config: str | None = None) -> dict[str, Any]:
    """Fetch a finished inventory job, compare it with the catalog, publish the differences.

    Returns counts; ``ready`` is False while the job still runs. Size or checksum mismatches
    fail the task loudly (they are never retried: the stored copy differs from the archive).
    """
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        reading = read_job(open_coldstore(settings.coldstore, catalog), catalog, job_id, settings.work_dir)
    if not reading.ready:
        get_run_logger().info("inventory job %s is still running", job_id)
        return reading.summary()
    counts = reading.summary()
    create_table_artifact(
        key=artifact_key("inventory-reconciliation"),
        table=reading.rows() or [{"archive": "-", "remote id": "-", "state": "empty", "why": ""}],
        description=f"Inventory {job_id[:16]}: {counts['seen']} confirmed, {counts['mismatched']} "
        f"mismatched, {counts['missing']} missing, {counts['pending']} pending, {counts['unknown']} unknown",
    )
    reading.raise_on_problems()
    return counts


@stage(name="pending inventory jobs", cache_policy=NO_CACHE)
def pending_inventory_jobs_task(config: str | None = None) -> list[str]:
    """Inventory jobs of the configured vault or bucket not read yet: running, or finished
    (an S3 listing is finished as soon as it is requested)."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        store = open_coldstore(settings.coldstore, catalog)
        return unread_jobs(catalog, store.backend, store.container)


@stage(name="check fill level", cache_policy=NO_CACHE)
def check_fill_task(config: str | None = None) -> dict[str, Any]:
    """The active partition's fill level; when over the threshold, the other becomes active.

    Returns {"active", "fill", "full": label or None}. ``full`` names a partition only when it
    handed over to another one and holds no live set: a partition that stays active (rotation
    refused) keeps taking data and is not archived, however many nights it stays full.
    """
    settings = settings_for(config)
    logger = get_run_logger()
    with Catalog.open(settings.catalog_path) as catalog:
        label = active_partition(catalog, settings)
        part = settings.partition(label)
        level = fill_level(part.path, capacity_bytes(part))
        full = None
        if level >= settings.pipeline.fill_threshold:
            try:
                label = rotate(catalog, settings, part.label)
            except (GateNotMet, UsageError) as exc:
                logger.warning("%s is full but stays active, so it is not archived yet: %s", label, exc.message)
            else:
                full = part.label
                running = live_set(catalog, full)
                if running is not None:
                    logger.info("%s is full and already being archived (%s)", full, running.name)
                    full = None
    logger.info("active partition %s; fill %.0f%%%s", label, 100 * level,
                f"; {full} is full and goes to archiving" if full else "")
    return {"active": label, "fill": level, "full": full}
