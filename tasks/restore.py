"""Restore tasks: plan and request retrievals, wait for a job, download a volume, extract a set,
rebuild the catalog.

Each is one library call (icefloe.restore) plus retries for transient trouble, artifacts and
a log line; they take strings and return the library's records (VolumeNeed, ExtractReport,
RebuildResult) or a path. Downloads resume from their journal, so a retried download task
fetches only the ranges it lacks.
"""

from __future__ import annotations

from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from icefloe.catalog import Catalog
from icefloe.config import Settings
from icefloe.passwords import check_for_reading, source
from icefloe.restore import (
    ExtractReport,
    RebuildResult,
    VolumeNeed,
    plan_restore,
    rebuild_catalog,
    resolve_sets,
    restore_options,
    start_retrievals,
    wait_for_job,
)
from icefloe.restore.run import download_volume, extract_downloaded
from tasks.archive import archive_password
from tasks.common import ArtifactProgress, artifact_key, catalog_and_store, settings_for, stage


def _download_dir(settings: Settings) -> Path:
    return settings.work_dir / "restore"


@stage(
    name="request-retrievals",
    task_run_name="request retrievals {target}",
    cache_policy=NO_CACHE,  # the catalog records the jobs: a rerun reuses them
)
def request_retrievals_task(target: str, partition: bool = False, tier: str | None = None,
                            config: str | None = None) -> list[VolumeNeed]:
    """Plan the restore of a partition (``partition=True``) or of an archive or set, publish the
    cost estimate, and request the retrievals still missing; returns each volume's need."""
    settings = settings_for(config)
    with catalog_and_store(settings) as (catalog, store):
        sets = resolve_sets(catalog, None if partition else target, target if partition else None)
        # A wrong or missing password is one line now, not after hours of paid retrieval.
        check_for_reading(catalog, sets, archive_password(settings.archive), source(settings.archive))
        plan = plan_restore(store, catalog, sets, download_dir=_download_dir(settings),
                            tier=tier or settings.restore.tier, prices=settings.restore.prices,
                            storage_class=settings.coldstore.storage_class)
        create_markdown_artifact(
            f"### Restore of {target}\n\n{plan.estimate.describe()}\n\n"
            f"{len(plan.volumes)} volumes in {len(plan.sets)} sets; {len(plan.to_request)} to retrieve.\n",
            key=artifact_key("restore-estimate", target), description=f"restore {target}: cost and time",
        )
        plan = start_retrievals(store, plan, days=settings.restore.days)
    get_run_logger().info("%s: %s", target, plan.estimate.describe())
    return list(plan.volumes)


@stage(name="wait-for-job", task_run_name="wait for {job_id}", cache_policy=NO_CACHE)
def wait_for_job_task(job_id: str, config: str | None = None) -> str:
    """Poll a retrieval (or inventory) job with backoff until it has Succeeded; returns its status."""
    settings = settings_for(config)
    with catalog_and_store(settings) as (catalog, store):
        job = wait_for_job(store, job_id, options=restore_options(settings.restore))
    return job.status


@stage(name="download-volume", task_run_name="download {archive}", cache_policy=NO_CACHE)
def download_volume_task(archive: str, config: str | None = None) -> str:
    """Download one retrieved volume (ranged, verified, resumable); returns its local path."""
    settings = settings_for(config)
    with catalog_and_store(settings) as (catalog, store):
        path, got = download_volume(store, catalog, archive,
                                    download_dir=_download_dir(settings), options=restore_options(settings.restore),
                                    progress=ArtifactProgress(f"download {archive}"))
    if got is not None:
        get_run_logger().info("%s: %s ranges fetched (%s resumed, %s fetched again)", archive, got.fetched,
                              got.resumed, got.refetched)
    return path


@stage(name="extract-set", task_run_name="extract {set_name}", cache_policy=NO_CACHE)
def extract_set_task(set_name: str, volumes: list[str], to: str, config: str | None = None,
                     select: str | None = None, overwrite: bool = False) -> ExtractReport:
    """Extract a set from its downloaded volumes into ``to``, check every file against the
    manifest, and publish the report; fails naming what could not be restored (the verified
    files stay)."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        report = extract_downloaded(
            catalog, set_name, volumes, Path(to), password=archive_password(settings.archive),
            download_dir=_download_dir(settings), keep_downloads=restore_options(settings.restore).keep_downloads,
            select=select, overwrite=overwrite, progress=ArtifactProgress(f"extract {set_name}"),
        )
    create_table_artifact(
        key=artifact_key("restore", set_name),
        table=[{"path": p.path, "problem": p.kind, "detail": p.detail} for p in report.problems]
        or [{"path": "(all)", "problem": "none", "detail": report.summary()}],
        description=report.summary(),
    )
    get_run_logger().info(report.summary())
    report.raise_for_problems()
    return report


@stage(name="rebuild-catalog", cache_policy=NO_CACHE)
def rebuild_catalog_task(wait: bool = True, config: str | None = None) -> RebuildResult:
    """Recreate the catalog from the vault's inventory or the bucket's listing."""
    settings = settings_for(config)
    with catalog_and_store(settings) as (catalog, store):
        result = rebuild_catalog(store, catalog, work_dir=settings.work_dir, wait=wait,
                                 options=restore_options(settings.restore))
    get_run_logger().info(result.summary())
    return result

