"""Job tasks: request an inventory, poll a job, fetch a finished job's output.

Jobs take hours on AWS, so no task waits for one: a scheduled flow polls the pending jobs the
catalog records and fetches those that finished. Fetching is retried on transient failures
(a corrupted download is fetched again inside the library first).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from tasks.common import ArtifactProgress, settings_for, stage


@stage(
    name="request inventory",
    cache_policy=NO_CACHE,  # each request starts a new job
)
def request_inventory_task(config: str | None = None) -> str:
    """Start an inventory job (an S3 listing for the s3 backend); returns the job id."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        job = open_coldstore(settings.coldstore, catalog).request_inventory()
    get_run_logger().info("inventory job %s requested (%s)", job.job_id, job.status)
    return job.job_id


@stage(
    name="describe job",
    cache_policy=NO_CACHE,
)
def describe_job_task(job_id: str, config: str | None = None) -> dict[str, Any]:
    """The job's current state (InProgress, Succeeded, Failed) as a small dict."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        job = open_coldstore(settings.coldstore, catalog).describe_job(job_id)
    return asdict(job)


@stage(
    name="fetch job output",
    task_run_name="fetch {job_id}",
    cache_policy=NO_CACHE,
)
def fetch_job_output_task(job_id: str, dest: str, config: str | None = None) -> dict[str, Any]:
    """Write a finished job's output to ``dest`` (checked, fsynced, renamed); returns its record.

    Raises JobNotReady (not retried) while the job is still in progress.
    """
    settings = settings_for(config)
    progress = ArtifactProgress(f"fetch {job_id[:16]}")
    with Catalog.open(settings.catalog_path) as catalog:
        fetched = open_coldstore(settings.coldstore, catalog).fetch_job_output(
            job_id, Path(dest), progress=progress
        )
    get_run_logger().info("job %s output: %s (%s bytes)", job_id, fetched.path, fetched.size)
    return asdict(fetched)
