"""Mirror the backup partitions to the offsite server with rsync over ssh (the nightly copy).

Each partition is one task run, at most `mirror.concurrency` at a time. A partition without
its sentinel file is refused so an unmounted disk never wipes the mirror, an empty one never
deletes from its mirror, and rsync deletes at most `mirror.max_delete` files per run.
Connection trouble is retried with backoff (`mirror.retries` times). Every run is recorded in
the catalog, where the clear stage reads it, and reported as an artifact `mirror-<label>`.
"""

from __future__ import annotations

from prefect import flow
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.stages import names_failed_stage
from icefloe.errors import ConfigInvalid, MirrorFailed
from icefloe.mirror import MirrorSummary, target_for
from tasks.common import settings_for
from tasks.mirror import mirror_partition_task
from tasks.pipeline import check_fill_task


def _run_name() -> str:
    params = flow_run.parameters
    labels = params.get("labels") or ["all"]
    return "mirror " + ", ".join(labels) + (" (dry run)" if params.get("dry_run") else "")


ARCHIVE_DEPLOYMENT = "archive-partition/archive-partition"


@flow(name="mirror-partitions", flow_run_name=_run_name, description=__doc__)
@names_failed_stage
def mirror_partitions(
    labels: list[str] | None = None,
    dry_run: bool = False,
    archive_when_full: bool = True,
    config: str | None = None,
) -> list[MirrorSummary]:
    """Mirror the partitions (default: all configured) and return one summary per partition.

    Args:
        labels: partitions to mirror; empty or unset means every configured partition.
        dry_run: list what rsync would change, change nothing, record nothing.
        archive_when_full: after mirroring, when the active partition is over
            pipeline.fill_threshold, make the other one active and start the
            archive-partition deployment for the full one. When no other partition
            can take over, the full one stays active and no archive run starts.
        config: the icefloe.toml to use (default: $ICEFLOE_CONFIG, else ./icefloe.toml).
    """
    settings = settings_for(config)
    wanted = list(dict.fromkeys(labels or [p.label for p in settings.partitions]))
    if not wanted:
        raise ConfigInvalid("no partitions are configured; add [[partitions]] to the configuration")
    for label in wanted:  # an unknown label or a bad target fails the run before anything starts
        settings.partition(label)
        target_for(settings, label)
    mirror_one = mirror_partition_task.with_options(retries=settings.mirror.retries)  # the stage's backoff
    # Concurrency is limited here, in the task runner; its size comes from the configuration,
    # which a decorator cannot read, so the flow opens the runner itself.
    with ThreadPoolTaskRunner(max_workers=min(settings.mirror.concurrency, len(wanted))) as runner:
        futures = {
            label: runner.submit(
                mirror_one, parameters={"label": label, "config": config, "dry_run": dry_run}
            )
            for label in wanted
        }
        for future in futures.values():
            future.wait()
    summaries, failures = [], []
    for label, future in futures.items():
        state = future.state
        if state.is_completed():
            summaries.append(state.result())
        else:
            error = state.result(raise_on_failure=False)
            failures.append(f"{label}: {getattr(error, 'message', None) or error}")
    if failures:
        raise MirrorFailed(f"{len(failures)} of {len(wanted)} partitions were not mirrored: " + "; ".join(failures))
    if archive_when_full and not dry_run:
        start_archive_when_full(config)
    return summaries


def start_archive_when_full(config: str | None) -> str | None:
    """The owner's manual step, automated: a full active partition hands over and is archived."""
    fill = check_fill_task(config)
    if not fill.full:
        return None
    logger = get_run_logger()
    try:
        run = run_deployment(
            ARCHIVE_DEPLOYMENT, parameters={"label": fill.full, "config": config}, timeout=0
        )
    except ObjectNotFound:
        logger.warning(
            "%s is full but the %s deployment does not exist: run `icefloe archive %s`",
            fill.full, ARCHIVE_DEPLOYMENT, fill.full,
        )
        return None
    logger.info("%s is full: started archive run %s; %s is now active", fill.full, run.name, fill.active)
    return str(run.id)
