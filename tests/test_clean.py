"""`icefloe clean`: only cleared sets' volumes and images leave work_dir, even when killed midway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import icefloe, snapshot

from icefloe.catalog import ArchiveRecord, ArchiveSet, Catalog, CopyRecord, ImageRecord
from icefloe.clean import plan_and_clean

KILL_AFTER_TWO_UNLINKS = """
import os, signal, sys
real, done = os.unlink, []
def unlink(path, *a, **k):
    real(path, *a, **k)
    done.append(path)
    if len(done) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # as a power cut or kill -9 would, mid-clean
os.unlink = unlink
from icefloe.cli import main
main(sys.argv[1:])
"""


def add_set(catalog: Catalog, work: Path, name: str, *, cleared: bool, volumes: int = 2, discs: int = 1,
            copied: bool = True) -> list[Path]:
    """A set as the stages leave it in work_dir: volumes, a manifest, images with label pages."""
    folder, discs_dir = work / "archives" / name, work / "discs" / name
    folder.mkdir(parents=True)
    discs_dir.mkdir(parents=True)
    (folder / f"{name}.manifest.7z").write_bytes(b"manifest")
    catalog.put_archive_set(ArchiveSet(name, "photos-a", 3, 300, True, str(folder / f"{name}.manifest.7z")))
    files = []
    for vol in range(1, volumes + 1):
        path = folder / f"{name}.7z.{vol:03d}"
        path.write_bytes(os.urandom(1000 + vol))
        catalog.put_archive(ArchiveRecord(path.name, name, "photos-a", 1000 + vol, "sha", vol, volumes, str(path)))
        if copied:
            catalog.put_copy(CopyRecord("s3", "family", f"icefloe/{path.name}", "{}", 1000 + vol, path.name))
        files.append(path)
    for index in range(1, discs + 1):
        image = discs_dir / f"{name}-disc-{index:02d}-of-{discs:02d}.iso"
        image.write_bytes(os.urandom(4096))
        (discs_dir / f"{image.name}.label.html").write_text("<html>label</html>")
        catalog.put_image(ImageRecord(image.name, name, index, discs, "dvd+r", 4096, "sha", str(image)))
        files.append(image)
    if cleared:
        catalog.mark_set_cleared(name)
    return files


@pytest.fixture
def work(workspace: Path) -> Path:
    return workspace / "work"


def test_clean_removes_only_cleared_sets_volumes_and_images(workspace: Path, work: Path) -> None:
    with Catalog.open(work / "catalog.sqlite") as catalog:
        old = add_set(catalog, work, "photos-a-old", cleared=True)
        add_set(catalog, work, "photos-a-live", cleared=False)
        add_set(catalog, work, "photos-a-uncopied", cleared=True, copied=False)
    live_before = snapshot(work / "archives" / "photos-a-live", everything=True)

    proc = icefloe("clean", "--dry-run", "--json", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["dry_run"] and sorted(f["path"] for f in plan["removed"]) == sorted(map(str, old))
    assert plan["bytes"] == 1001 + 1002 + 4096 and plan["sets_not_cleared"] == 1
    assert {k["reason"] for k in plan["kept"]} == {"no cold-storage copy recorded of "
                                                   "photos-a-uncopied.7z.001, photos-a-uncopied.7z.002"}
    assert all(p.exists() for p in old)  # a dry run changes nothing

    proc = icefloe("clean", cwd=workspace, env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    assert not any(p.exists() for p in old)
    assert "removed 3 files (6.0 KiB) of 1 cleared set; 1 set not cleared, untouched" in proc.stderr
    assert "  removed  image photos-a-old-disc-01-of-01.iso  (4.0 KiB)" in proc.stdout.splitlines()
    assert all(len(line) <= 80 for line in proc.stdout.splitlines())
    # The manifest and the label page stay beside what went; the live set is as it was.
    assert (work / "archives/photos-a-old/photos-a-old.manifest.7z").exists()
    assert (work / "discs/photos-a-old/photos-a-old-disc-01-of-01.iso.label.html").exists()
    assert snapshot(work / "archives" / "photos-a-live", everything=True) == live_before
    assert (work / "archives/photos-a-uncopied/photos-a-uncopied.7z.001").exists()

    proc = icefloe("clean", "--json", cwd=workspace)
    assert json.loads(proc.stdout)["removed"] == []  # done already: nothing left to do
    assert "nothing" in icefloe("clean", cwd=workspace).stderr


def test_clean_leaves_a_file_another_process_reads(workspace: Path, work: Path) -> None:
    with Catalog.open(work / "catalog.sqlite") as catalog:
        old = add_set(catalog, work, "photos-a-old", cleared=True)
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys; from icefloe.fsutil import reading\n"
         f"with reading({str(old[0])!r}):\n    print('reading', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "reading"
        with Catalog.open(work / "catalog.sqlite") as catalog:
            dry = plan_and_clean(catalog, work, dry_run=True)
            result = plan_and_clean(catalog, work)
        assert [(k.path, k.reason) for k in dry.kept] == [(str(old[0]), "another process holds it")]
        assert [(k.path, k.reason) for k in result.kept] == [(str(old[0]), "another process holds it")]
        assert old[0].exists() and not old[1].exists() and not old[2].exists()
    finally:
        reader.communicate("", timeout=30)
    with Catalog.open(work / "catalog.sqlite") as catalog:
        assert [f.path for f in plan_and_clean(catalog, work).removed] == [str(old[0])]  # once it is let go
    assert not old[0].exists()


def test_clean_never_removes_outside_work_dir_or_a_file_a_live_set_names(workspace: Path, work: Path,
                                                                          tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "photos-a-far.7z"
    elsewhere.write_bytes(b"x" * 10)
    with Catalog.open(work / "catalog.sqlite") as catalog:
        live = add_set(catalog, work, "photos-a-live", cleared=False)
        add_set(catalog, work, "photos-a-old", cleared=True, volumes=1, discs=0)
        catalog.put_archive(ArchiveRecord("far.7z", "photos-a-old", "photos-a", 10, "sha", 2, 2, str(elsewhere)))
        catalog.put_copy(CopyRecord("s3", "family", "icefloe/far.7z", "{}", 10, "far.7z"))
        # A cleared set whose record names a file the live set owns (a re-used folder).
        catalog.put_image(ImageRecord("shared.iso", "photos-a-old", 1, 1, "dvd+r", live[-1].stat().st_size,
                                      "sha", str(live[-1])))
        # A file changed since it was recorded is not the one the catalog knows.
        changed = work / "archives/photos-a-old/photos-a-old.7z.001"
        changed.write_bytes(b"different")
        result = plan_and_clean(catalog, work)
    reasons = {Path(k.path).name: k.reason for k in result.kept}
    assert reasons == {
        "photos-a-far.7z": f"outside work_dir {work}",
        live[-1].name: "a set not cleared names it too",
        "photos-a-old.7z.001": "9 bytes, not the 1001 recorded",
    }
    assert result.removed == [] and elsewhere.exists() and all(p.exists() for p in live)


def test_clean_killed_midway_then_rerun_finishes_and_spares_the_live_set(workspace: Path, work: Path) -> None:
    with Catalog.open(work / "catalog.sqlite") as catalog:
        old = add_set(catalog, work, "photos-a-old", cleared=True, volumes=3, discs=2)
        add_set(catalog, work, "photos-a-live", cleared=False, volumes=3, discs=2)
    live_before = {d: snapshot(work / d / "photos-a-live", everything=True) for d in ("archives", "discs")}
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_TWO_UNLINKS, "clean"], cwd=workspace,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = [p for p in old if p.exists()]
    assert len(left) == len(old) - 2  # stopped midway: two gone, every other file whole
    assert all(p.stat().st_size in (1001, 1002, 1003, 4096) for p in left)
    assert {d: snapshot(work / d / "photos-a-live", everything=True) for d in ("archives", "discs")} == live_before

    proc = icefloe("clean", "--json", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sorted(f["path"] for f in data["removed"]) == sorted(map(str, left))
    assert data["kept"] == [] and not any(p.exists() for p in old)
    assert sorted(p.name for p in (work / "discs" / "photos-a-old").iterdir()) == [
        "photos-a-old-disc-01-of-02.iso.label.html", "photos-a-old-disc-02-of-02.iso.label.html"]
    assert {d: snapshot(work / d / "photos-a-live", everything=True) for d in ("archives", "discs")} == live_before
    assert (work / "catalog.sqlite").exists()
