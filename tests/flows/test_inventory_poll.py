"""The inventory poll confirms what it can and stops asking once everything is confirmed.

An S3 listing is finished the moment it is requested, so the poll reads it in the same run; a
copy in a vault or bucket no longer configured is reported, and never makes the poll ask
again. `icefloe inventory reconcile` does the same by hand.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from helpers import invoke

from icefloe.catalog import INVENTORY_SEEN, Catalog, CopyRecord, JobRecord
from icefloe.config import load_settings
from icefloe.errors import ChecksumMismatch


@pytest.fixture
def s3_config(workspace: Path, standin) -> Path:
    boto3.client("s3", endpoint_url=standin.url).create_bucket(Bucket="poll-test")
    config = workspace / "icefloe.toml"
    config.write_text(config.read_text() + '[coldstore]\nbackend = "s3"\nbucket = "poll-test"\n')
    return config


def _icefloe(capsys: pytest.CaptureFixture, config: Path, *args: str) -> tuple[int, str]:
    ran = invoke(capsys, "-c", str(config), *args)
    return ran.returncode, ran.stdout + ran.stderr


def _upload_by_hand(capsys, config: Path, name: str = "scan-2019.tar") -> str:
    photo = config.parent / name
    photo.write_bytes(f"{name}: a folder of scans, archived by hand\n".encode() * 1000)
    code, out = _icefloe(capsys, config, "upload", str(photo))
    assert code == 0, out
    return name


def _catalog(config: Path) -> Catalog:
    return Catalog.open(load_settings(config, {}).catalog_path)


def _confirmed(config: Path, name: str) -> bool:
    with _catalog(config) as catalog:
        check = catalog.latest_verification(f"archive:{name}", INVENTORY_SEEN)
        return check is not None and check.ok


def _inventory_jobs(config: Path) -> list[JobRecord]:
    with _catalog(config) as catalog:
        return catalog.jobs(kind="inventory")


def test_the_poll_confirms_a_manual_upload_and_then_stops_asking(prefect_harness, s3_config, capsys):
    from flows.inventory import poll_inventory

    name = _upload_by_hand(capsys, s3_config)
    first = poll_inventory(config=str(s3_config))
    assert first.requested and [r.seen for r in first.reconciled] == [1]
    assert _confirmed(s3_config, name)

    second = poll_inventory(config=str(s3_config))
    assert second.requested is None and second.reconciled == ()
    assert len(_inventory_jobs(s3_config)) == 1  # one listing, not one an hour


def test_a_listing_left_unread_is_read_on_the_next_poll(prefect_harness, s3_config, capsys):
    """A poll killed between requesting a listing and reading it: the next one reads that one."""
    from flows.inventory import poll_inventory
    from icefloe.coldstore import open_coldstore

    name = _upload_by_hand(capsys, s3_config)
    settings = load_settings(s3_config, {})
    with _catalog(s3_config) as catalog:
        left = open_coldstore(settings.coldstore, catalog).request_inventory().job_id
    assert not _confirmed(s3_config, name)

    result = poll_inventory(config=str(s3_config))
    assert result.requested is None
    assert [r.job for r in result.reconciled] == [left]
    assert _confirmed(s3_config, name)
    assert [(j.job_id, j.status) for j in _inventory_jobs(s3_config)] == [(left, "Fetched")]


def test_copies_in_a_container_no_longer_configured_stop_no_poll(prefect_harness, s3_config, capsys):
    from flows.inventory import poll_inventory

    # Before the switch to S3 the archives went to a vault; its copies and a job stay recorded.
    with _catalog(s3_config) as catalog:
        catalog.put_copy(CopyRecord(
            backend="glacier", container="old-vault", remote_id="OLD-ARCHIVE-ID", archive_name="photos-2019.7z",
            description="photos-2019.7z", size=10, sha256="0" * 64,
        ))
        catalog.put_job(JobRecord(job_id="OLD-VAULT-JOB", backend="glacier", container="old-vault",
                                  kind="inventory", status="InProgress"))

    for _ in range(2):
        result = poll_inventory(config=str(s3_config))  # the old vault is gone: asking it would fail
        assert result.requested is None and result.elsewhere == 1
    jobs = _inventory_jobs(s3_config)
    assert [(j.job_id, j.status) for j in jobs] == [("OLD-VAULT-JOB", "InProgress")]


def test_inventory_reconcile_by_hand(s3_config, capsys):
    name = _upload_by_hand(capsys, s3_config)

    code, out = _icefloe(capsys, s3_config, "inventory", "reconcile")
    assert code == 0, out
    assert "1 confirmed" in out and "0 copies still unconfirmed" in out
    assert _confirmed(s3_config, name)
    code, out = _icefloe(capsys, s3_config, "inventory", "reconcile")
    assert code == 0 and "requested" not in out
    assert len(_inventory_jobs(s3_config)) == 1

    # A stored copy that differs from the catalog is loud: exit 6 and one line saying which.
    other = _upload_by_hand(capsys, s3_config, "scan-2020.tar")
    with _catalog(s3_config) as catalog:
        copy = next(c for c in catalog.copies() if c.archive_name == other)
        catalog.put_copy(CopyRecord(**{**copy.__dict__, "size": copy.size + 1}))
    code, out = _icefloe(capsys, s3_config, "inventory", "reconcile")
    assert code == ChecksumMismatch.exit_code
    assert f"icefloe: the inventory disagrees with the catalog: {other}: inventory size" in out
