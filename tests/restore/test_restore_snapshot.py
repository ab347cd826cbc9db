"""Catalog snapshots in S3: sealed, pruned, a damaged newest one passed over, merged per set."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest

from builders import V1, make_world
from icefloe.catalog import ArchiveRecord, ArchiveSet, Catalog
from icefloe.coldstore.snapshots import KEEP, S3_PREFIX, SnapshotStore, backup_catalog
from icefloe.errors import PasswordError
from icefloe.restore.fromsnapshot import merge_s3_snapshot
from icefloe.snapshot import snapshot_name

PASSWORD = "s3cret family words"


@pytest.fixture
def world(workspace: Path, standin):
    bucket = f"snap-{workspace.name[-12:].lower().replace('_', '-')}"
    boto3.client("s3", endpoint_url=standin.url).create_bucket(Bucket=bucket)
    w = make_world(workspace)
    w.settings = w.settings.model_copy(update={
        "coldstore": w.settings.coldstore.model_copy(update={"bucket": bucket})})
    yield w
    w.catalog.close()


def keys(world) -> list[str]:
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=world.settings.coldstore.bucket, Prefix=S3_PREFIX)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_a_snapshot_is_sealed_and_names_nothing_in_the_clear(world) -> None:
    stored = backup_catalog(world.settings, world.catalog, PASSWORD)
    head = boto3.client("s3").head_object(Bucket=world.settings.coldstore.bucket, Key=stored.remote_id)
    assert head.get("StorageClass", "STANDARD") == "STANDARD"  # readable at once, no restore
    data = (world.settings.work_dir / "snapshots" / stored.name).read_bytes()
    for marker in (b"dcim", b"a.jpg", b"set1", b"photos-a", b"SQLite format"):
        assert marker not in data


def test_only_the_newest_snapshots_are_kept(world) -> None:
    names = [backup_catalog(world.settings, world.catalog, PASSWORD).name for _ in range(KEEP + 2)]
    assert keys(world) == sorted(S3_PREFIX + n for n in names[-KEEP:])
    assert [p.name for p in (world.settings.work_dir / "snapshots").iterdir()] == [names[-1]]


def test_a_damaged_newest_snapshot_is_passed_over(world, tmp_path: Path) -> None:
    good = backup_catalog(world.settings, world.catalog, PASSWORD)
    half = S3_PREFIX + snapshot_name()  # newer name, cut short as by a crash mid-write
    sealed = (world.settings.work_dir / "snapshots" / good.name).read_bytes()
    boto3.client("s3").put_object(Bucket=world.settings.coldstore.bucket, Key=half, Body=sealed[: len(sealed) // 2])
    fresh = Catalog.open(tmp_path / "new" / "catalog.sqlite")
    merged = merge_s3_snapshot(SnapshotStore(world.settings.coldstore), fresh, work_dir=tmp_path / "new",
                               password=PASSWORD)
    assert merged.name == good.name and merged.skipped == (half[len(S3_PREFIX):],)
    assert fresh.get_archive_set("set1") is not None and len(fresh.manifest("set1")) == 7


def test_a_wrong_password_stops_before_anything_is_merged(world, tmp_path: Path) -> None:
    backup_catalog(world.settings, world.catalog, PASSWORD)
    fresh = Catalog.open(tmp_path / "new" / "catalog.sqlite")
    with pytest.raises(PasswordError, match="does not open with this password"):
        merge_s3_snapshot(SnapshotStore(world.settings.coldstore), fresh, work_dir=tmp_path / "new",
                          password="wrong")
    assert fresh.archive_sets() == []


def test_an_older_snapshot_and_a_newer_inventory_merge_per_set(world, tmp_path: Path) -> None:
    world.catalog.mark_set_cleared("set1")
    backup_catalog(world.settings, world.catalog, PASSWORD)
    # After the fire the inventory came first: set1 thin, and a newer set2 the snapshot lacks.
    fresh = Catalog.open(tmp_path / "new" / "catalog.sqlite")
    fresh.put_archive_set(ArchiveSet("set1", "photos-a", 0, 0, False))
    fresh.put_archive(ArchiveRecord(V1, "set1", "photos-a", 1001, "0" * 64, 1, 2))
    fresh.put_archive_set(ArchiveSet("set2", "photos-b", 0, 0, False))
    merge_s3_snapshot(SnapshotStore(world.settings.coldstore), fresh, work_dir=tmp_path / "new",
                      password=PASSWORD)
    set1, set2 = fresh.get_archive_set("set1"), fresh.get_archive_set("set2")
    assert set1.cleared_at is not None and set1.file_count == 6 and set1.encrypted  # the snapshot's
    assert set2 is not None and set2.cleared_at is None  # what only the inventory knows stays
    assert len(fresh.archives(set_name="set1")) == 2 and len(fresh.manifest("set1")) == 7
    shutil.rmtree(tmp_path / "new")
