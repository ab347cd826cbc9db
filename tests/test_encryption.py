"""Encryption is never off by accident: no password, an empty one or a wrong one stops every
stage that would write an archive, in one line, before anything is written."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import uuid
from functools import partial
from pathlib import Path

import boto3
import pytest

from helpers import icefloe as run_icefloe
from helpers import one_line_error
from icefloe.catalog import Catalog
from icefloe.config import load_settings
from icefloe.errors import PasswordError
from icefloe.passwords import describe, for_writing, make_verifier, matches

RIGHT, WRONG = "the family password", "the family passw0rd"
# As a person runs it: no archive password or source of ours leaks in from this process.
icefloe = partial(run_icefloe, drop=("ICEFLOE_ARCHIVE",), columns=250)


def everything(root: Path) -> list[str]:
    """Every path under root; SQLite's -wal and -shm come and go with connections."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.name.endswith(("-wal", "-shm")))


def set_rows(workspace: Path) -> list[tuple]:
    path = workspace / "work" / "catalog.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT name, encrypted, password_verifier FROM archive_sets ORDER BY name").fetchall()


@pytest.fixture
def photos(workspace: Path) -> Path:
    part = workspace / "photos-a"
    (part / "2019").mkdir()
    (part / "2019" / "IMG_0001.jpg").write_bytes(os.urandom(100_000))
    (part / "letter.txt").write_text("dear grandma\n" * 500)
    return workspace


def test_the_verifier_never_holds_the_password_and_tells_a_wrong_one() -> None:
    verifier = make_verifier(RIGHT)
    assert RIGHT not in verifier and verifier.startswith("scrypt$15$8$1$")
    assert make_verifier(RIGHT) != verifier  # salted
    assert matches(RIGHT, verifier) and not matches(WRONG, verifier) and not matches("", verifier)


def test_with_encryption_on_a_missing_source_or_password_is_refused(tmp_path: Path) -> None:
    (tmp_path / "icefloe.toml").write_text("[archive]\npassword_env = \"MY_PW\"\n")
    archive = load_settings(tmp_path / "icefloe.toml", {}).archive
    assert for_writing(archive, "pw") == "pw"
    for missing in (None, ""):
        with pytest.raises(PasswordError, match="environment variable MY_PW is unset or empty"):
            for_writing(archive, missing)
    (tmp_path / "icefloe.toml").write_text('[archive]\npassword_env = ""\n')
    sourceless = load_settings(tmp_path / "icefloe.toml", {}).archive
    with pytest.raises(PasswordError, match="neither archive.password_env nor archive.password_secret_block"):
        for_writing(sourceless, "pw")
    assert describe(sourceless) == "encrypted, but no password source is configured (set archive.password_env)"
    (tmp_path / "icefloe.toml").write_text('[archive]\nencrypt = false\n')
    assert for_writing(load_settings(tmp_path / "icefloe.toml", {}).archive, "pw") is None


@pytest.mark.parametrize("env, needle", [
    ({}, "environment variable ICEFLOE_ARCHIVE_PASSWORD is unset or empty"),
    ({"ICEFLOE_ARCHIVE_PASSWORD": ""}, "environment variable ICEFLOE_ARCHIVE_PASSWORD is set but empty"),
])
@pytest.mark.parametrize("command", ["consolidate", "archive"])
def test_no_password_stops_archiving_before_anything_is_written(photos: Path, env, needle, command) -> None:
    before = everything(photos)
    line = one_line_error(icefloe(command, "photos-a", cwd=photos, env=env))
    assert needle in line
    assert everything(photos) == before and set_rows(photos) == []


def test_the_consolidate_task_refuses_too(photos: Path, monkeypatch) -> None:
    from tasks.archive import consolidate_partition_task

    monkeypatch.delenv("ICEFLOE_ARCHIVE_PASSWORD", raising=False)
    before = everything(photos)
    with pytest.raises(PasswordError, match="ICEFLOE_ARCHIVE_PASSWORD is unset"):
        consolidate_partition_task.fn("photos-a", str(photos / "icefloe.toml"))
    assert everything(photos) == before and set_rows(photos) == []


def test_a_wrong_password_is_refused_at_once_and_a_deliberate_change_is_not(photos: Path) -> None:
    made = json.loads(icefloe("consolidate", "photos-a", "--json", cwd=photos,
                              env={"ICEFLOE_ARCHIVE_PASSWORD": RIGHT}).stdout)
    assert made["encrypted"] and made["encryption"].startswith("AES-256")
    ((name, encrypted, verifier),) = set_rows(photos)
    assert name == made["set"] and encrypted and matches(RIGHT, verifier) and RIGHT not in verifier
    assert RIGHT.encode() not in (photos / "work" / "catalog.sqlite").read_bytes()

    # The household's other partition, archived later with a mistyped password.
    (photos / "photos-b" / "IMG_0002.jpg").write_bytes(os.urandom(50_000))
    before = everything(photos)
    for command in ("consolidate", "archive"):
        line = one_line_error(icefloe(command, "photos-b", cwd=photos, env={"ICEFLOE_ARCHIVE_PASSWORD": WRONG}))
        assert f"differs from the one {made['set']} was made with" in line and "archive.new_password" in line
        assert everything(photos) == before and len(set_rows(photos)) == 1

    # Refused, then run again with the intended change: exactly one more set, nothing left over.
    again = icefloe("consolidate", "photos-b", "--json", cwd=photos,
                    env={"ICEFLOE_ARCHIVE_PASSWORD": WRONG, "ICEFLOE_ARCHIVE__NEW_PASSWORD": "true"})
    assert again.returncode == 0, again.stderr
    rows = set_rows(photos)
    assert len(rows) == 2 and [r[0] for r in rows if matches(WRONG, r[2])] == [json.loads(again.stdout)["set"]]
    archives = photos / "work" / "archives"
    assert sorted(p.name for p in archives.iterdir()) == sorted(r[0] for r in rows)  # no partial folders
    # The newest set's password is the one checked from now on.
    line = one_line_error(icefloe("consolidate", "photos-a", cwd=photos, env={"ICEFLOE_ARCHIVE_PASSWORD": RIGHT}))
    assert f"differs from the one {json.loads(again.stdout)['set']} was made with" in line


def test_unencrypted_archives_only_when_written_so_and_said_everywhere(photos: Path) -> None:
    status = json.loads(icefloe("status", "--json", cwd=photos).stdout)
    assert status["encryption"]["encrypt"] is True and "ICEFLOE_ARCHIVE_PASSWORD" in status["encryption"]["detail"]
    with (photos / "icefloe.toml").open("a") as f:
        f.write("encrypt = false\n")  # the workspace's [archive] table is last
    proc = icefloe("consolidate", "photos-a", "--json", cwd=photos)
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout)
    assert made["encrypted"] is False and made["encryption"] == "off (archive.encrypt = false)"
    assert set_rows(photos) == [(made["set"], 0, None)]
    status = json.loads(icefloe("status", "--json", cwd=photos).stdout)
    assert status["encryption"] == {"encrypt": False, "detail": "NOT encrypted (archive.encrypt = false)"}
    assert "new archives: NOT encrypted (archive.encrypt = false)" in icefloe("status", cwd=photos).stdout


def test_restore_refuses_a_wrong_password_before_any_retrieval(standin, photos: Path) -> None:
    bucket = f"pw-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=standin.url).create_bucket(Bucket=bucket)
    with (photos / "icefloe.toml").open("a") as f:
        f.write(f'[coldstore]\nbackend = "s3"\nbucket = "{bucket}"\n')
    env = {"ICEFLOE_ARCHIVE_PASSWORD": RIGHT}
    made = json.loads(icefloe("consolidate", "photos-a", "--json", cwd=photos, env=env).stdout)
    assert icefloe("upload", made["volumes"][0]["path"], "--partition", "photos-a", cwd=photos, env=env).returncode == 0
    out = photos / "restored"
    for wrong, needle in (({"ICEFLOE_ARCHIVE_PASSWORD": WRONG}, "is not the one"), ({}, "is encrypted: set")):
        line = one_line_error(icefloe("restore", made["set"], "--to", str(out), "--yes", cwd=photos, env=wrong))
        assert needle in line and made["set"] in line
        assert not out.exists()
        with Catalog.open(photos / "work" / "catalog.sqlite") as catalog:
            assert catalog.jobs() == []  # nothing was retrieved


MARKERS = ("Oma-Geburtstag-qz7Marker", "Geheimes-Tagebuch-qz7Marker")


def leaks(data: bytes) -> list[str]:
    """The marker names found in ``data``, as UTF-8 or UTF-16 (7z and Joliet names)."""
    found = []
    for name in MARKERS:
        if any(form in data for form in (name.encode(), name.encode("utf-16-le"), name.encode("utf-16-be"))):
            found.append(name)
    return found


@pytest.fixture
def marked(workspace: Path) -> Path:
    part = workspace / "photos-a"
    (part / MARKERS[1]).mkdir()
    (part / MARKERS[1] / "seite-1.txt").write_text("liebes Tagebuch\n" * 300)
    (part / f"{MARKERS[0]}.jpg").write_bytes(os.urandom(150_000))
    return workspace


def test_nothing_readable_without_the_password_on_any_medium(marked: Path, tmp_path: Path) -> None:
    env = {"ICEFLOE_ARCHIVE_PASSWORD": RIGHT}
    made = json.loads(icefloe("consolidate", "photos-a", "--json", cwd=marked, env=env).stdout)
    sealed = Path(made["manifest"])
    assert sealed.name == f"{made['set']}.manifest.7z"
    iso = Path(icefloe("iso", made["set"], cwd=marked, env=env).stdout.split()[0])

    work = marked / "work"
    outputs = [p for p in work.rglob("*") if p.is_file() and not p.name.startswith("catalog.sqlite")]
    kinds = {p.suffix for p in outputs}
    assert {".7z", ".iso", ".json"} <= kinds, kinds  # volume, sealed manifest, image, image sidecar
    for path in outputs:
        assert leaks(path.read_bytes()) == [], path
    # The catalog stays at home and answers `find`, so the names are in its manifest entries,
    # and nowhere else in it; the password never is.
    with sqlite3.connect(work / "catalog.sqlite") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            text = "\n".join(map(repr, conn.execute(f"SELECT * FROM {table}").fetchall())).encode()
            assert RIGHT.encode() not in text
            assert leaks(text) == ([] if table != "manifest_entries" else list(MARKERS)), table

    # Stock 7-Zip opens the sealed manifest with the password, and only with it.
    shown = subprocess.run(["7zz", "x", "-so", f"-p{RIGHT}", str(sealed)], capture_output=True, check=True).stdout
    assert leaks(shown) == list(MARKERS) and json.loads(shown)["set"] == made["set"]
    for args in (["l", str(sealed)], ["l", "-pwrong", str(sealed)]):
        proc = subprocess.run(["7zz", *args], capture_output=True, stdin=subprocess.DEVNULL)
        assert proc.returncode != 0 and leaks(proc.stdout + proc.stderr) == []

    # The disc lists only the kit, the volume, the sealed manifest and the PAR2 recovery data
    # (computed over those encrypted bytes, named after the disc); RESTORE.txt says so.
    listing = subprocess.run(["7zz", "l", "-ba", str(iso)], capture_output=True, text=True, check=True).stdout
    names = sorted(line.split()[-1] for line in listing.splitlines() if line.strip())
    recovery = [n for n in names if n.endswith(".par2")]
    assert recovery and all(n.startswith(f"{made['set']}-disc-01-of-01") for n in recovery)
    assert [n for n in names if n not in recovery] == sorted(
        ["RESTORE.txt", "SHA256SUMS.txt", f"{made['set']}.7z", sealed.name])
    restore_txt = subprocess.run(["7zz", "x", "-so", str(iso), "RESTORE.txt"], capture_output=True,
                                 text=True, check=True).stdout
    flat = " ".join(restore_txt.split())
    assert "The archive and the manifest are ENCRYPTED" in flat and "not even their names" in flat
    assert f"{sealed.name} the manifest" in flat and "opens it with the same password" in flat

    # From the disc: the right password restores everything, a wrong one stops at once.
    out = tmp_path / "restored"
    line = one_line_error(icefloe("restore", "--from-discs", str(iso), "--to", str(out), cwd=marked,
                                  env={"ICEFLOE_ARCHIVE_PASSWORD": WRONG}))
    assert "does not open with this archive password" in line and not out.exists()
    proc = icefloe("restore", "--from-discs", str(iso), "--to", str(out), cwd=marked, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (out / f"{MARKERS[0]}.jpg").read_bytes() == (marked / "photos-a" / f"{MARKERS[0]}.jpg").read_bytes()


def test_a_consolidation_stopped_while_sealing_the_manifest_leaves_nothing_and_reruns(
    marked: Path, monkeypatch
) -> None:
    from icefloe import manifest as mf
    from icefloe.archive import consolidate

    out = marked / "work" / "archives"
    real_seal = mf.seal

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C or a dying worker would, mid-write

    monkeypatch.setattr(mf, "seal", interrupted)
    with Catalog.open(marked / "work" / "catalog.sqlite") as catalog:
        with pytest.raises(KeyboardInterrupt):
            consolidate(marked / "photos-a", out, label="photos-a", password=RIGHT, workers=1, catalog=catalog)
        assert list(out.iterdir()) == [] and catalog.archive_sets() == []
        monkeypatch.setattr(mf, "seal", real_seal)
        result = consolidate(marked / "photos-a", out, label="photos-a", password=RIGHT, workers=1, catalog=catalog)
        assert [p.name for p in out.iterdir()] == [result.set_name]
        assert [s.name for s in catalog.archive_sets()] == [result.set_name]
        sidecar = mf.read_sidecar(result.manifest_path, RIGHT)
        assert sorted(i.path for i in sidecar.items if i.kind == "file") == sorted(
            [f"{MARKERS[0]}.jpg", f"{MARKERS[1]}/seite-1.txt"])


def test_a_secret_block_is_named_when_it_gives_no_password(tmp_path: Path) -> None:
    (tmp_path / "icefloe.toml").write_text('[archive]\npassword_env = ""\npassword_secret_block = "family-pw"\n')
    archive = load_settings(tmp_path / "icefloe.toml", {}).archive
    with pytest.raises(PasswordError, match="the Prefect Secret block 'family-pw' is unset or empty; nothing was written"):
        for_writing(archive, None)
    (tmp_path / "icefloe.toml").write_text('[archive]\npassword_secret_block = "family-pw"\n')
    archive = load_settings(tmp_path / "icefloe.toml", {}).archive
    with pytest.raises(PasswordError, match="environment variable ICEFLOE_ARCHIVE_PASSWORD or Prefect Secret block 'family-pw'"):
        for_writing(archive, "")


def test_the_archive_run_says_when_it_is_unencrypted(prefect_harness, standin, photos: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    bucket = f"plain-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=standin.url).create_bucket(Bucket=bucket)
    (photos / "offsite").mkdir()
    with (photos / "icefloe.toml").open("a") as f:  # the workspace's [archive] table is last
        f.write(f'encrypt = false\nburner = "none"\n[mirror]\ntarget = "offsite"\n'
                f'[coldstore]\nbackend = "s3"\nbucket = "{bucket}"\npart_size_mib = 8\n')
    # On the session's Prefect server: a temporary one per run is the demo's and test_cli_prefect's.
    proc = icefloe("archive", "photos-a", cwd=photos, env={"PREFECT_API_URL": PREFECT_API_URL.value()})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "NOT encrypted (archive.encrypt = false)" in proc.stderr
    ((name, encrypted, verifier),) = set_rows(photos)
    assert encrypted == 0 and verifier is None
    assert (photos / "work" / "archives" / name / f"{name}.manifest.json").is_file()  # nothing to seal with
