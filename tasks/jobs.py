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
from prefect.tasks import exponential_backoff

from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from tasks.common import ArtifactProgress, retry_if_transient, settings_for, stage


@stage(
    name="request inventory",
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_condition_fn=retry_if_transient,
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
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_condition_fn=retry_if_transient,
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
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=30),
    retry_condition_fn=retry_if_transient,
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
