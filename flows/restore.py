"""Restore a partition's archive sets from cold storage, each into `<to>/<set>`, every file checked.

The cost and typical time of the retrievals are published as an artifact before they are
requested. Retrieval jobs take hours on AWS: with `wait` the run polls them (backing off to
one look every 15 minutes), then downloads each volume in verified ranges (a corrupted range
is fetched again; an interrupted download resumes) and extracts the set, checking every file
against its manifest's SHA-256 and restoring modification times. Without `wait` the run
requests the retrievals and ends; run it again later to pick the same jobs up. Files that
verify are kept even when others fail; the run then fails naming what is missing or damaged.
After losing the catalog, run the `rebuild-catalog` flow (or `icefloe catalog rebuild`) first.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.logging import get_run_logger

from flows.stages import names_failed_stage
from icefloe.restore import RebuildResult
from icefloe.restore.run import RestoreRun
from tasks.restore import (
    download_volume_task,
    extract_set_task,
    rebuild_catalog_task,
    request_retrievals_task,
    wait_for_job_task,
)


def _restore(target: str, partition: bool, to: str, wait: bool, config: str | None,
             path: str | None = None, tier: str | None = None) -> RestoreRun:
    volumes = request_retrievals_task(target, partition=partition, tier=tier, config=config)
    sets = list(dict.fromkeys(v.set_name for v in volumes))
    if not wait:
        pending = tuple(v.archive for v in volumes if not v.ready)
        if pending:
            get_run_logger().info("%d retrievals running; run this flow again later to continue", len(pending))
            return RestoreRun(pending, ())
    extracts = []
    for set_name in sets:
        downloads = []
        for v in (v for v in volumes if v.set_name == set_name):
            if v.local:
                downloads.append(v.local)
                continue
            ready = wait_for_job_task.submit(v.job_id, config=config)
            downloads.append(download_volume_task.submit(v.archive, config=config, wait_for=[ready]))
        dest = str(Path(to) / set_name) if partition else to
        extracts.append(extract_set_task.submit(set_name, downloads, dest, config=config, select=path))
    return RestoreRun((), tuple(e.result() for e in extracts))


@flow(name="restore-partition", flow_run_name="restore {label} to {to}", description=__doc__)
@names_failed_stage
def restore_partition(label: str, to: str, wait: bool = True, config: str | None = None) -> RestoreRun:
    """Restore every archive set of partition `label` into `to/<set>`; `config` names an icefloe.toml."""
    return _restore(label, True, to, wait, config)


@flow(name="restore-archive", flow_run_name="restore {name} to {to}")
@names_failed_stage
def restore_archive(name: str, to: str, wait: bool = True, path: str | None = None,
                    config: str | None = None) -> RestoreRun:
    """Restore one archive set (named by the set or any of its archives) into `to`; `path` is a
    glob selecting entries (e.g. `photos/2019/*`)."""
    return _restore(name, False, to, wait, config, path=path)


@flow(name="rebuild-catalog", flow_run_name="rebuild catalog")
@names_failed_stage
def rebuild_catalog(wait: bool = True, config: str | None = None) -> RebuildResult:
    """Recreate the catalog from the vault's inventory or the bucket's listing (disaster recovery)."""
    return rebuild_catalog_task(wait=wait, config=config)
