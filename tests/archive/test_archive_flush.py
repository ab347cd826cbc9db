"""The volumes reach the disk while the archive is compressed and tested, and before the set's
folder is renamed into place; an interrupted run leaves no flusher, no open file, no folder.

Events are recorded by inode (volumes are renamed on the way), in this process.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from archive_helpers import sevenzip, text
from icefloe.archive import consolidate
from icefloe.archive.volumes import VolumeFlusher
from icefloe.errors import IcefloeError

consolidation = sys.modules["icefloe.archive.consolidation"]
NOW = datetime(2024, 5, 1, 12, 30, 0, tzinfo=timezone.utc)


class Events:
    """os.pwrite / copy_file_range / fsync / rename, in order, by inode."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log: list[tuple[str, object]] = []
        self._lock = threading.Lock()
        real_pwrite, real_copy, real_fsync, real_rename = os.pwrite, os.copy_file_range, os.fsync, os.rename

        def pwrite(fd, data, offset):
            self._add("write", os.fstat(fd).st_ino)
            return real_pwrite(fd, data, offset)

        def copy_file_range(src, dst, count, offset_src=None, offset_dst=None):
            self._add("write", os.fstat(dst).st_ino)
            return real_copy(src, dst, count, offset_src, offset_dst)

        def fsync(fd):
            real_fsync(fd)
            self._add("fsync", os.fstat(fd).st_ino)

        def rename(src, dst, **kw):
            self._add("rename", Path(src).name)
            return real_rename(src, dst, **kw)

        monkeypatch.setattr(os, "pwrite", pwrite)
        monkeypatch.setattr(os, "copy_file_range", copy_file_range)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "rename", rename)

    def _add(self, kind: str, what: object) -> None:
        with self._lock:
            self.log.append((kind, what))

    def index(self, kind: str, what: object, last: bool = True) -> int:
        hits = [i for i, event in enumerate(self.log) if event == (kind, what)]
        assert hits, (kind, what)
        return hits[-1] if last else hits[0]


def partition(root: Path, texts: int = 4) -> Path:
    root.mkdir(parents=True)
    (root / ".icefloe-partition").write_text("photos-a\n")
    (root / "IMG_0001.jpg").write_bytes(os.urandom(3_000_000))
    for i in range(texts):
        (root / f"notes-{i}.txt").write_bytes(text(1_500_000, seed=i))
    return root


def flush_often(monkeypatch: pytest.MonkeyPatch, interval: float = 0.01) -> None:
    monkeypatch.setattr(consolidation, "VolumeFlusher", functools.partial(VolumeFlusher, interval=interval))


def flusher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("flush ")]


def open_fds() -> set[str]:
    return {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")}


@pytest.mark.parametrize("volume_size", [None, 1_000_000])
def test_every_volume_is_on_disk_before_the_set_is_renamed(tmp_path: Path, monkeypatch, volume_size) -> None:
    source = partition(tmp_path / "photos-a")
    events = Events(monkeypatch)
    result = consolidate(source, tmp_path / "out", label="photos-a", workers=1, now=NOW,
                         password="pw", volume_size=volume_size)
    monkeypatch.undo()
    rename = events.index("rename", f".{result.set_name}.partial")
    assert (len(result.volumes) == 1) == (volume_size is None)
    for volume in result.volumes:
        inode = volume.path.stat().st_ino
        assert events.index("write", inode) < events.index("fsync", inode) < rename, volume.name
    sevenzip("t", "-ppw", str(result.volumes[0].path))


def test_the_disk_writes_while_folders_are_still_compressed(tmp_path: Path, monkeypatch) -> None:
    # Two workers: one writes the Copy folder into the archive at once, the other spends
    # seconds on the LZMA2 folder, which this process then appends (the writes seen here).
    source = partition(tmp_path / "photos-a", texts=6)
    flush_often(monkeypatch, 0.02)
    events = Events(monkeypatch)
    result = consolidate(source, tmp_path / "out", label="photos-a", workers=2, now=NOW)
    monkeypatch.undo()
    inode = result.volumes[0].path.stat().st_ino
    # Some fsync of the archive came before its last write: the flusher ran during the work.
    assert events.index("fsync", inode, last=False) < events.index("write", inode)
    assert flusher_threads() == []
    sevenzip("t", str(result.volumes[0].path))


def test_interrupted_during_testzip_leaves_nothing_and_reruns(tmp_path: Path, monkeypatch) -> None:
    source, out = partition(tmp_path / "photos-a"), tmp_path / "out"
    flush_often(monkeypatch)
    real_check = consolidation.check_and_hash
    seen: dict[str, object] = {}

    def interrupted(*args, **kw):
        seen["flushers"] = len(flusher_threads())
        raise KeyboardInterrupt  # Ctrl-C while the archive is tested

    before = open_fds()
    monkeypatch.setattr(consolidation, "check_and_hash", interrupted)
    with pytest.raises(KeyboardInterrupt):
        consolidate(source, out, label="photos-a", workers=1, now=NOW)
    assert seen["flushers"] == 1  # it was running then
    assert flusher_threads() == []
    assert list(out.iterdir()) == []
    assert open_fds() <= before

    monkeypatch.setattr(consolidation, "check_and_hash", real_check)
    result = consolidate(source, out, label="photos-a", workers=1, now=NOW)
    assert sorted(p.name for p in out.iterdir()) == [result.set_name]
    assert result.file_count == 5 and len(result.volumes) == 1
    sevenzip("t", str(result.volumes[0].path))


def test_a_failed_background_fsync_fails_the_run_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    source, out = partition(tmp_path / "photos-a"), tmp_path / "out"
    flush_often(monkeypatch)
    real_fsync = os.fsync

    def fsync(fd):
        if threading.current_thread().name.startswith("flush "):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(IcefloeError, match="cannot write the archive"):
        consolidate(source, out, label="photos-a", workers=1, now=NOW)
    assert flusher_threads() == []
    assert list(out.iterdir()) == []
