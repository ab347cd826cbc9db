"""`icefloe mirror` as a person runs it: a local mirror folder, JSON, dry runs, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from helpers import icefloe, one_line_error


@pytest.fixture
def local_mirror(workspace: Path) -> Path:
    for label in ("photos-a", "photos-b"):
        (workspace / label / f"{label}.jpg").write_bytes(os.urandom(10_000))
    (workspace / "nas").mkdir()
    config = workspace / "icefloe.toml"
    config.write_text(config.read_text() + '[mirror]\ntarget = "' + str(workspace / "nas") + '"\n')
    return workspace / "nas"


def test_mirror_all_to_a_local_folder_then_json(workspace: Path, local_mirror: Path) -> None:
    proc = icefloe("mirror", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert f"photos-a -> {local_mirror}/photos-a: sent 2 file(s)" in proc.stderr
    for label in ("photos-a", "photos-b"):
        assert subprocess.run(["diff", "-r", str(workspace / label), str(local_mirror / label)]).returncode == 0

    (workspace / "photos-a" / "photos-a.jpg").rename(workspace / "photos-a" / "renamed.jpg")
    proc = icefloe("mirror", "photos-a", "--json", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    [summary] = json.loads(proc.stdout)
    assert summary["version"] == 1 and summary["ok"]
    assert (summary["files_transferred"], summary["files_deleted"]) == (1, 1)
    assert not (local_mirror / "photos-a" / "photos-a.jpg").exists()
    assert (local_mirror / "photos-a" / "renamed.jpg").exists()


def test_dry_run_lists_changes_and_changes_nothing(workspace: Path, local_mirror: Path) -> None:
    proc = icefloe("mirror", "photos-b", "--dry-run", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert ">f+++++++++ photos-b.jpg" in proc.stdout.splitlines()
    assert "would send" in proc.stderr
    assert list(local_mirror.iterdir()) == []


def test_dry_run_counts_the_bytes_it_would_send(workspace: Path, local_mirror: Path) -> None:
    for i in range(4):
        (workspace / "photos-b" / f"big{i}.raw").write_bytes(os.urandom(3 * 1024 * 1024))
    proc = icefloe("mirror", "photos-b", "--dry-run", "--json", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    [summary] = json.loads(proc.stdout)
    want = 4 * 3 * 1024 * 1024 + 10_000 + len("photos-b\n")  # the files and the sentinel
    assert summary["dry_run"] and summary["files_transferred"] == 6
    assert summary["transferred_size"] == want and summary["bytes_sent"] < 10_000  # the file list only
    proc = icefloe("mirror", "photos-b", "--dry-run", cwd=workspace)
    assert "would send 6 file(s) (12.0 MiB)" in proc.stderr
    assert list(local_mirror.iterdir()) == []


def test_refusals_and_mistakes_are_one_line(workspace: Path, local_mirror: Path) -> None:
    (workspace / "photos-b" / ".icefloe-partition").unlink()
    proc = icefloe("mirror", "photos-b", cwd=workspace)
    assert proc.returncode == 2
    assert "no sentinel file" in one_line_error(proc)
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1

    proc = icefloe("mirror", cwd=workspace)  # photos-a is mirrored, photos-b named as refused
    assert proc.returncode == 9
    assert "1 of 2 partitions were not mirrored (photos-b)" in one_line_error(proc, after_report=True)
    assert "photos-b: not mirrored: partition photos-b" in proc.stderr
    assert (local_mirror / "photos-a" / "photos-a.jpg").exists()

    proc = icefloe("mirror", "photos-z", cwd=workspace)
    assert "no partition labelled 'photos-z'" in one_line_error(proc)
    proc = icefloe("mirror", "--allow-empty", cwd=workspace)
    assert "--allow-empty needs a LABEL" in one_line_error(proc)


def test_a_missing_target_is_one_line_once(workspace: Path) -> None:
    proc = icefloe("mirror", cwd=workspace)
    assert proc.returncode == 2
    assert "mirror.target is not set" in one_line_error(proc)
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1


def test_a_max_delete_stop_is_lifted_for_one_run(workspace: Path, local_mirror: Path) -> None:
    config = workspace / "icefloe.toml"
    config.write_text(config.read_text() + "max_delete = 1\n")
    for name in ("x1.jpg", "x2.jpg"):
        (workspace / "photos-a" / name).write_text(name)
    assert icefloe("mirror", "photos-a", cwd=workspace).returncode == 0
    for name in ("x1.jpg", "x2.jpg"):
        (workspace / "photos-a" / name).unlink()

    proc = icefloe("mirror", "photos-a", cwd=workspace)
    assert proc.returncode == 9
    assert "deletions stopped by mirror.max_delete = 1 (1 more deletion(s) skipped)" in one_line_error(proc, after_report=True)
    assert "`icefloe mirror photos-a --max-delete N` once" in proc.stderr

    assert icefloe("mirror", "photos-a", "--max-delete", "2", cwd=workspace).returncode == 0
    assert subprocess.run(["diff", "-r", str(workspace / "photos-a"), str(local_mirror / "photos-a")]).returncode == 0
