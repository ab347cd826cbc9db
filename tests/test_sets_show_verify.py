"""`icefloe sets show` and `sets verify` on a real set: 7z volumes, disc images, S3 copies."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import boto3
import pytest

from helpers import invoke
from icefloe.catalog import INVENTORY_SEEN, TESTZIP, Catalog
from icefloe.config import load_settings
from icefloe.fsutil import _unlocked

PASSWORD = "correct horse"


@pytest.fixture
def made(workspace: Path, standin, monkeypatch, capsys) -> dict:
    """A partition consolidated into two volumes, imaged, and stored in a fresh bucket."""
    bucket = f"sets-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=standin.url).create_bucket(Bucket=bucket)
    with (workspace / "icefloe.toml").open("a") as f:
        f.write(f'volume_size_mib = 1\n[coldstore]\nbackend = "s3"\nbucket = "{bucket}"\n'
                "catalog_snapshots = false\n")
    monkeypatch.setenv("ICEFLOE_ARCHIVE_PASSWORD", PASSWORD)
    monkeypatch.chdir(workspace)
    part = workspace / "photos-a"
    for i in range(6):
        path = part / "dcim" / f"img{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(300_000))
        os.utime(path, (1_600_000_000 + 86400 * i, 1_600_000_000 + 86400 * i))
    code, out, err = invoke(capsys, "consolidate", "photos-a", "--json")
    assert code == 0, err
    result = json.loads(out)
    name = result["set"]
    code, out, err = invoke(capsys, "iso", name, "--json")
    assert code == 0, err
    volumes = [Path(v["path"]) for v in result["volumes"]]
    assert len(volumes) >= 2
    for volume in volumes:
        code, out, err = invoke(capsys, "upload", str(volume))
        assert code == 0, err
    settings = load_settings(workspace / "icefloe.toml", {})
    return {"name": name, "volumes": volumes, "bucket": bucket, "settings": settings, "url": standin.url}


def test_show_lists_files_volumes_discs_copies_and_clear_state(made, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    name = made["name"]
    code, out, err = invoke(capsys, "sets", "show", name, "--json", "--files")
    assert code == 0, err
    data = json.loads(out)
    assert data["version"] == 1 and data["name"] == name and data["files"] == 6
    assert data["total_bytes"] == 6 * 300_000 and (data["oldest"], data["newest"]) == ("2020-09-13", "2020-09-18")
    assert len(data["file_list"]) == 6 and all(e["kind"] == "file" for e in data["file_list"])
    assert [v["local"] for v in data["volumes"]] == [True] * len(made["volumes"])
    assert all(v["testzip"]["ok"] for v in data["volumes"])
    count = len(data["discs"])
    assert [d["label"] for d in data["discs"]] == [f"{name}, disc {i} of {count}" for i in range(1, count + 1)]
    assert data["discs"][0]["volume_id"] and len(data["discs"][0]["volume_id"]) <= 16
    assert data["discs"][0]["verified"]["ok"] is True and data["discs"][0]["last_check_at"] is None
    assert len(data["copies"]) == len(made["volumes"])
    assert all(c["backend"] == "s3" and c["server_checksum"]["ok"] for c in data["copies"])
    assert data["cleared_at"] is None and data["state"] in ("imaged", "stored")

    code, out, err = invoke(capsys, "sets", "show", name)
    assert code == 0, err
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert f"files: 6 (1.7 MiB), modified 2020-09-13 to 2020-09-18" in out
    assert "not cleared yet" in out and "cold storage" in out

    code, out, err = invoke(capsys, "sets", "show", "no-such-set")
    assert code == 2 and "no archive set 'no-such-set'" in err and "Traceback" not in err


def test_verify_checks_and_records_every_copy_then_finds_damage(made, capsys) -> None:
    name, settings = made["name"], made["settings"]
    code, out, err = invoke(capsys, "sets", "verify", name, "--json")
    assert code == 0, err
    checks = json.loads(out)["checks"]
    kinds = sorted({c["check"] for c in checks})
    assert kinds == ["disc", "head", "testzip"] and all(c["status"] == "ok" for c in checks)
    assert sum(c["check"] == "head" for c in checks) == len(made["volumes"])
    with Catalog.open(settings.catalog_path) as catalog:
        first = catalog.archives(set_name=name)[0]
        seen = catalog.latest_verification(f"archive:{first.name}", INVENTORY_SEEN)
        assert seen.ok and "confirmed by HEAD" in seen.detail
        assert [c.ok for c in catalog.disc_checks()] == [True] * len(catalog.images(name))

    # One flipped byte in a local volume, one object gone from the bucket.
    volume = made["volumes"][0]
    data = bytearray(volume.read_bytes())
    data[len(data) // 2] ^= 0xFF
    volume.write_bytes(bytes(data))
    s3 = boto3.client("s3", endpoint_url=made["url"])
    with Catalog.open(settings.catalog_path) as catalog:
        gone = catalog.copies(catalog.archives(set_name=name)[-1].name)[0]
    s3.delete_object(Bucket=made["bucket"], Key=gone.remote_id)
    code, out, err = invoke(capsys, "sets", "verify", name)
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"icefloe: {name}: ") and "failed" in err
    lines = out.splitlines()
    assert any(line.startswith("FAILED  testzip") for line in lines)
    assert any(line.startswith("FAILED  head") for line in lines) and "not found by HEAD" in " ".join(out.split())
    assert all(len(line) <= 80 for line in lines)
    with Catalog.open(settings.catalog_path) as catalog:
        assert catalog.latest_verification(f"archive:{first.name}", TESTZIP).ok is False
        assert catalog.latest_verification(f"archive:{gone.archive_name}", INVENTORY_SEEN).ok is False
        code, out, err = invoke(capsys, "sets", "show", name, "--json")
        assert json.loads(out)["state"] == "consolidated"  # a failed testzip reopens the gates


def test_verify_interrupted_midway_holds_nothing_and_a_rerun_finishes(made, capsys, monkeypatch) -> None:
    import icefloe.disc.check as check

    name, settings = made["name"], made["settings"]
    with Catalog.open(settings.catalog_path) as catalog:
        images = [Path(i.path) for i in catalog.images(name)]
        tested_before = len([v for v in catalog.verifications() if v.kind == TESTZIP])
    real_run = check.subprocess.run

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while par2 reads the first disc image

    monkeypatch.setattr(check.subprocess, "run", killed)
    code, out, err = invoke(capsys, "sets", "verify", name)
    assert code == 130 and "run the same command again" in err
    assert all(_unlocked(p) for p in images + made["volumes"])  # no read lock left behind
    with Catalog.open(settings.catalog_path) as catalog:
        assert catalog.disc_checks() == []  # half a disc check is never recorded
    monkeypatch.setattr(check.subprocess, "run", real_run)
    code, out, err = invoke(capsys, "sets", "verify", name, "--json")
    assert code == 0, err
    with Catalog.open(settings.catalog_path) as catalog:
        assert len(catalog.disc_checks()) == len(images)  # each disc once, none twice
        tested = len([v for v in catalog.verifications() if v.kind == TESTZIP])
        assert tested == tested_before + 2 * len(made["volumes"])  # the interrupted run's, then the rerun's
        assert all(v.ok for v in catalog.verifications() if v.kind == TESTZIP)


def test_clean_after_clear_then_verify_skips_what_is_gone(made, capsys) -> None:
    name, settings = made["name"], made["settings"]
    with Catalog.open(settings.catalog_path) as catalog:
        catalog.mark_set_cleared(name)
    code, out, err = invoke(capsys, "clean", "--json")
    assert code == 0, err
    removed = json.loads(out)["removed"]
    assert {f["kind"] for f in removed} == {"volume", "image"} and not any(v.exists() for v in made["volumes"])
    code, out, err = invoke(capsys, "sets", "verify", name, "--json")
    assert code == 0, err
    by = {}
    for c in json.loads(out)["checks"]:
        by.setdefault(c["check"], set()).add(c["status"])
    assert by == {"testzip": {"skipped"}, "head": {"ok"}, "disc": {"skipped"}}
    code, out, err = invoke(capsys, "sets", "show", name)
    assert "its files are cleaned from work_dir" in " ".join(out.split())


def test_verify_reads_vault_copies_from_the_newest_inventory(tmp_path: Path) -> None:
    from icefloe.catalog import ArchiveRecord, ArchiveSet, CopyRecord, JobRecord
    from icefloe.setcheck import verify_set

    def no_store(backend: str, container: str):  # a vault is never asked: its inventory decides
        raise AssertionError(f"asked {backend} {container}")

    with Catalog.open(tmp_path / "catalog.sqlite") as catalog:
        catalog.put_archive_set(ArchiveSet("set-v", "photos-a", 4, 4000, False))
        stored = {"v1": ("id-1", 100, "t1"), "v2": ("id-2", 200, "t2"), "v3": ("id-3", 300, "t3"),
                  "v4": ("id-4", 400, "t4")}
        for i, (name, (remote, size, tree)) in enumerate(stored.items(), start=1):
            catalog.put_archive(ArchiveRecord(name, "set-v", "photos-a", size, "sha", i, 4))  # no local file
            when = "2026-11-01T00:00:00+00:00" if name != "v4" else "2026-11-20T00:00:00+00:00"
            catalog.put_copy(CopyRecord("glacier", "family", remote, "{}", size, name, tree_hash=tree,
                                        created_at=when))
        assert {c.check: c.status for c in verify_set(catalog, "set-v", password=None, store_for=no_store)} \
            == {"testzip": "skipped", "inventory": "skipped"}  # no inventory fetched yet: nothing said
        assert catalog.latest_verification("archive:v1", INVENTORY_SEEN) is None

        inventory = tmp_path / "inventory.json"
        inventory.write_text(json.dumps({
            "VaultARN": "arn:aws:glacier:us-east-1:1:vaults/family", "InventoryDate": "2026-11-10T00:00:00Z",
            "ArchiveList": [
                {"ArchiveId": "id-1", "Size": 100, "SHA256TreeHash": "t1", "CreationDate": "2026-11-01T00:00:00Z"},
                {"ArchiveId": "id-2", "Size": 999, "SHA256TreeHash": "t2", "CreationDate": "2026-11-01T00:00:00Z"},
            ]}))
        catalog.put_job(JobRecord("job-1", "glacier", "family", "inventory", "Fetched", output_path=str(inventory)))
        lines = {c.subject: c for c in verify_set(catalog, "set-v", password=None, store_for=no_store)
                 if c.check == "inventory"}
    assert {k: v.status for k, v in lines.items()} == {"v1": "ok", "v2": "FAILED", "v3": "FAILED", "v4": "skipped"}
    assert "size 999" in lines["v2"].detail and "not in the vault inventory" in lines["v3"].detail
    assert not lines["v4"].recorded  # stored after the inventory was taken: it may simply not show yet
    with Catalog.open(tmp_path / "catalog.sqlite") as catalog:
        assert catalog.latest_verification("archive:v1", INVENTORY_SEEN).ok
        assert not catalog.latest_verification("archive:v2", INVENTORY_SEEN).ok
        assert not catalog.latest_verification("archive:v3", INVENTORY_SEEN).ok
        assert catalog.latest_verification("archive:v4", INVENTORY_SEEN) is None
