"""Archive tasks: consolidate a partition into a tested 7z archive set, and testzip a set again.

Each is one library call (icefloe.archive) plus retries for transient trouble, a progress
artifact, a summary artifact and a log line. They take strings and return a record
(icefloe.archive.records) or the set's name.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from prefect.artifacts import create_table_artifact
from prefect.logging import get_run_logger

from icefloe.archive.records import ArchivedSet, archive_partition_set
from icefloe.catalog import Catalog
from icefloe.config import ArchiveConfig, read_password
from icefloe.errors import PasswordError
from icefloe.lease import Lease, partition_lease_name
from icefloe.passwords import for_writing
from icefloe.setcheck import testzip_set
from tasks.common import ArtifactProgress, artifact_key, settings_for, stage


def run_token() -> str | None:
    """The lease token of the flow run this runs in: its tasks re-enter the flow's lease."""
    from prefect.runtime import flow_run

    return f"flow-run:{flow_run.id}" if flow_run.id else None


def partition_lease(catalog: Catalog, label: str, purpose: str) -> Lease:
    """Partition ``label``'s lease for this run (refused, naming the holder, when taken)."""
    from prefect.runtime import flow_run

    run = f" (flow run {flow_run.name})" if flow_run.id else ""
    return Lease(catalog, partition_lease_name(label), f"{purpose} {label}{run}", token=run_token())


def hold_partition(label: str, config: str | None, purpose: str) -> None:
    """Take partition ``label``'s lease for the calling flow; it is renewed while the flow
    function runs and given back when it returns or fails, however it ends."""
    catalog = Catalog.open(settings_for(config).catalog_path)
    try:
        lease = partition_lease(catalog, label, purpose).acquire()
    except BaseException:
        catalog.close()
        raise
    lease.start_renewing(while_running=sys._getframe(1), on_release=catalog.close)


def archive_password(archive: ArchiveConfig) -> str | None:
    """The password from the environment, else from the Prefect Secret block the config names."""
    password = read_password(archive, os.environ)
    if password is None and archive.password_secret_block:
        from prefect.blocks.system import Secret

        try:
            password = Secret.load(archive.password_secret_block).get() or None
        except (ValueError, RuntimeError, OSError) as exc:
            raise PasswordError(
                f"cannot read the Prefect Secret block {archive.password_secret_block!r}: {exc}"
            ) from None
        if password is None:
            raise PasswordError(f"the Prefect Secret block {archive.password_secret_block!r} is empty")
    return password


def archiving_password(archive: ArchiveConfig) -> str | None:
    """The password new archives are made with: refused when missing, unless encryption is
    off by ``archive.encrypt = false`` (then None)."""
    if not archive.encrypt:
        return None
    return for_writing(archive, archive_password(archive))


@stage(name="consolidate-partition", task_run_name="consolidate {label}")
def consolidate_partition_task(label: str, config: str | None = None, out_dir: str | None = None) -> ArchivedSet:
    """Consolidate partition ``label`` into a tested archive set and record it in the catalog
    (or carry its live set forward from the step it reached)."""
    settings = settings_for(config)
    settings.partition_folder(label)  # a missing folder fails before the password is asked for
    password = archiving_password(settings.archive)  # before anything is written
    logger = get_run_logger()
    with Catalog.open(settings.catalog_path) as catalog, partition_lease(catalog, label, "consolidate"):
        done = archive_partition_set(catalog, settings, label, password=password,
                                     progress=ArtifactProgress(f"consolidate {label}"),
                                     out_dir=Path(out_dir) if out_dir else None)
    result = done.result
    if done.unfinished_removed:
        logger.info("removed %s: never finished, consolidating again", ", ".join(done.unfinished_removed))
    if done.carried_from is not None:
        logger.info("carrying %s forward from %s: not rebuilt", result.set_name, done.carried_from)
    create_table_artifact(
        key=artifact_key("archive-set", result.set_name),
        table=[{"volume": v.name, "bytes": v.size, "sha256": v.sha256} for v in result.volumes],
        description=(
            f"{result.set_name}: {result.file_count} files, {result.total_bytes} bytes"
            f"{', encrypted' if result.encrypted else ''}; tested"
        ),
    )
    if result.leftovers_removed:
        logger.info("removed what killed runs left: %s", ", ".join(result.leftovers_removed))
    logger.info(
        "%s: %d files (%d bytes) -> %d volume(s), %d bytes, tested in %.1f s",
        result.set_name, result.file_count, result.total_bytes, len(result.volumes),
        result.archive_bytes, result.seconds,
    )
    return ArchivedSet.of(result)


@stage(name="test-archive", task_run_name="testzip {set_name}")
def test_archive_task(set_name: str, config: str | None = None) -> str:
    """testzip every volume of a recorded set; records TESTZIP per volume; returns the set name.

    A volume whose bytes differ from the catalog's SHA-256 fails too (ChecksumMismatch).
    """
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        tested = testzip_set(catalog, set_name, archive_password(settings.archive), settings.archive.workers,
                             ArtifactProgress(f"testzip {set_name}"))
    get_run_logger().info("%d volume(s) tested, every CRC and SHA-256 matches", tested)  # the run names the set
    return set_name


test_archive_task.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
