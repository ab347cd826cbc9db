"""`icefloe clear` and `icefloe status` as a person runs them: gates, dry runs, --yes, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders import FILES, V1, World, make_world
from helpers import icefloe, one_line_error, snapshot
from icefloe.catalog import JobRecord, UploadRecord

ARCHIVED = sorted([*FILES, "latest.jpg"])


# These clears have no cold store to keep a catalog snapshot in (tests/lifecycle do).
pytestmark = pytest.mark.usefixtures("no_catalog_snapshots")


def test_clear_refuses_while_a_gate_is_open(workspace: Path) -> None:
    world = make_world(workspace, omit={f"inventory:{V1}"})
    before = snapshot(world.part, everything=True)
    proc = icefloe("clear", "photos-a", "--yes", cwd=workspace)
    line = one_line_error(proc)
    assert proc.returncode == 7
    assert line.startswith(f"icefloe: photos-a not cleared: archive {V1} has no inventory confirmation")
    assert snapshot(world.part, everything=True) == before and world.catalog.get_archive_set("set1").cleared_at is None
    world.catalog.close()


def test_clear_without_yes_changes_nothing(world: World) -> None:
    before = snapshot(world.part, everything=True)
    line = one_line_error(icefloe("clear", "photos-a", cwd=world.part.parent))
    assert "deletes 6 files" in line and "pass --yes to clear, or --dry-run to list them" in line
    assert snapshot(world.part, everything=True) == before


def test_unknown_partition_is_one_line(world: World) -> None:
    line = one_line_error(icefloe("clear", "photos-z", "--dry-run", cwd=world.part.parent))
    assert "no partition labelled 'photos-z' (known: photos-a, photos-b)" in line


def test_dry_run_lists_what_would_go(world: World) -> None:
    world.write("later.jpg", b"new since the archive")
    before = snapshot(world.part, everything=True)
    proc = icefloe("clear", "photos-a", "--dry-run", cwd=world.part.parent)
    assert proc.returncode == 0, proc.stderr
    assert sorted(line.split()[-1] for line in proc.stdout.splitlines() if line.startswith("would remove")) == ARCHIVED
    assert "keep          later.jpg  (in no archive (written after the archive was made))" in proc.stdout
    assert "would remove 6 file(s)" in proc.stderr and "nothing was changed" in proc.stderr
    proc = icefloe("clear", "photos-a", "--dry-run", "--json", cwd=world.part.parent)
    data = json.loads(proc.stdout)
    assert data["version"] == 1 and data["dry_run"] and sorted(data["would_remove"]) == ARCHIVED
    assert data["removed"] == [] and data["sets_cleared"] == [] and data["active"] == "photos-a"
    assert all(g["ok"] for g in data["gates"]) and len(data["gates"]) >= 10
    assert snapshot(world.part, everything=True) == before


def test_clear_with_yes_removes_the_archived_files_and_switches_partition(world: World) -> None:
    world.write("later.jpg", b"new since the archive")
    proc = icefloe("clear", "photos-a", "--yes", "--json", cwd=world.part.parent)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sorted(data["removed"]) == ARCHIVED and data["sets_cleared"] == ["set1"]
    assert data["bytes"] == sum(FILES.values()) + len("dcim/2023/a.jpg")
    assert {"path": "later.jpg", "reason": "in no archive (written after the archive was made)"} in data["kept"]
    assert data["active"] == "photos-b"
    assert not (world.part / "dcim").exists() and (world.part / "later.jpg").exists()
    assert world.catalog.get_archive_set("set1").cleared_at is not None

    proc = icefloe("clear", "photos-a", "--yes", cwd=world.part.parent)  # again: nothing to do
    assert proc.returncode == 0 and "nothing to clear" in proc.stderr and (world.part / "later.jpg").exists()


def test_status_shows_partitions_gates_jobs_and_uploads(workspace: Path) -> None:
    world = make_world(workspace, omit={f"inventory:{V1}"})
    world.catalog.put_job(JobRecord("job-inv-1", "glacier", "family", "inventory", "InProgress"))
    world.catalog.put_job(JobRecord("job-old", "glacier", "family", "inventory", "Fetched"))
    world.catalog.open_upload(UploadRecord("upl-123", "s3", "family", "icefloe/set2.7z.001",
                                           str(workspace / "work/set2.7z.001"), 5 << 20, 1, 1 << 20, "{}"))
    proc = icefloe("status", "--json", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["version"] == 1 and data["active"] == "photos-a" and data["fill_threshold"] == 0.9
    a, b = data["partitions"]
    assert (a["label"], a["active"], a["mounted"], b["active"]) == ("photos-a", True, True, False)
    assert 0 <= a["fill"] <= 1 and a["pending_sets"] == ["set1"] and b["pending_sets"] == []
    assert [g["detail"] for g in a["open_gates"]] == [f"archive {V1} has no inventory confirmation"]
    assert a["last_mirror_run"]["ok"] and b["last_mirror_run"] is None
    assert [j["job_id"] for j in data["pending_jobs"]] == ["job-inv-1"]
    assert [u["upload_id"] for u in data["open_uploads"]] == ["upl-123"]

    proc = icefloe("status", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "photos-a" in out and "photos-b" in out and "active partition: photos-a" in out
    assert f"archive {V1} has no inventory confirmation" in out
    assert "job-inv-1" in out and "job-old" not in out and "upl-123" in out
    assert "never" in out  # photos-b was never mirrored
    (workspace / "photos-b" / ".icefloe-partition").unlink()
    proc = icefloe("status", "--json", cwd=workspace)
    assert json.loads(proc.stdout)["partitions"][1]["mounted"] is False
    world.catalog.close()
