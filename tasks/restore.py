"""Restore tasks: plan and request retrievals, wait for a job, download a volume, extract a set,
rebuild the catalog.

Each is one library call (icefloe.restore) plus retries for transient trouble, artifacts and
a log line; they take and return strings and small dicts. Downloads resume from their
journal, so a retried download task fetches only the ranges it lacks.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from icefloe.config import Settings
from icefloe.errors import InputNotFound
from icefloe.passwords import check_for_reading, source
from icefloe.restore import (
    extract_set,
    fetch_volume,
    file_source,
    learn_manifest,
    plan_restore,
    rebuild_catalog,
    resolve_sets,
    restore_options,
    start_retrievals,
    wait_for_job,
)
from icefloe.restore.retrieval import volume_need
from tasks.archive import archive_password
from tasks.common import ArtifactProgress, artifact_key, settings_for, stage


def _download_dir(settings: Settings) -> Path:
    return settings.work_dir / "restore"


def _volume(need) -> dict[str, Any]:
    return {"archive": need.archive, "set": need.set_name, "volume": need.volume, "size": need.size,
            "local": need.local, "job_id": need.job_id, "job_status": need.job_status}


@stage(
    name="request-retrievals",
    task_run_name="request retrievals {target}",
    cache_policy=NO_CACHE,  # the catalog records the jobs: a rerun reuses them
)
def request_retrievals_task(target: str, partition: bool = False, tier: str | None = None,
                            config: str | None = None) -> list[dict[str, Any]]:
    """Plan the restore of a partition (``partition=True``) or of an archive or set, publish the
    cost estimate, and request the retrievals still missing; returns one dict per volume."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        store = open_coldstore(settings.coldstore, catalog)
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
    return [_volume(v) for v in plan.volumes]


@stage(
    name="wait-for-job",
    task_run_name="wait for {job_id}",
    cache_policy=NO_CACHE,
)
def wait_for_job_task(job_id: str, config: str | None = None) -> str:
    """Poll a retrieval (or inventory) job with backoff until it has Succeeded; returns its status."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        store = open_coldstore(settings.coldstore, catalog)
        job = wait_for_job(store, job_id, options=restore_options(settings.restore))
    return job.status


@stage(
    name="download-volume",
    task_run_name="download {archive}",
    cache_policy=NO_CACHE,
)
def download_volume_task(archive: str, config: str | None = None) -> str:
    """Download one retrieved volume (ranged, verified, resumable); returns its local path."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        store = open_coldstore(settings.coldstore, catalog)
        record = catalog.get_archive(archive)
        if record is None:
            raise InputNotFound(f"the catalog has no archive {archive!r}")
        need = volume_need(store, catalog, record, _download_dir(settings))
        got = fetch_volume(store, need, download_dir=_download_dir(settings),
                           options=restore_options(settings.restore), progress=ArtifactProgress(f"download {archive}"))
    if got is None:
        return need.local or ""
    get_run_logger().info("%s: %s ranges fetched (%s resumed, %s fetched again)", archive, got.fetched,
                          got.resumed, got.refetched)
    return got.path


@stage(
    name="extract-set",
    task_run_name="extract {set_name}",
    cache_policy=NO_CACHE,
)
def extract_set_task(set_name: str, volumes: list[str], to: str, config: str | None = None,
                     select: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Extract a set from its downloaded volumes into ``to``, check every file against the
    manifest, and publish the report; fails naming what could not be restored (the verified
    files stay)."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        records = {a.name: a for a in catalog.archives(set_name=set_name)}
        sources = [file_source(Path(p), records[Path(p).name].sha256 if Path(p).name in records else None)
                   for p in volumes]
        report = extract_set(sources, Path(to), password=archive_password(settings.archive), set_name=set_name,
                             select=select, overwrite=overwrite, progress=ArtifactProgress(f"extract {set_name}"))
        learn_manifest(catalog, set_name, report.manifest)
    create_table_artifact(
        key=artifact_key("restore", set_name),
        table=[{"path": p.path, "problem": p.kind, "detail": p.detail} for p in report.problems]
        or [{"path": "(all)", "problem": "none", "detail": report.summary()}],
        description=report.summary(),
    )
    if report.ok:
        keep = restore_options(settings.restore).keep_downloads
        for path in volumes:
            if not keep and Path(path).is_relative_to(_download_dir(settings)):
                Path(path).unlink(missing_ok=True)
    get_run_logger().info(report.summary())
    report.raise_for_problems()
    return report.to_json()


@stage(
    name="rebuild-catalog",
    cache_policy=NO_CACHE,
)
def rebuild_catalog_task(wait: bool = True, config: str | None = None) -> dict[str, Any]:
    """Recreate the catalog from the vault's inventory or the bucket's listing."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        store = open_coldstore(settings.coldstore, catalog)
        result = rebuild_catalog(store, catalog, work_dir=settings.work_dir, wait=wait,
                                 options=restore_options(settings.restore))
    get_run_logger().info(result.summary())
    return asdict(result)

