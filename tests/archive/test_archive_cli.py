"""`icefloe consolidate LABEL` end to end, as a person runs it (a subprocess, a config file)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import helpers
from archive_helpers import sevenzip, text
from icefloe.catalog import TESTZIP, Catalog

def icefloe(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``icefloe ARGS`` with no archive password but the one given in ``env``."""
    return helpers.icefloe(*args, cwd=cwd, env=env, drop=("ICEFLOE_ARCHIVE_PASSWORD",))


def fill(workspace: Path) -> None:
    part = workspace / "photos-a"
    (part / "2019").mkdir()
    (part / "2019" / "IMG_1.jpg").write_bytes(os.urandom(200_000))
    (part / "2019" / "notes.txt").write_bytes(text(300_000))


def test_consolidate_json_records_the_set(workspace: Path) -> None:
    fill(workspace)
    proc = icefloe("consolidate", "photos-a", "--json", cwd=workspace,
                   env={"ICEFLOE_ARCHIVE_PASSWORD": "family secret"})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["partition"] == "photos-a" and out["encrypted"] and out["files"] == 2
    assert Path(out["directory"]).parent == workspace / "work" / "archives"
    (volume,) = out["volumes"]  # dvd+r by default: one volume, the data fits one disc
    assert volume["name"] == out["set"] + ".7z"
    sevenzip("t", "-pfamily secret", volume["path"])
    with Catalog.open(workspace / "work" / "catalog.sqlite") as catalog:
        (record,) = catalog.archives(set_name=out["set"])
        assert record.sha256 == volume["sha256"]
        assert catalog.latest_verification(f"archive:{record.name}", TESTZIP).ok
        assert catalog.get_archive_set(out["set"]).encrypted


def test_consolidate_plain_prints_the_folder(workspace: Path) -> None:
    fill(workspace)
    proc = icefloe("consolidate", "photos-a", "--out", "elsewhere", "--workers", "1", "--no-volumes", cwd=workspace,
                   env={"ICEFLOE_ARCHIVE__ENCRYPT": "false"})
    assert proc.returncode == 0, proc.stderr
    folder = Path(proc.stdout.strip())
    assert folder.parent == workspace / "elsewhere" and folder.is_dir()
    assert "photos-a: 2 files" in proc.stderr and "NOT encrypted (archive.encrypt = false)" in proc.stderr


def test_consolidate_errors_are_one_line(workspace: Path) -> None:
    for args, needle, code in (
        (["consolidate", "photos-z"], "no partition labelled 'photos-z'", 2),
        (["consolidate", "photos-b"], "holds no files to archive", 2),
    ):
        proc = icefloe(*args, cwd=workspace, env={"ICEFLOE_ARCHIVE_PASSWORD": "pw"})
        assert proc.returncode == code, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("icefloe: ") and needle in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
    proc = icefloe("consolidate", "photos-b", cwd=workspace, env={"ICEFLOE_ARCHIVE_PASSWORD": ""})
    assert proc.returncode == 2 and "is set but empty" in proc.stderr


def test_a_second_consolidation_is_refused_naming_the_first_and_one_set_results(workspace: Path) -> None:
    import sqlite3
    import time

    part = workspace / "photos-a"
    for i in range(2):
        (part / f"noise-{i}.bin").write_bytes(os.urandom(8_000_000))
    config = workspace / "icefloe.toml"
    config.write_text(config.read_text() + 'compression = "lzma2"\n')  # random data: seconds of LZMA2
    environ = {**os.environ, "ICEFLOE_ARCHIVE_PASSWORD": "pw"}
    first = subprocess.Popen(
        [*helpers.COMMAND, "consolidate", "photos-a", "--json", "--workers", "1"],
        cwd=workspace, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )
    catalog_path = workspace / "work" / "catalog.sqlite"
    deadline = time.monotonic() + 120
    holder = None
    while holder is None and time.monotonic() < deadline and first.poll() is None:
        if catalog_path.exists():
            conn = sqlite3.connect(catalog_path, timeout=30)
            try:
                holder = conn.execute("SELECT holder, pid FROM leases").fetchone()
            except sqlite3.OperationalError:
                pass  # not migrated yet
            finally:
                conn.close()
        time.sleep(0.05)
    assert holder == ("icefloe consolidate photos-a", first.pid)
    second = icefloe("consolidate", "photos-a", "--workers", "1", cwd=workspace, env={"ICEFLOE_ARCHIVE_PASSWORD": "pw"})
    assert second.returncode == 75, second.stderr
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in second.stderr
    assert f"photos-a is busy: icefloe consolidate photos-a (pid {first.pid} on " in lines[0] and "--wait" in lines[0]
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    made = json.loads(out)["set"]
    # Run again once it is done: the finished set is carried forward, not rebuilt.
    again = icefloe("consolidate", "photos-a", "--json", cwd=workspace, env={"ICEFLOE_ARCHIVE_PASSWORD": "pw"})
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["set"] == made and json.loads(again.stdout)["carried_forward"]
    with Catalog.open(catalog_path) as catalog:
        assert [s.name for s in catalog.archive_sets("photos-a")] == [made]
    assert [p.name for p in (workspace / "work" / "archives").iterdir()] == [made]
