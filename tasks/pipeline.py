"""Tasks that join the stages: planning a run, reconciling inventories, filling and rotating."""

from __future__ import annotations

from dataclasses import asdict

from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from icefloe.archive.records import ArchivePlan, plan_archive
from icefloe.catalog import Catalog
from icefloe.confirmation import JobCounts, read_job, unread_jobs
from icefloe.partitions import FillCheck, hand_over_when_full
from tasks.common import artifact_key, catalog_and_store, settings_for, stage


@stage(name="plan archive", task_run_name="plan archive {label}", cache_policy=NO_CACHE)
def plan_archive_task(label: str, config: str | None = None) -> ArchivePlan:
    """What an archive run would do: files, bytes and the disc type; changes nothing."""
    plan = plan_archive(settings_for(config), label)
    create_table_artifact(key=artifact_key("archive-plan"), table=[asdict(plan)],
                          description=f"Dry run of archive {label}")
    return plan


@stage(name="reconcile inventory", task_run_name="reconcile {job_id}", cache_policy=NO_CACHE)
def reconcile_job_task(job_id: str, config: str | None = None) -> JobCounts:
    """Fetch a finished inventory job, compare it with the catalog, publish the differences.

    ``ready`` is False while the job still runs. Size or checksum mismatches fail the task
    loudly (they are never retried: the stored copy differs from the archive).
    """
    settings = settings_for(config)
    with catalog_and_store(settings) as (catalog, store):
        reading = read_job(store, catalog, job_id, settings.work_dir)
    counts = reading.counts()
    if not reading.ready:
        get_run_logger().info("inventory job %s is still running", job_id)
        return counts
    create_table_artifact(
        key=artifact_key("inventory-reconciliation"),
        table=reading.rows() or [{"archive": "-", "remote id": "-", "state": "empty", "why": ""}],
        description=counts.describe(),
    )
    reading.raise_on_problems()
    return counts


@stage(name="pending inventory jobs", cache_policy=NO_CACHE)
def pending_inventory_jobs_task(config: str | None = None) -> list[str]:
    """Inventory jobs of the configured vault or bucket not read yet: running, or finished
    (an S3 listing is finished as soon as it is requested)."""
    settings = settings_for(config)
    with catalog_and_store(settings) as (catalog, store):
        return unread_jobs(catalog, store.backend, store.container)


@stage(name="check fill level", cache_policy=NO_CACHE)
def check_fill_task(config: str | None = None) -> FillCheck:
    """The active partition's fill level; when over the threshold, the other becomes active
    and ``full`` names the one to archive (icefloe.partitions.hand_over_when_full)."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        check = hand_over_when_full(catalog, settings)
    stuck = check.full is None and check.fill >= settings.pipeline.fill_threshold
    (get_run_logger().warning if stuck else get_run_logger().info)(check.note)
    return check
