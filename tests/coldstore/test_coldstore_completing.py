"""Killed while completing a vault upload: the rerun records the archive the vault made, once.

The kill lands right after CompleteMultipartUpload was answered and before icefloe recorded
the answer: a botocore ``after-call`` hook in the child sends it SIGKILL.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from coldstore_helpers import MIB, PYTHON, cli_env, create_container, retrieve, write_config, write_random

from icefloe.catalog import Catalog
from icefloe.coldstore import JobNotReady, StoredArchive, make_client, open_coldstore
from icefloe.coldstore.vault import COMPLETING

KILLED_AT_COMPLETE = (
    "import os, signal, sys\n"
    "from icefloe.coldstore import vault\n"
    "from icefloe.cli import main\n"
    "made = vault.VaultStore.__init__\n"
    "def init(self, *args, **kwargs):\n"
    "    made(self, *args, **kwargs)\n"
    "    self.client.meta.events.register('after-call.glacier.CompleteMultipartUpload',\n"
    "        lambda **kw: os.kill(os.getpid(), signal.SIGKILL))\n"
    "vault.VaultStore.__init__ = init\n"
    "main(sys.argv[1:])\n"
)
CLI = "import sys, icefloe.cli\nfrom icefloe.cli import main\nmain(sys.argv[1:])"


def vault_archives(cfg) -> list[dict]:
    """Every archive in the vault, from an inventory job the catalog knows nothing of."""
    client = make_client("glacier", cfg)
    job = client.initiate_job(vaultName=cfg.vault, jobParameters={"Type": "inventory-retrieval"})
    out = client.get_job_output(vaultName=cfg.vault, jobId=job["jobId"])
    return json.loads(out["body"].read())["ArchiveList"]


@pytest.fixture
def killed(standin, coldcfg, tmp_path: Path):
    """A vault upload killed with SIGKILL just after the vault answered its Complete."""
    cfg = coldcfg.model_copy(update={"concurrency": 2, "part_size_mib": 1})
    create_container(cfg)
    config = write_config(tmp_path, cfg)
    src = tmp_path / "family-2020.7z"
    data = write_random(src, 3 * MIB + 5)
    run = subprocess.run([PYTHON, "-c", KILLED_AT_COMPLETE, "-c", str(config), "upload", str(src)],
                         env=cli_env(standin), capture_output=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    catalog_path = tmp_path / "work" / "catalog.sqlite"
    with Catalog.open(catalog_path) as catalog:
        (record,) = catalog.uploads(state=None)
        assert record.state == COMPLETING and catalog.copies() == []
    (made,) = vault_archives(cfg)  # the vault did make the archive
    return cfg, config, src, data, catalog_path, record, made


def cli(standin, config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-c", CLI, "-c", str(config), *args], env=cli_env(standin),
                          capture_output=True, timeout=120)


@pytest.mark.parametrize("backend", ["glacier"])
def test_rerun_after_kill_during_complete_records_the_archive(standin, killed, tmp_path) -> None:
    cfg, config, src, data, catalog_path, record, made = killed
    aborted = cli(standin, config, "uploads", "abort", "--", record.upload_id)
    assert aborted.returncode == 2 and f"run `icefloe upload {src}".encode() in aborted.stderr
    standin.reset_counters()
    rerun = cli(standin, config, "upload", str(src), "--json")
    assert rerun.returncode == 0, rerun.stderr.decode()
    result = json.loads(rerun.stdout)
    assert result["archive_id"] == made["ArchiveId"] and result["parts_sent"] == 0
    ops = standin.counters()["operations"]
    # Complete asked again (idempotent), nothing sent, no second upload started.
    assert ops.get("glacier.CompleteMultipartUpload") == 1
    assert not ops.get("glacier.UploadMultipartPart") and not ops.get("glacier.InitiateMultipartUpload")
    assert [a["ArchiveId"] for a in vault_archives(cfg)] == [made["ArchiveId"]]
    with Catalog.open(catalog_path) as catalog:
        (copy,) = catalog.copies()
        assert copy.remote_id == made["ArchiveId"] and copy.tree_hash == made["SHA256TreeHash"]
        assert [(u.state, u.remote_id) for u in catalog.uploads(state=None)] == [
            ("completed", made["ArchiveId"])]
        store = open_coldstore(cfg, catalog)
        assert store.list_uploads() == []
        stored = StoredArchive("glacier", cfg.vault, copy.remote_id, copy.size, result["sha256"],
                               copy.description, MIB)
        assert retrieve(store, stored, tmp_path / "back") == data
    again = cli(standin, config, "upload", str(src), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["already_stored"] is True
    assert len(vault_archives(cfg)) == 1


@pytest.mark.parametrize("backend", ["glacier"])
def test_after_a_rebuild_the_existing_copy_is_found_before_any_resume(standin, killed) -> None:
    cfg, config, src, data, catalog_path, record, made = killed
    rebuilt = cli(standin, config, "catalog", "rebuild", "--wait")
    assert rebuilt.returncode == 0, rebuilt.stderr.decode()
    standin.reset_counters()
    rerun = cli(standin, config, "upload", str(src), "--json")
    assert rerun.returncode == 0, rerun.stderr.decode()
    result = json.loads(rerun.stdout)
    assert result["already_stored"] is True and result["archive_id"] == made["ArchiveId"]
    assert result["remote_check"].startswith("in the vault inventory of")
    ops = standin.counters()["operations"]
    # The catalog's copy (and the fetched inventory) answered: the upload was never asked for.
    assert not ops.get("glacier.ListParts") and not ops.get("glacier.CompleteMultipartUpload")
    assert not ops.get("glacier.UploadMultipartPart")
    with Catalog.open(catalog_path) as catalog:
        assert [(u.state, u.remote_id) for u in catalog.uploads(state=None)] == [
            ("completed", made["ArchiveId"])]
        assert [c.remote_id for c in catalog.copies()] == [made["ArchiveId"]]
    assert len(vault_archives(cfg)) == 1
    code = cli(standin, config, "uploads", "abort", "--", record.upload_id)
    assert code.returncode == 2 and b"no open upload" in code.stderr


@pytest.mark.parametrize("backend", ["glacier"])
def test_once_the_vault_forgot_the_upload_an_inventory_decides(
    standin, killed, monkeypatch, tmp_path
) -> None:
    import icefloe_standin.vault

    cfg, config, src, data, catalog_path, record, made = killed
    # Past AWS's "short period": a repeated Complete no longer answers.
    monkeypatch.setattr(icefloe_standin.vault, "COMPLETE_REPEAT_WINDOW_S", -1.0)
    with Catalog.open(catalog_path) as catalog:
        store = open_coldstore(cfg, catalog)
        with pytest.raises(JobNotReady, match="only an inventory can tell") as exc:
            store.upload(src)
        (job,) = catalog.jobs(pending=True, kind="inventory")
        assert job.job_id in exc.value.message
        with pytest.raises(JobNotReady):  # asking again reuses the pending job
            store.upload(src)
        assert len(catalog.jobs(kind="inventory")) == 1
        store.fetch_job_output(job.job_id, tmp_path / "inventory.json")
        stored = store.upload(src)
        assert stored.remote_id == made["ArchiveId"] and stored.parts_sent == 0
        assert [c.remote_id for c in catalog.copies()] == [made["ArchiveId"]]
        assert [u.state for u in catalog.uploads(state=None)] == ["completed"]
    assert len(vault_archives(cfg)) == 1
