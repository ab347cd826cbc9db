"""The burned-house test: icefloe.toml, the password and the cold store bring everything back.

A short season of archive-and-clear with encryption on; then the home server is gone: the
catalog, the work folder and both partitions are deleted (the offsite mirror survives, it is
elsewhere). ``catalog rebuild`` brings the catalog back from the newest snapshot as it was
before the fire, ``find`` answers at once, and every set restores byte for byte with its
mtimes. Without the snapshot the inventory alone still brings back every set and archive.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest

from helpers import icefloe, sha_hex
from season import LABELS, SEASON_DAYS, Season

PASSWORD = "correct horse battery staple"


def catalog_view(season: Season) -> dict:
    """What a person relies on: each set, cleared or not, its counts and archives; the active one."""
    from icefloe.partitions import active_partition

    with season.catalog() as catalog:
        sets = {
            s.name: (s.partition_label, s.cleared_at is not None, s.file_count, s.total_bytes, s.encrypted,
                     tuple(sorted((a.name, a.size, a.sha256) for a in catalog.archives(set_name=s.name))),
                     len(catalog.manifest(s.name)))
            for s in catalog.archive_sets()
        }
        return {"sets": sets, "active": active_partition(catalog, season.settings())}


def burn(season: Season) -> None:
    shutil.rmtree(season.root / "work")
    for label in LABELS:
        shutil.rmtree(season.root / label)


def delete_snapshots(season: Season) -> int:
    from icefloe.coldstore.description import parse_description
    from icefloe.snapshot import is_snapshot_name

    if season.backend == "s3":
        s3 = boto3.client("s3", endpoint_url=season.standin.url)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=season.container, Prefix="catalog/").get("Contents", [])]
        for key in keys:
            s3.delete_object(Bucket=season.container, Key=key)
        return len(keys)
    glacier = boto3.client("glacier", endpoint_url=season.standin.url)
    job = glacier.initiate_job(vaultName=season.container, jobParameters={"Type": "inventory-retrieval"})
    body = json.loads(glacier.get_job_output(vaultName=season.container, jobId=job["jobId"])["body"].read())
    ids = [a["ArchiveId"] for a in body["ArchiveList"]
           if (d := parse_description(a["ArchiveDescription"])) is not None and is_snapshot_name(d.name)]
    for archive_id in ids:
        glacier.delete_archive(vaultName=season.container, archiveId=archive_id)
    return len(ids)


@pytest.mark.parametrize("backend", ["s3", "glacier"])
def test_after_a_fire_the_catalog_and_every_photo_come_back(prefect_harness, standin, tmp_path: Path,
                                                             backend: str) -> None:
    from prefect.settings import PREFECT_API_URL

    season = Season.create(tmp_path, backend, standin, PREFECT_API_URL.value(), 11, password=PASSWORD)
    season.kill_rate = season.fault_rate = 0.0
    season.retried = True  # no failed run here: the season test has that
    for day in range(SEASON_DAYS):
        season.day(day)
    season.drain()
    before = catalog_view(season)
    cleared = [name for name, view in before["sets"].items() if view[1]]
    assert cleared, f"the season cleared no set: {season.log}"

    burn(season)
    assert season.icefloe("status").returncode == 0  # partitions gone: status still answers
    # A vault lists a snapshot only in an inventory taken after it (about a day on AWS; at once
    # on the stand-in), so the vault's rebuild asks for a fresh one.
    fresh = ("--fresh",) if backend == "glacier" else ()
    rebuilt = season.icefloe("catalog", "rebuild", "--wait", "--json", *fresh)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["snapshot"]["name"], rebuilt.stdout
    assert catalog_view(season) == before

    first_set = sorted(before["sets"])[0]
    with season.catalog() as catalog:
        photo = next(e.path for e in catalog.manifest(first_set) if e.kind == "file")
    found = season.icefloe("find", Path(photo).name, "--json")
    assert found.returncode == 0, found.stderr
    assert [loc["set_name"] for loc in json.loads(found.stdout)] == [first_set]

    out = tmp_path / "restored"
    for name in sorted(before["sets"]):
        done = season.icefloe("restore", name, "--to", str(out / name), "--yes", "--wait", "--json")
        assert done.returncode == 0, (name, done.stderr)
    restored = 0
    for rel, (label, sha) in season.photos.items():
        copies = [out / name / rel for name in before["sets"] if (out / name / rel).exists()]
        mirrored = season.root / "offsite" / label / rel
        if copies:
            assert len(copies) == 1, rel
            assert sha_hex(copies[0].read_bytes()) == sha and copies[0].stat().st_mtime_ns == season.mtimes[rel]
            restored += 1
        else:  # never archived: the offsite mirror holds it
            assert sha_hex(mirrored.read_bytes()) == sha, rel
    assert restored >= len(season.photos) // 2

    # A new machine: no icefloe.toml at all, only the bucket or vault name and the password.
    machine = tmp_path / "new-machine"
    machine.mkdir()
    env = {k: v for k, v in season.env().items() if k != "ICEFLOE_CONFIG"}
    where = ("--bucket", season.container) if backend == "s3" else ("--vault", season.container)
    recovered = icefloe("recover", *where, "--to", "everything", "--yes", "--wait", *fresh, cwd=machine, env=env,
                        drop=("ICEFLOE_CONFIG",), timeout=600)
    assert recovered.returncode == 0, recovered.stderr
    assert (machine / "icefloe.toml").exists()
    # The cost and time of retrieving everything, first (jobs still valid are reused instead).
    assert "retrieving " in recovered.stderr or "no retrieval to start: " in recovered.stderr
    for rel, (label, sha) in season.photos.items():
        copies = list((machine / "everything").glob(f"*/{rel}"))
        if copies:
            assert sha_hex(copies[0].read_bytes()) == sha and copies[0].stat().st_mtime_ns == season.mtimes[rel]
    assert sum(1 for rel in season.photos if list((machine / "everything").glob(f"*/{rel}"))) == restored

    # Without any snapshot the inventory alone brings back every set and archive.
    assert delete_snapshots(season) >= 1
    season.settings().catalog_path.unlink()
    shutil.rmtree(season.root / "work")
    again = season.icefloe("catalog", "rebuild", "--wait", "--json", *fresh)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["snapshot"]["name"] is None
    thin = catalog_view(season)["sets"]
    assert {n: v[5] for n, v in thin.items()} == {n: v[5] for n, v in before["sets"].items()}


def test_a_wrong_password_is_one_line_and_changes_nothing(prefect_harness, standin, tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    season = Season.create(tmp_path, "s3", standin, PREFECT_API_URL.value(), 12, password=PASSWORD)
    season.kill_rate = season.fault_rate = 0.0
    season.retried = True
    for day in range(4):
        season.day(day)
    season.drain()
    burn(season)
    season.password = "not the password"
    wrong = season.icefloe("catalog", "rebuild", "--wait")
    lines = [line for line in wrong.stderr.splitlines() if line.strip()]
    assert wrong.returncode != 0 and len(lines) == 1 and "password" in lines[0], wrong.stderr
    assert "Traceback" not in wrong.stderr
    with season.catalog() as catalog:
        assert catalog.archive_sets() == []  # nothing half-merged
