"""Encryption is never off by accident: no password, an empty one or a wrong one stops every
stage that would write an archive, in one line, before anything is written."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from icefloe.catalog import Catalog
from icefloe.config import load_settings
from icefloe.errors import PasswordError
from icefloe.passwords import for_writing, make_verifier, matches

MAIN = "from icefloe.cli import main; main()"
RIGHT, WRONG = "the family password", "the family passw0rd"


def icefloe(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ICEFLOE_ARCHIVE")}
    return subprocess.run([sys.executable, "-c", MAIN, *args], cwd=cwd, env={**environ, "COLUMNS": "250", **(env or {})},
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("icefloe: "), proc.stderr
    return lines[0]


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
    with pytest.raises(PasswordError, match="neither archive.password_env nor archive.password_secret_block"):
        for_writing(load_settings(tmp_path / "icefloe.toml", {}).archive, "pw")
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

    before = everything(photos)
    for command in ("consolidate", "archive"):
        line = one_line_error(icefloe(command, "photos-a", cwd=photos, env={"ICEFLOE_ARCHIVE_PASSWORD": WRONG}))
        assert f"differs from the one {made['set']} was made with" in line and "archive.new_password" in line
        assert everything(photos) == before and len(set_rows(photos)) == 1

    # Refused, then run again with the intended change: exactly one more set, nothing left over.
    again = icefloe("consolidate", "photos-a", "--json", cwd=photos,
                    env={"ICEFLOE_ARCHIVE_PASSWORD": WRONG, "ICEFLOE_ARCHIVE__NEW_PASSWORD": "true"})
    assert again.returncode == 0, again.stderr
    rows = set_rows(photos)
    assert len(rows) == 2 and matches(WRONG, rows[-1][2])
    archives = photos / "work" / "archives"
    assert sorted(p.name for p in archives.iterdir()) == sorted(r[0] for r in rows)  # no partial folders
    # The newest set's password is the one checked from now on.
    assert icefloe("consolidate", "photos-a", cwd=photos, env={"ICEFLOE_ARCHIVE_PASSWORD": RIGHT}).returncode != 0


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
