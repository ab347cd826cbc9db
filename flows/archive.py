"""Archive a full partition: consolidate it into tested 7z archives, write and verify one disc
image per disc (burning and reading each back when a burner is configured), upload every
archive to cold storage, mirror the partition once more, and reconcile an inventory.

Each stage is a task with its own retry policy; results are persisted, so Retry on a failed
run reruns only the failed stage and what follows: a finished consolidation is not redone and
a finished upload is never sent twice. The partition itself is cleared later, by the
clear-partition deployment or the inventory poll, once every copy is confirmed.
"""

from __future__ import annotations

import time

from prefect import flow, pause_flow_run
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from prefect.logging import get_run_logger

from flows.stages import names_failed_stage
from icefloe.archive.records import ArchivePlan, ArchiveRun
from icefloe.errors import DeviceError
from tasks.archive import consolidate_partition_task, hold_partition, test_archive_task
from tasks.common import settings_for
from tasks.disc import build_images_task, burn_image_task, verify_image_task
from tasks.jobs import request_inventory_task
from tasks.mirror import mirror_partition_task
from tasks.pipeline import plan_archive_task, reconcile_job_task
from tasks.snapshot import snapshot_catalog_task
from tasks.upload import upload_archive_task


class NextDisc(RunInput):
    """Put the next blank disc in the burner, then confirm."""

    inserted: bool = True


@flow(name="archive-partition", flow_run_name="archive {label}", persist_result=True, description=__doc__)
@names_failed_stage
def archive_partition(label: str, dry_run: bool = False, config: str | None = None) -> ArchiveRun | ArchivePlan:
    """Run the archive pipeline for one partition (a dry run returns only its plan).

    Args:
        label: the partition to archive, as configured in [[partitions]].
        dry_run: list what would be archived and change nothing.
        config: the icefloe.toml to use (default: $ICEFLOE_CONFIG, else ./icefloe.toml).
    """
    settings = settings_for(config)
    settings.partition(label)  # an unknown label fails the run before any stage starts
    if dry_run:
        return plan_archive_task(label, config)
    hold_partition(label, config, "archive")  # one archive or clear of a partition at a time
    logger = get_run_logger()

    archived = consolidate_partition_task(label, config)
    tested = test_archive_task.submit(archived.set_name, config)

    images: list[str] = []
    if settings.archive.disc != "none":
        images = build_images_task.submit(archived.set_name, config, wait_for=[tested]).result()
        verified = [verify_image_task.submit(image, config) for image in images]
        if settings.archive.burner != "none":
            burn_all(images, verified, config, settings.archive.burner)
        for future in verified:
            future.result()

    uploads = [
        upload_archive_task.submit(volume, config=config, partition=label, wait_for=[tested])
        for volume in archived.volumes
    ]
    stored = [future.result() for future in uploads]
    # A fresh mirror after consolidation, byte for byte: the clear gate wants one newer than
    # the archive set that compared content, not only size and mtime.
    mirror_partition_task(label, config, checksum=True)
    job_id = request_inventory_task(config, wait_for=uploads)
    inventory = reconcile_job_task(job_id, config)
    if not inventory.ready:
        logger.info("inventory %s still running: the inventory-poll deployment reconciles it", job_id)
    snapshot = snapshot_catalog_task(config)  # the catalog goes offsite with the set
    return ArchiveRun(
        set_name=archived.set_name,
        file_count=archived.file_count,
        volumes=archived.volumes,
        images=tuple(images),
        stored=tuple(s.remote_id for s in stored),
        inventory=inventory,
        snapshot=snapshot,
    )


def burn_all(images: list[str], verified: list, config: str | None, burner: str) -> None:
    """Burn each verified image in turn; a real drive holds one disc, so ask for the next."""
    for index, (image, check) in enumerate(zip(images, verified), start=1):
        check.result()
        if index > 1 and not burner.startswith("stdio:"):
            ask_for_disc(index, len(images), burner)
        burn_image_task(image, config)


DISC_WAIT_S = 24 * 3600  # how long a run waits for the next blank disc before it gives up


def ask_for_disc(index: int, total: int, burner: str) -> None:
    """Pause until the person confirms the next disc is in; "not inserted" asks again."""
    deadline = time.monotonic() + DISC_WAIT_S
    ask = f"Insert blank disc {index} of {total} into {burner}, then confirm."
    late = DeviceError(f"blank disc {index} of {total} was not inserted into {burner} in time; "
                       "nothing more was burned: retry the run to continue")
    while True:
        left = int(deadline - time.monotonic())
        if left <= 0:
            raise late
        try:
            answer = pause_flow_run(wait_for_input=NextDisc.with_initial_data(description=ask), timeout=left)
        except FlowPauseTimeout:
            raise late from None
        if answer.inserted:
            return
        ask = f"Disc {index} of {total} is not in {burner} yet: insert a blank disc, then confirm."
