"""Ranged, verified, resumable downloads of retrieved archives, against the stand-in."""

from __future__ import annotations

import hashlib
import json
import random
import zlib
from pathlib import Path

import pytest
from restore_helpers import FAST, MIB, coldstore_config, create_container

from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from icefloe.errors import ChecksumMismatch, Transient
from icefloe.restore import download_job_output
from icefloe.restore.download import journal_path, partial_path
from icefloe.treehash import tree_hash

SIZE = 5 * MIB + 4321  # six 1 MiB ranges, the last one short


@pytest.fixture
def retrieved(standin, backend: str, tmp_path: Path):
    """An archive uploaded and retrieved: (store, job id, its bytes)."""
    data = random.Random(11).randbytes(SIZE)
    src = tmp_path / "archive.7z.001"
    src.write_bytes(data)
    cfg = coldstore_config(backend)
    create_container(cfg, standin.url)
    catalog = Catalog.open(tmp_path / "catalog.sqlite")
    store = open_coldstore(cfg, catalog, endpoint_url=standin.url)
    stored = store.upload(src)
    job = store.request_retrieval(stored.remote_id, "Expedited" if backend == "glacier" else "Bulk")
    yield store, job.job_id, data
    catalog.close()


def _download(store, job_id: str, dest: Path, data: bytes, **changes):
    return download_job_output(
        store, job_id, dest, size=len(data), identity="sha256:" + hashlib.sha256(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(), tree_hash=tree_hash(data) if store.backend == "glacier" else None,
        options=FAST.with_changes(**changes),
    )


def _gets(standin, backend: str) -> int:
    return standin.counters()["operations"].get("glacier.GetJobOutput" if backend == "glacier" else "s3.GetObject", 0)


def test_a_corrupted_range_is_detected_and_only_that_range_fetched_again(standin, retrieved, backend, tmp_path):
    store, job_id, data = retrieved
    standin.reset_counters()
    standin.corrupt("GetJobOutput" if backend == "glacier" else "GetObject", 1)
    got = _download(store, job_id, tmp_path / "out" / "archive.7z.001", data)
    assert (tmp_path / "out" / "archive.7z.001").read_bytes() == data
    assert standin.counters()["corrupted"] == 1
    assert got.ranges == 6 and got.resumed == 0
    if backend == "glacier":
        # The range's bytes disagreed with the tree hash the vault sent with them: one more GET.
        assert _gets(standin, backend) == 6 + 1 and got.refetched == 0
    else:
        # S3 sends no checksum for a range: the whole file's SHA-256 catches it, and every
        # range (none vouched for) is fetched once more.
        assert _gets(standin, backend) == 6 + 6 and got.refetched == 6
    assert not partial_path(Path(got.path)).exists() and not journal_path(Path(got.path)).exists()


class Flaky:
    """A cold store whose connection drops on the n-th range request."""

    def __init__(self, store, fail_on: int) -> None:
        self.store, self.fail_on, self.calls = store, fail_on, 0

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    def fetch_job_range(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.fail_on:
            raise Transient("the connection dropped; run it again to resume")
        return self.store.fetch_job_range(*args, **kwargs)


def test_an_interrupted_download_resumes_with_only_the_missing_ranges_even_under_a_new_job(
    standin, retrieved, backend, tmp_path
):
    store, job_id, data = retrieved
    dest = tmp_path / "out" / "archive.7z.001"
    with pytest.raises(Transient):
        _download(Flaky(store, 3), job_id, dest, data, download_concurrency=1)
    journal = json.loads(journal_path(dest).read_text())
    assert journal["format"] == "icefloe-download-journal" and journal["version"] == 1
    assert [r["start"] for r in journal["ranges"]] == [0, MIB]
    # A vault range is recorded by its tree hash; an S3 range, which comes with no checksum, by a CRC32.
    for item, chunk in zip(journal["ranges"], (data[:MIB], data[MIB:2 * MIB]), strict=True):
        if backend == "glacier":
            assert item["tree_hash"] == tree_hash(chunk) and item.get("crc32") is None
        else:
            assert item["tree_hash"] is None and item["crc32"] == f"{zlib.crc32(chunk):08x}"
    assert not dest.exists()
    # The job expired meanwhile: a new retrieval of the same archive continues the download.
    target = store.describe_job(job_id).target
    new_job = store.request_retrieval(target, "Expedited" if backend == "glacier" else "Bulk").job_id
    standin.reset_counters()
    got = _download(store, new_job, dest, data)
    assert dest.read_bytes() == data
    assert (got.resumed, got.fetched, _gets(standin, backend)) == (2, 4, 4)


def test_bytes_damaged_on_disk_after_they_were_recorded_are_fetched_again(standin, retrieved, backend, tmp_path):
    store, job_id, data = retrieved
    dest = tmp_path / "out" / "archive.7z.001"
    with pytest.raises(Transient):
        _download(Flaky(store, 4), job_id, dest, data, download_concurrency=1)
    with open(partial_path(dest), "r+b") as handle:  # a bad sector under range 1
        handle.seek(MIB + 10)
        handle.write(bytes([data[MIB + 10] ^ 0xFF]))
    standin.reset_counters()
    got = _download(store, job_id, dest, data)
    assert dest.read_bytes() == data
    # 3 missing ranges, then the one found changed on disk.
    assert (got.resumed, got.refetched, _gets(standin, backend)) == (3, 1, 4)


def test_a_journal_of_other_bytes_is_not_trusted(standin, retrieved, backend, tmp_path):
    store, job_id, data = retrieved
    dest = tmp_path / "out" / "archive.7z.001"
    with pytest.raises(Transient):
        _download(Flaky(store, 3), job_id, dest, data, download_concurrency=1)
    doc = json.loads(journal_path(dest).read_text())
    doc["identity"] = "sha256:" + "0" * 64
    journal_path(dest).write_text(json.dumps(doc))
    standin.reset_counters()
    got = _download(store, job_id, dest, data)
    assert dest.read_bytes() == data and got.resumed == 0 and _gets(standin, backend) == 6


def test_bytes_that_never_match_the_record_are_refused_and_nothing_is_kept(standin, retrieved, backend, tmp_path):
    store, job_id, data = retrieved
    dest = tmp_path / "out" / "archive.7z.001"
    wrong = hashlib.sha256(b"another archive").hexdigest()
    with pytest.raises(ChecksumMismatch, match="SHA-256"):
        download_job_output(store, job_id, dest, size=len(data), identity="x", sha256=wrong, options=FAST)
    assert not dest.exists() and not partial_path(dest).exists() and not journal_path(dest).exists()


def test_each_range_is_one_request_after_one_look_at_the_job(standin, retrieved, backend, tmp_path):
    store, job_id, data = retrieved
    standin.reset_counters()
    got = _download(store, job_id, tmp_path / "out" / "archive.7z.001", data)
    ops = standin.counters()["operations"]
    looks = ops.get("glacier.DescribeJob", 0) + ops.get("s3.HeadObject", 0)
    assert got.ranges == 6 and _gets(standin, backend) == 6
    assert looks == 1  # the job's state once, not before every range
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["archive.7z.001"]


CHILD = """
import sys
from pathlib import Path
from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from icefloe.config import ColdstoreConfig
from icefloe.restore import RestoreOptions, download_job_output
backend, container, catalog, job, dest, size, sha = sys.argv[1:8]
cfg = ColdstoreConfig(backend=backend, vault=container, bucket=container, region="us-east-1")
with Catalog.open(Path(catalog)) as cat:
    download_job_output(open_coldstore(cfg, cat), job, Path(dest), size=int(size), identity="sha256:" + sha,
                        sha256=sha, options=RestoreOptions(range_size=1 << 20, download_concurrency=2))
"""


def test_a_download_killed_midway_resumes_from_its_journal(standin, retrieved, backend, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    store, job_id, data = retrieved
    dest = tmp_path / "out" / "archive.7z.001"
    dest.parent.mkdir()
    sha = hashlib.sha256(data).hexdigest()
    standin.set_options(latency_ms=300)
    env = dict(os.environ, AWS_ENDPOINT_URL=standin.url, AWS_ACCESS_KEY_ID="test",
               AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=store.cfg.region)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, backend, store.container, str(store.catalog.path), job_id, str(dest),
         str(len(data)), sha], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not journal_path(dest).exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "no range was journalled within 60 s"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)  # no cleanup runs
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    standin.set_options(latency_ms=0)
    claimed = json.loads(journal_path(dest).read_text())["ranges"]
    assert 1 <= len(claimed) < 6 and not dest.exists()
    partial = partial_path(dest).read_bytes()
    for item in claimed:  # the journal claims only bytes that reached the partial file
        assert partial[item["start"]:item["end"]] == data[item["start"]:item["end"]]
    standin.reset_counters()
    got = _download(store, job_id, dest, data)
    assert dest.read_bytes() == data
    assert (got.resumed, got.fetched, _gets(standin, backend)) == (len(claimed), 6 - len(claimed), 6 - len(claimed))
    assert sorted(p.name for p in dest.parent.iterdir()) == ["archive.7z.001"]
