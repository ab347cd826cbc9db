"""The upload task: one file to cold storage, resumed where a failed try stopped.

A retry of this task resumes the multipart upload its previous try left open (the catalog
recorded every acknowledged part), so retrying is cheap; only transient failures are
retried. Once stored, a rerun finds the copy in the catalog and sends nothing.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.tasks import exponential_backoff

from icefloe.catalog import Catalog
from icefloe.coldstore import StoredArchive, open_coldstore
from tasks.common import ArtifactProgress, named_by_file, retry_if_transient, settings_for, stage

RETRY_BACKOFF_S = 30  # 30 s, 60 s, 120 s: the parts already sent stay sent meanwhile


def artifact_key(name: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return "upload-" + (re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "archive")


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
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=RETRY_BACKOFF_S),
    retry_jitter_factor=0.2,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,  # the catalog, not Prefect's cache, knows what is stored
)
def upload_archive_task(
    path: str,
    description: str | None = None,
    config: str | None = None,
    name: str | None = None,
    partition: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Upload one file to the configured vault or bucket; returns the stored archive's record.
    ``force`` sends it even when the catalog records a copy."""
    logger = get_run_logger()
    settings = settings_for(config)
    progress = ArtifactProgress(f"upload {Path(path).name}")
    with Catalog.open(settings.catalog_path) as catalog:
        store = open_coldstore(settings.coldstore, catalog)
        stored = store.upload(
            Path(path), name=name, description=description, partition=partition,
            progress=progress, force=force,
        )
    create_markdown_artifact(
        report_markdown(path, stored), key=artifact_key(Path(path).name), description=f"upload {Path(path).name}"
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
    return asdict(stored)
