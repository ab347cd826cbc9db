"""The upload task: one file to cold storage, resumed where a failed try stopped.

A retry of this task resumes the multipart upload its previous try left open (the catalog
recorded every acknowledged part), so retrying is cheap; only transient failures are
retried. Once stored, a rerun finds the copy in the catalog and sends nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from icefloe.coldstore import OpenUpload, StoredArchive
from tasks.common import ArtifactProgress, artifact_key, catalog_and_store, named_by_file, settings_for, stage



def report_markdown(path: str, stored: StoredArchive) -> str:
    rows = [
        ("file", f"`{path}`"),
        ("backend", f"{stored.backend} `{stored.container}`"),
        ("archive id / key", f"`{stored.remote_id}`"),
        ("size", f"{stored.size:,} bytes"),
        ("SHA-256", f"`{stored.sha256}`"),
        ("tree hash", f"`{stored.tree_hash}`" if stored.tree_hash else "-"),
        ("service checksum", f"`{stored.server_checksum}`" if stored.server_checksum else "-"),
        ("part size", f"{stored.part_size:,}" if stored.part_size else "single request"),
        ("parts sent / reused", f"{stored.parts_sent} / {stored.parts_reused}"),
        ("already stored", f"yes ({stored.remote_check})" if stored.already_stored else "no"),
    ]
    lines = [f"### Upload of {Path(path).name}", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


@stage(
    name="upload archive",
    task_run_name=named_by_file("upload", "path"),
    cache_policy=NO_CACHE,  # the catalog, not Prefect's cache, knows what is stored
)
def upload_archive_task(
    path: str,
    description: str | None = None,
    config: str | None = None,
    name: str | None = None,
    partition: str | None = None,
    force: bool = False,
) -> StoredArchive:
    """Upload one file to the configured vault or bucket; returns the stored archive's record.
    ``force`` sends it even when the catalog records a copy."""
    logger = get_run_logger()
    settings = settings_for(config)
    progress = ArtifactProgress(f"upload {Path(path).name}")
    with catalog_and_store(settings) as (catalog, store):
        stored = store.upload(
            Path(path), name=name, description=description, partition=partition,
            progress=progress, force=force,
        )
    create_markdown_artifact(
        report_markdown(path, stored), key=artifact_key("upload", Path(path).name), description=f"upload {Path(path).name}"
    )
    logger.info(
        "stored in %s %s as %s (%s bytes, %s parts sent, %s reused%s)",  # the run names the file
        stored.backend,
        stored.container,
        stored.remote_id,
        stored.size,
        stored.parts_sent,
        stored.parts_reused,
        f", already stored: {stored.remote_check}" if stored.already_stored else "",
    )
    return stored


@stage(name="abort stale uploads", cache_policy=NO_CACHE)
def abort_stale_uploads_task(older_than_hours: float, config: str | None = None) -> list[OpenUpload]:
    """Abort the multipart uploads open longer than ``older_than_hours``; the table artifact
    ``stale-uploads`` lists them."""
    settings = settings_for(config)
    with catalog_and_store(settings) as (catalog, store):
        aborted = store.abort_uploads_older_than(timedelta(hours=older_than_hours))
    create_table_artifact(
        key=artifact_key("stale-uploads"),
        table=[asdict(u) for u in aborted] or [{"upload_id": "-", "note": "no stale uploads"}],
        description=f"Uploads open longer than {older_than_hours} h, aborted",
    )
    return list(aborted)
