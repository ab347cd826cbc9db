"""A killed consolidation's partial folder is removed by the next run, and only that.

The kill is real: `icefloe consolidate` runs in a subprocess and gets SIGKILL while it writes.
A leftover younger than a few seconds might belong to a writer that has not locked it yet, so
the tests age the killed run's folder by its mtime before the rerun.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from archive_helpers import text
from helpers import COMMAND
from icefloe.archive import consolidate
from icefloe.archive.workspace import PARTIAL_RE
from icefloe.catalog import Catalog
from icefloe.fsutil import WRITER_LOCK, remove_leftovers, writer_lock



def age(path: Path, seconds: float = 60) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".partial")) if folder.exists() else []


def test_killed_consolidation_is_cleaned_up_by_the_next_run(workspace: Path) -> None:
    part = workspace / "photos-a"
    for i in range(6):
        (part / f"notes-{i}.txt").write_bytes(text(6_000_000, seed=i))  # LZMA2: seconds of work
    archives = workspace / "work" / "archives"
    proc = subprocess.Popen(
        [*COMMAND, "consolidate", "photos-a", "--workers", "1"],
        cwd=workspace, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "ICEFLOE_ARCHIVE_PASSWORD": "pw"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = partials(archives)
        if found and any(f.stat().st_size > 0 for f in found[0].iterdir() if f.name != WRITER_LOCK):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the consolidation ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    (left,) = partials(archives)
    assert sum(f.stat().st_size for f in left.iterdir()) > 0  # a real half-written archive
    age(left)

    settings_catalog = workspace / "work" / "catalog.sqlite"
    with Catalog.open(settings_catalog) as catalog:
        assert catalog.archive_sets() == []  # the killed run recorded nothing
        result = consolidate(part, archives, label="photos-a", workers=1, catalog=catalog)
        assert [s.name for s in catalog.archive_sets()] == [result.set_name]
    assert result.leftovers_removed == (str(left),)
    assert partials(archives) == []
    assert sorted(p.name for p in archives.iterdir()) == [result.set_name]
    assert not (result.directory / WRITER_LOCK).exists()


def test_only_dead_icefloe_leftovers_are_removed(tmp_path: Path) -> None:
    live = tmp_path / ".photos-a-20240501T123000Z.partial"
    dead = tmp_path / ".photos-a-20240501T123001Z.partial"
    old = tmp_path / ".photos-b-20240501T123002Z.partial"  # from a version without a lock file
    fresh = tmp_path / ".photos-b-20240501T123003Z.partial"  # a writer about to lock it
    mine = tmp_path / "holiday.partial"  # not an icefloe name
    for folder in (live, dead, old, fresh, mine):
        folder.mkdir()
        (folder / "data").write_bytes(b"x" * 1000)
    (dead / WRITER_LOCK).write_bytes(b"")
    with writer_lock(live):
        for folder in (live, dead, old, mine):
            age(folder)
        removed = remove_leftovers(tmp_path, PARTIAL_RE)
        assert sorted(removed) == sorted([dead, old])
        assert live.is_dir() and fresh.is_dir() and mine.is_dir()
    assert remove_leftovers(tmp_path, PARTIAL_RE) == [live]  # its writer is gone now
