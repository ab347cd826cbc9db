"""Jobs on both backends: inventory (a listing on S3), retrieval/restore, polling, output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from coldstore_helpers import MIB, write_random

from icefloe.catalog import INVENTORY_SEEN
from icefloe.coldstore import JobNotReady, parse_inventory, reconcile
from icefloe.errors import ChecksumMismatch, UsageError


def test_inventory_lists_uploads_with_their_descriptions(store, catalog, tmp_path: Path) -> None:
    names = []
    for i, size in enumerate([10, 2 * MIB + 1]):
        src = tmp_path / f"photos-{i}.7z"
        write_random(src, size)
        store.upload(src, partition="photos-a", part_size=MIB)
        names.append(src.name)
    job = store.request_inventory()
    assert job.kind == "inventory"
    assert job.job_id in [j.job_id for j in store.list_jobs()]
    described = store.describe_job(job.job_id)
    assert described.status == "Succeeded"
    out = tmp_path / "inventory.json"
    fetched = store.fetch_job_output(job.job_id, out)
    assert fetched.path == str(out) and fetched.size == out.stat().st_size
    inventory = parse_inventory(out)
    assert (inventory.backend, inventory.container) == (store.backend, store.container)
    parsed = sorted((i.parsed.name, i.parsed.partition, i.size) for i in inventory.items)
    assert parsed == [("photos-0.7z", "photos-a", 10), ("photos-1.7z", "photos-a", 2 * MIB + 1)]
    result = reconcile(inventory, catalog)
    assert len(result.seen) == 2 and not (result.missing or result.mismatched or result.unknown)
    for name in names:
        assert catalog.latest_verification(f"archive:{name}", INVENTORY_SEEN).ok
    record = catalog.get_job(job.job_id)
    assert record.status == "Fetched" and record.output_path == str(out)


@pytest.mark.parametrize("backend", ["glacier"])
def test_jobs_in_progress_are_listed_and_not_fetched(standin, store, tmp_path: Path) -> None:
    src = tmp_path / "slow.bin"
    write_random(src, 1000)
    stored = store.upload(src)
    standin.set_options(job_delay_s=600)
    inventory = store.request_inventory()
    retrieval = store.request_retrieval(stored.remote_id, "Bulk")
    listed = {j.job_id: j for j in store.list_jobs()}
    assert listed[inventory.job_id].status == "InProgress"
    assert listed[retrieval.job_id].kind == "retrieval"
    assert listed[retrieval.job_id].target == stored.remote_id
    with pytest.raises(JobNotReady, match="take hours"):
        store.fetch_job_output(retrieval.job_id, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize("backend", ["s3"])
def test_s3_restore_in_progress_is_not_fetched(standin, store, tmp_path: Path) -> None:
    src = tmp_path / "deep.bin"
    write_random(src, 1000)
    stored = store.upload(src)
    assert store.head(stored.remote_id).storage_class == "DEEP_ARCHIVE"
    standin.set_options(job_delay_s=600)
    job = store.request_retrieval(stored.remote_id, "Standard", days=3)
    assert job.status == "InProgress" and job.job_id == f"restore:{stored.remote_id}"
    assert store.head(stored.remote_id).restore == "ongoing"
    again = store.request_retrieval(stored.remote_id, "Standard")  # 409: already running
    assert again.status == "InProgress"
    with pytest.raises(JobNotReady, match="not readable yet"):
        store.fetch_job_output(job.job_id, tmp_path / "out.bin")
    assert [j.job_id for j in store.list_jobs()] == [job.job_id]


def test_corrupted_download_is_fetched_again(standin, store, tmp_path: Path) -> None:
    src = tmp_path / "fragile.bin"
    data = write_random(src, 3 * MIB)
    stored = store.upload(src, part_size=MIB)
    job = store.request_retrieval(stored.remote_id, "Expedited" if store.backend == "glacier" else "Bulk")
    op = "GetJobOutput" if store.backend == "glacier" else "GetObject"
    standin.corrupt(op, 1)
    out = tmp_path / "out.bin"
    fetched = store.fetch_job_output(job.job_id, out)
    assert out.read_bytes() == data and fetched.verified
    assert standin.counters()["corrupted"] == 1
    standin.corrupt(op, 100)
    out2 = tmp_path / "out2.bin"
    with pytest.raises(ChecksumMismatch, match="nothing was written"):
        store.fetch_job_output(job.job_id, out2)
    standin.corrupt(op, 0)
    assert not out2.exists() and not list(tmp_path.glob(".out2.bin.*"))


def test_byte_range_of_a_retrieval(store, tmp_path: Path) -> None:
    src = tmp_path / "ranged.bin"
    data = write_random(src, 3 * MIB + 5)
    stored = store.upload(src, part_size=MIB)
    job = store.request_retrieval(stored.remote_id, "Expedited" if store.backend == "glacier" else "Bulk")
    out = tmp_path / "part.bin"
    fetched = store.fetch_job_output(job.job_id, out, byte_range=(MIB, 3 * MIB + 5))
    assert out.read_bytes() == data[MIB:]
    if store.backend == "glacier":
        assert fetched.verified  # a MiB-aligned range comes with its tree hash


@pytest.mark.parametrize("bad", [(5, 5), (-1, 10), (10, 3)])
def test_an_empty_or_negative_byte_range_is_refused_before_the_service_is_asked(store, tmp_path, bad) -> None:
    with pytest.raises(UsageError, match="byte range .* is empty or negative"):
        store.fetch_job_output("no-such-job", tmp_path / "out.bin", byte_range=bad)  # not a job either
    assert not (tmp_path / "out.bin").exists()


def test_reconcile_reports_pending_and_unknown(store, catalog, tmp_path: Path) -> None:
    src = tmp_path / "late.bin"
    write_random(src, 100)
    store.upload(src)
    if store.backend == "glacier":
        other = store.client.upload_archive(vaultName=store.container, archiveDescription="by hand",
                                            body=b"not icefloe's")
        foreign = other["archiveId"]
    else:
        foreign = store.key_for("by-hand")
        store.client.put_object(Bucket=store.container, Key=foreign, Body=b"not icefloe's")
    job = store.request_inventory()
    out = tmp_path / "inv.json"
    store.fetch_job_output(job.job_id, out)
    doc = json.loads(out.read_text())
    doc["ArchiveList"] = [a for a in doc["ArchiveList"] if a["ArchiveId"] == foreign]
    doc["InventoryDate"] = "2000-01-01T00:00:00Z"  # taken before the upload: it cannot show it
    result = reconcile(parse_inventory(json.dumps(doc).encode()), catalog)
    assert [c.archive_name for c in result.pending] == ["late.bin"]
    assert [i.remote_id for i in result.unknown] == [foreign]
    assert result.unknown[0].parsed is None
