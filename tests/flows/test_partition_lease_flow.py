"""The archive and clear flows hold their partition's lease, and the archive flow carries the
partition's live set forward instead of consolidating it again."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import pytest

from icefloe.catalog import Catalog
from icefloe.lease import Lease, PartitionBusy, current_lease, partition_lease_name
from icefloe.lifecycle import CONFIRMED, STORED, state_of
from icefloe.sample import make_sample_partition

LEASE = partition_lease_name("photos-a")


def catalog_of(workspace: Path) -> Catalog:
    return Catalog.open(workspace / "work" / "catalog.sqlite")


def test_both_flows_are_refused_while_another_run_holds_the_partition(prefect_harness, workspace, other_process):
    from flows.archive import archive_partition
    from flows.clear import clear_partition_flow

    (workspace / "photos-a" / "a.txt").write_text("x\n")
    config = str(workspace / "icefloe.toml")
    with catalog_of(workspace) as catalog:
        Lease(catalog, LEASE, "archive photos-a (flow run other)", pid=other_process.pid).acquire()
    with pytest.raises(PartitionBusy, match=rf"archive photos-a \(flow run other\) \(pid {other_process.pid}"):
        archive_partition("photos-a", config=config)
    with pytest.raises(PartitionBusy, match="photos-a is busy"):
        clear_partition_flow("photos-a", confirm=True, config=config)
    assert not (workspace / "work" / "archives").exists()
    with catalog_of(workspace) as catalog:
        assert current_lease(catalog, LEASE).pid == other_process.pid


def test_a_failed_archive_run_gives_its_lease_back(prefect_harness, workspace, monkeypatch):
    from flows.archive import archive_partition

    monkeypatch.setenv("ICEFLOE_ARCHIVE_PASSWORD", "pw")
    config = str(workspace / "icefloe.toml")  # photos-a holds no files: consolidation fails
    with pytest.raises(Exception, match="holds no files to archive"):
        archive_partition("photos-a", config=config)
    deadline = time.monotonic() + 10
    with catalog_of(workspace) as catalog:
        while current_lease(catalog, LEASE) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert current_lease(catalog, LEASE) is None


def test_the_archive_flow_carries_a_consolidated_set_forward(prefect_harness, workspace, standin, monkeypatch):
    from flows.archive import archive_partition
    from icefloe.archive import consolidate

    boto3.client("s3", endpoint_url=standin.url).create_bucket(Bucket="carry-test")
    make_sample_partition(workspace / "photos-a", size_mib=3, seed=3)
    (workspace / "offsite").mkdir()
    config = workspace / "icefloe.toml"
    config.write_text(
        config.read_text().replace('[archive]\ndisc = "dvd+r"\n', "")
        + '[mirror]\ntarget = "offsite"\n'
        + '[archive]\ndisc = "dvd+r"\nburner = "none"\npassword_env = "ICEFLOE_TEST_LEASE_PW"\n'
        + '[coldstore]\nbackend = "s3"\nbucket = "carry-test"\npart_size_mib = 8\n'
    )
    monkeypatch.setenv("ICEFLOE_TEST_LEASE_PW", "lease test")
    # A run consolidated the partition, then died before its disc and upload stages.
    with catalog_of(workspace) as catalog:
        made = consolidate(workspace / "photos-a", workspace / "work" / "archives", label="photos-a",
                           password="lease test", workers=1, catalog=catalog)
    before = {v.name: v.path.stat().st_mtime_ns for v in made.volumes}

    result = archive_partition("photos-a", config=str(config))
    assert result.set_name == made.set_name
    assert sorted(p.name for p in (workspace / "work" / "archives").iterdir()) == [made.set_name]
    assert {v.name: v.path.stat().st_mtime_ns for v in made.volumes} == before  # not rebuilt
    with catalog_of(workspace) as catalog:
        assert len(catalog.archive_sets()) == 1
        assert state_of(catalog, made.set_name) in (STORED, CONFIRMED)
        images = catalog.images(made.set_name)
        assert images and all(Path(i.path).is_file() for i in images)
    # Run again: the images are carried forward too, nothing is rewritten.
    image_times = {i.name: Path(i.path).stat().st_mtime_ns for i in images}
    again = archive_partition("photos-a", config=str(config))
    assert again.set_name == made.set_name and sorted(again.images) == sorted(i.path for i in images)
    assert {i.name: Path(i.path).stat().st_mtime_ns for i in images} == image_times
