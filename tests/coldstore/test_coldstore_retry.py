"""A failed try leaves its upload open and recorded, and the next try sends only what is missing:
in the same process (a task retry), and after Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError
from coldstore_helpers import MIB, PYTHON, cli_env, create_container, retrieve, write_config, write_random
from test_coldstore_resume import CLI, slow_upload

from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from icefloe.errors import Transient

PART_OP = {"glacier": "glacier.UploadMultipartPart", "s3": "s3.UploadPart"}
CREATE_OP = {"glacier": "glacier.InitiateMultipartUpload", "s3": "s3.CreateMultipartUpload"}


def stored_parts(standin, backend: str) -> Counter:
    """How often the service stored each part (by range or part number)."""
    if backend == "glacier":
        return Counter(p["range"] for p in standin.counters()["vault_parts"])
    return Counter(p["part"] for p in standin.counters()["s3_parts"])


class Unplugged:
    """The network drops after ``ok`` parts went out: every later send fails to connect."""

    def __init__(self, client, method: str, ok: int) -> None:
        self.real = getattr(client, method)
        self.ok = ok
        self.plugged = False

    def __call__(self, **kwargs):
        if not self.plugged:
            if self.ok <= 0:
                raise EndpointConnectionError(endpoint_url="http://unplugged")
            self.ok -= 1
        return self.real(**kwargs)


def test_in_process_failure_then_retry_sends_only_missing_parts(store, catalog, standin, tmp_path) -> None:
    part = MIB if store.backend == "glacier" else 5 * MIB
    src = tmp_path / "volume.7z.001"
    data = write_random(src, 8 * part + 17)  # 9 parts
    method = "upload_multipart_part" if store.backend == "glacier" else "upload_part"
    unplugged = Unplugged(store.client, method, ok=4)
    setattr(store.client, method, unplugged)
    store._sleep = lambda s: None
    with pytest.raises(Transient, match="run it again to resume"):
        store.upload(src, part_size=MIB, concurrency=2)  # S3 makes that its 5 MiB minimum

    (record,) = catalog.uploads("open")  # left open, not aborted
    recorded = len(catalog.parts(record.upload_id))
    assert recorded == 4 and sum(stored_parts(standin, store.backend).values()) == 4
    (listed,) = store.list_uploads()
    assert listed.upload_id == record.upload_id and listed.parts_done == 4

    unplugged.plugged = True
    stored = store.upload(src, part_size=MIB, concurrency=2)
    assert (stored.parts_reused, stored.parts_sent) == (4, 5)
    ops = standin.counters()["operations"]
    assert ops[CREATE_OP[store.backend]] == 1  # the same upload, resumed
    assert set(stored_parts(standin, store.backend).values()) == {1}  # no part stored twice
    assert len(stored_parts(standin, store.backend)) == 9
    assert store.list_uploads() == [] and catalog.uploads("open") == []
    assert retrieve(store, stored, tmp_path / "back") == data


def test_ctrl_c_then_rerun_resumes(standin, backend, coldcfg, tmp_path: Path) -> None:
    cfg = coldcfg.model_copy(update={"concurrency": 2, "part_size_mib": 1})
    create_container(cfg)
    config = write_config(tmp_path, cfg)
    src = tmp_path / "interrupted.bin"
    part = MIB if backend == "glacier" else 5 * MIB  # S3's minimum part
    data = write_random(src, 11 * part + 3)  # 12 parts
    catalog_path = tmp_path / "work" / "catalog.sqlite"
    args = [PYTHON, "-c", CLI, "-c", str(config), "upload", str(src), "--json"]

    proc = slow_upload(standin, args, catalog_path, 3)
    try:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    standin.set_options(latency_ms=0)
    assert proc.returncode == 130, err.decode()
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("icefloe: interrupted: run the same command again"), repr(err.decode())

    with Catalog.open(catalog_path) as catalog:
        (record,) = catalog.uploads("open")
        recorded = len(catalog.parts(record.upload_id))
        store = open_coldstore(cfg, catalog)
        (listed,) = store.list_uploads()  # still open on the service: Ctrl-C aborts nothing
        assert listed.upload_id == record.upload_id
    assert 3 <= recorded < 12

    standin.reset_counters()
    rerun = subprocess.run(args, env=cli_env(standin), capture_output=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr.decode()
    result = json.loads(rerun.stdout)
    assert result["parts_reused"] == recorded and result["parts_sent"] == 12 - recorded
    ops = standin.counters()["operations"]
    assert ops.get(CREATE_OP[backend], 0) == 0 and ops[PART_OP[backend]] == 12 - recorded
    with Catalog.open(catalog_path) as catalog:
        store = open_coldstore(cfg, catalog)
        assert store.list_uploads() == []
        assert [u.state for u in catalog.uploads(state=None)] == ["completed"]
        (copy,) = catalog.copies()
        from icefloe.coldstore import StoredArchive

        stored = StoredArchive(cfg.backend, copy.container, copy.remote_id, copy.size,
                               result["sha256"], copy.description, part)
        assert retrieve(store, stored, tmp_path / "back") == data
