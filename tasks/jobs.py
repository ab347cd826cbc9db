"""Job tasks: request an inventory, poll a job, fetch a finished job's output.

Jobs take hours on AWS, so no task waits for one: a scheduled flow polls the pending jobs the
catalog records and fetches those that finished. Fetching is retried on transient failures
(a corrupted download is fetched again inside the library first).
"""

from __future__ import annotations

from pathlib import Path

from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from icefloe.coldstore import FetchedOutput, RemoteJob
from tasks.common import ArtifactProgress, catalog_and_store, settings_for, stage


@stage(
    name="request inventory",
    cache_policy=NO_CACHE,  # each request starts a new job
)
def request_inventory_task(config: str | None = None) -> str:
    """Start an inventory job (an S3 listing for the s3 backend); returns the job id."""
    settings = settings_for(config)
    with catalog_and_store(settings) as (_, store):
        job = store.request_inventory()
    get_run_logger().info("inventory job %s requested (%s)", job.job_id, job.status)
    return job.job_id


@stage(name="describe job", cache_policy=NO_CACHE)
def describe_job_task(job_id: str, config: str | None = None) -> RemoteJob:
    """The job's current state (InProgress, Succeeded, Failed)."""
    settings = settings_for(config)
    with catalog_and_store(settings) as (_, store):
        return store.describe_job(job_id)


@stage(name="fetch job output", task_run_name="fetch {job_id}", cache_policy=NO_CACHE)
def fetch_job_output_task(job_id: str, dest: str, config: str | None = None) -> FetchedOutput:
    """Write a finished job's output to ``dest`` (checked, fsynced, renamed); returns its record.

    Raises JobNotReady (not retried) while the job is still in progress.
    """
    settings = settings_for(config)
    progress = ArtifactProgress(f"fetch {job_id[:16]}")
    with catalog_and_store(settings) as (_, store):
        fetched = store.fetch_job_output(job_id, Path(dest), progress=progress)
    get_run_logger().info("job %s output: %s (%s bytes)", job_id, fetched.path, fetched.size)
    return fetched
