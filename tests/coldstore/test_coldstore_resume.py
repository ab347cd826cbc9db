"""Resume: a killed upload, run again, sends only what the service lacks and leaves one archive."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from coldstore_helpers import (
    MIB,
    Crash,
    CrashAfter,
    PYTHON,
    cli_env,
    create_container,
    retrieve,
    write_config,
    write_random,
)

from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from icefloe.errors import FileChanged

CLI = "import sys\nfrom icefloe.cli import main\nmain(sys.argv[1:])"


def server_parts(store, upload) -> int:
    if store.backend == "glacier":
        answer = store.client.list_parts(vaultName=store.container, uploadId=upload.upload_id)
    else:
        answer = store.client.list_parts(Bucket=store.container, Key=upload.key, UploadId=upload.upload_id)
    return len(answer.get("Parts", []))


def recorded_parts(catalog_path: Path) -> int:
    """Parts the child recorded, read without opening a Catalog (which would race the child's
    first open of a fresh catalog)."""
    if not catalog_path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT count(*) FROM upload_parts").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or busy
        return 0


def wait_for_parts(catalog_path: Path, at_least: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        if recorded_parts(catalog_path) >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {at_least} parts recorded within {timeout} s")


def slow_upload(standin, args: list[str], catalog_path: Path, parts: int) -> subprocess.Popen:
    """Start an upload child against a slow stand-in; returns once it recorded ``parts``."""
    standin.set_options(latency_ms=150)
    proc = subprocess.Popen(args, env=cli_env(standin), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_parts(catalog_path, parts, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def settled_parts(store, upload) -> int:
    """Parts the service holds once requests the dead process had already sent are handled."""
    before = -1
    while True:
        now = server_parts(store, upload)
        if now == before:
            return now
        before = now
        time.sleep(0.5)


def test_kill_9_midway_then_rerun(standin, backend, coldcfg, tmp_path: Path) -> None:
    cfg = coldcfg.model_copy(update={"concurrency": 2, "part_size_mib": 1})
    create_container(cfg)
    config = write_config(tmp_path, cfg)
    src = tmp_path / "killed.bin"
    size = 24 * MIB + 5 if backend == "glacier" else 45 * MIB + 5  # 25 parts / 10 parts of 5 MiB
    data = write_random(src, size)
    parts_total = -(-size // (MIB if backend == "glacier" else 5 * MIB))
    catalog_path = tmp_path / "work" / "catalog.sqlite"
    args = [PYTHON, "-c", CLI, "-c", str(config), "upload", str(src), "--json"]

    proc = slow_upload(standin, args, catalog_path, 3)
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    standin.set_options(latency_ms=0)

    with Catalog.open(catalog_path) as catalog:
        store = open_coldstore(cfg, catalog)
        (open_upload,) = store.list_uploads()
        assert open_upload.local_path == str(src.resolve())
        held = settled_parts(store, open_upload)
        assert 3 <= held < parts_total
        assert catalog.copies() == []

    standin.reset_counters()
    rerun = subprocess.run(args, env=cli_env(standin), capture_output=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr.decode()
    result = json.loads(rerun.stdout)
    ops = standin.counters()["operations"]
    part_op = "glacier.UploadMultipartPart" if backend == "glacier" else "s3.UploadPart"
    create_op = "glacier.InitiateMultipartUpload" if backend == "glacier" else "s3.CreateMultipartUpload"
    complete_op = "glacier.CompleteMultipartUpload" if backend == "glacier" else "s3.CompleteMultipartUpload"
    # Only the parts the service lacked went out again, into the same upload.
    assert ops.get(part_op) == parts_total - held
    assert ops.get(create_op, 0) == 0 and ops.get(complete_op) == 1
    assert (result["parts_reused"], result["parts_sent"]) == (held, parts_total - held)

    with Catalog.open(catalog_path) as catalog:
        store = open_coldstore(cfg, catalog)
        assert store.list_uploads() == []
        (copy,) = catalog.copies()
        assert copy.remote_id == result["archive_id"]
        assert [u.state for u in catalog.uploads(state=None)] == ["completed"]
        if backend == "s3":
            keys = store.client.list_objects_v2(Bucket=cfg.bucket).get("KeyCount")
            assert keys == 1
        assert retrieve(store, _stored(result, copy), tmp_path / "back") == data


def _stored(result: dict, copy):
    from icefloe.coldstore import StoredArchive

    return StoredArchive(
        backend=copy.backend, container=copy.container, remote_id=result["archive_id"],
        size=result["size"], sha256=result["sha256"], description=copy.description,
        part_size=result["part_size"],
    )


@pytest.mark.parametrize("backend", ["glacier"])
def test_vault_resume_in_process_sends_each_part_once(standin, store, catalog, tmp_path: Path) -> None:
    src = tmp_path / "crash.bin"
    data = write_random(src, 10 * MIB + 3)
    with pytest.raises(Crash):
        store.upload(src, part_size=MIB, concurrency=2, progress=CrashAfter(4 * MIB))
    (record,) = catalog.uploads()
    recorded = len(catalog.parts(record.upload_id))
    assert 3 <= recorded < 11
    stored = store.upload(src, part_size=MIB, concurrency=2)
    assert stored.parts_reused >= recorded and stored.parts_reused + stored.parts_sent == 11
    ranges = [p["range"] for p in standin.counters()["vault_parts"]]
    assert len(ranges) == len(set(ranges)) == 11  # every range stored exactly once
    assert retrieve(store, stored, tmp_path / "back") == data


@pytest.mark.parametrize("backend", ["glacier"])
def test_vault_resume_notices_a_file_changed_between_runs(store, catalog, tmp_path: Path) -> None:
    src = tmp_path / "sneaky.bin"
    write_random(src, 6 * MIB)
    with pytest.raises(Crash):
        store.upload(src, part_size=MIB, concurrency=1, progress=CrashAfter(3 * MIB))
    st = os.stat(src)
    with open(src, "r+b") as f:  # rewrite the first part, then put the old mtime back
        f.write(b"\0" * 100)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(FileChanged):
        store.upload(src, part_size=MIB, concurrency=1)
    assert store.list_uploads() == [] and catalog.copies() == []
    assert [u.state for u in catalog.uploads(state=None)] == ["aborted"]


@pytest.mark.parametrize("backend", ["glacier"])
def test_vault_resume_after_the_service_dropped_the_upload(store, catalog, tmp_path: Path) -> None:
    src = tmp_path / "expired.bin"
    data = write_random(src, 3 * MIB)
    with pytest.raises(Crash):
        store.upload(src, part_size=MIB, concurrency=1, progress=CrashAfter(MIB))
    (record,) = catalog.uploads()
    store.client.abort_multipart_upload(vaultName=store.container, uploadId=record.upload_id)
    stored = store.upload(src, part_size=MIB)  # AWS drops uploads idle for 24 h: start afresh
    assert stored.parts_reused == 0 and stored.parts_sent == 3
    assert catalog.uploads() == []
    assert retrieve(store, stored, tmp_path / "back") == data
