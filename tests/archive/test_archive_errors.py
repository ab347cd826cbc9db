"""Consolidation's clear errors: one actionable sentence, nothing partial left, nothing deleted.

Tests run as root, so ``chmod 000`` cannot make a file unreadable; the read errors are made
instead by removing a file between the scan and the read, by a named pipe, and by an I/O
error injected into the read (``os.read`` patched in the one worker that runs in-process).
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections import namedtuple
from datetime import datetime, timezone
from pathlib import Path

import pytest

from archive_helpers import make_partition, sevenzip
from icefloe.archive import consolidate, test_archive
from icefloe.errors import (
    ChecksumMismatch,
    FileChanged,
    InputNotFound,
    InputUnreadable,
    NotEnoughSpace,
    PasswordError,
    TooLarge,
    UsageError,
)

consolidation = sys.modules["icefloe.archive.consolidation"]
sevenzip_mod = sys.modules["icefloe.archive.sevenzip"]
NOW = datetime(2024, 5, 1, 12, 30, 0, tzinfo=timezone.utc)


def run(source: Path, out: Path, **kw):
    kw.setdefault("workers", 1)
    return consolidate(source, out, label="photos-a", now=NOW, **kw)


def assert_nothing_left(out: Path) -> None:
    assert not out.exists() or list(out.iterdir()) == []


def test_missing_partition_and_missing_sentinel(tmp_path: Path) -> None:
    with pytest.raises(InputNotFound, match="does not exist: is its disk mounted"):
        run(tmp_path / "nope", tmp_path / "out")
    bare = tmp_path / "bare"
    (bare / "a").mkdir(parents=True)
    (bare / "a" / "f.txt").write_text("x")
    with pytest.raises(InputNotFound, match=r"has no \.icefloe-partition file"):
        run(bare, tmp_path / "out")
    assert run(bare, tmp_path / "out", sentinel=None).file_count == 1


def test_empty_partition(tmp_path: Path) -> None:
    part = tmp_path / "p"
    (part / "only" / "folders").mkdir(parents=True)
    (part / ".icefloe-partition").write_text("x")
    (part / ".icefloe-trash").mkdir()
    (part / ".icefloe-trash" / "gone.jpg").write_bytes(b"x")
    with pytest.raises(UsageError, match="holds no files to archive"):
        run(part, tmp_path / "out")
    assert_nothing_left(tmp_path / "out")


def test_named_pipe_is_named_not_skipped(partition: Path, tmp_path: Path) -> None:
    os.mkfifo(partition / "Documents" / "pipe")
    with pytest.raises(InputUnreadable, match=r"Documents/pipe is a named pipe.*move it out"):
        run(partition, tmp_path / "out")
    assert_nothing_left(tmp_path / "out")


def test_name_that_is_not_utf8(partition: Path, tmp_path: Path) -> None:
    os.close(os.open(os.fsencode(partition / "Documents") + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY))
    with pytest.raises(InputUnreadable, match=r"caf\\xe9\.txt.*not valid UTF-8.*rename it"):
        run(partition, tmp_path / "out")


@pytest.mark.parametrize("workers", [1, 2])
def test_file_removed_after_the_scan_is_named(partition: Path, tmp_path: Path, monkeypatch, workers: int) -> None:
    real_scan = consolidation.scan_partition

    def scan_then_remove(*args, **kwargs):
        entries = real_scan(*args, **kwargs)
        (partition / "Documents" / "notes.txt").unlink()
        return entries

    monkeypatch.setattr(consolidation, "scan_partition", scan_then_remove)
    with pytest.raises(InputUnreadable, match=r"cannot read Documents/notes\.txt: No such file"):
        run(partition, tmp_path / "out", workers=workers)
    assert_nothing_left(tmp_path / "out")
    assert (partition / "Photos").exists()  # nothing of the source was touched


def test_read_error_is_named(partition: Path, tmp_path: Path, monkeypatch) -> None:
    real_read = os.read
    target = os.stat(partition / "Documents" / "notes.txt").st_ino

    def failing_read(fd: int, size: int) -> bytes:
        if os.fstat(fd).st_ino == target:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_read(fd, size)

    monkeypatch.setattr(sevenzip_mod.os, "read", failing_read)
    with pytest.raises(InputUnreadable, match=r"cannot read Documents/notes\.txt: Input/output error"):
        run(partition, tmp_path / "out")
    assert_nothing_left(tmp_path / "out")


def test_file_that_changes_while_archived(partition: Path, tmp_path: Path, monkeypatch) -> None:
    real_scan = consolidation.scan_partition

    def scan_then_grow(*args, **kwargs):
        entries = real_scan(*args, **kwargs)
        with open(partition / "Photos" / "2019" / "Été à Zürich 🏔" / "IMG_0001.JPG", "ab") as fh:
            fh.write(b"more")
        return entries

    monkeypatch.setattr(consolidation, "scan_partition", scan_then_grow)
    with pytest.raises(FileChanged, match=r"IMG_0001\.JPG changed while it was being archived"):
        run(partition, tmp_path / "out")
    assert_nothing_left(tmp_path / "out")


def test_not_enough_space_is_checked_before_writing(partition: Path, tmp_path: Path, monkeypatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(consolidation.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**5, 10**5))
    with pytest.raises(NotEnoughSpace, match=r"has 97\.7 KiB free but consolidating photos-a needs about") as err:
        run(partition, tmp_path / "out")
    assert err.value.exit_code == 10 and not isinstance(err.value, UsageError)  # not a usage mistake
    assert_nothing_left(tmp_path / "out")


def test_disc_images_count_in_the_space_check(partition: Path, tmp_path: Path, monkeypatch) -> None:
    """30 MiB free holds the archive but not the archive and its disc images: refused up front."""
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(consolidation.shutil, "disk_usage", lambda path: usage(10**10, 10**10 - 30 * 2**20, 30 * 2**20))
    images = tmp_path / "work" / "discs"
    with pytest.raises(NotEnoughSpace, match=r"needs about .* of archives, .* of disc images\): .*nothing was written"):
        run(partition, tmp_path / "work" / "archives", image_dir=images, volume_size=512 * 1024)
    assert not (tmp_path / "work").exists()
    result = run(partition, tmp_path / "work" / "archives", volume_size=512 * 1024)  # the archive alone fits
    assert len(result.volumes) > 1


def test_file_larger_than_a_disc_without_volumes(partition: Path, tmp_path: Path) -> None:
    with pytest.raises(TooLarge, match=r"notes\.txt is 390\.6 KiB, more than one disc holds \(195\.3 KiB\).*split"):
        run(partition, tmp_path / "out", disc_capacity=200_000)
    # every file fits, the archive does not: refused after writing, and removed
    with pytest.raises(TooLarge, match=r"the archive of photos-a is .* more than one disc holds"):
        run(partition, tmp_path / "out", disc_capacity=400_000)
    assert_nothing_left(tmp_path / "out")
    # with volumes the same data simply spans discs
    assert len(run(partition, tmp_path / "out", disc_capacity=400_000, volume_size=400_000).volumes) > 1


def test_bad_arguments(partition: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="inside the partition"):
        run(partition, partition / "archives")
    with pytest.raises(UsageError, match="not a partition label"):
        consolidate(partition, tmp_path / "out", label="../evil")
    with pytest.raises(UsageError, match="password is empty"):
        run(partition, tmp_path / "out", password="")
    with pytest.raises(UsageError, match="unknown compression"):
        run(partition, tmp_path / "out", compression="zstd")
    with pytest.raises(UsageError, match="too small"):
        run(partition, tmp_path / "out", volume_size=1000)


def test_two_consolidations_in_one_second_get_distinct_sets(partition: Path, tmp_path: Path) -> None:
    first = run(partition, tmp_path / "out")
    second = run(partition, tmp_path / "out")  # the same second: the next free name
    assert (first.set_name, second.set_name) == ("photos-a-20240501T123000Z", "photos-a-20240501T123001Z")
    # a run still writing holds its name by its partial folder
    (tmp_path / "out" / ".photos-a-20240501T123002Z.partial").mkdir()
    assert run(partition, tmp_path / "out").set_name == "photos-a-20240501T123003Z"
    assert all(r.volumes[0].path.is_file() for r in (first, second))
    with pytest.raises(UsageError, match="set names of photos-a .* are taken.*another consolidation"):
        consolidation.reserve_set(tmp_path / "out", "photos-a", NOW, attempts=3)


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x55]))


@pytest.mark.parametrize("password", [None, "pw"])
def test_flipped_byte_is_found(tmp_path: Path, password: str | None) -> None:
    part = make_partition(tmp_path / "p")
    result = run(part, tmp_path / "out", password=password, workers=2)
    path = result.volumes[0].path
    test_archive(path, password)
    damaged = tmp_path / "damaged.7z"
    shutil.copy(path, damaged)
    flip(damaged, 32 + 1000)  # inside the first stored folder (the media)
    with pytest.raises(ChecksumMismatch, match="does not match its checksum"):
        test_archive(damaged, password)
    args = ["t", f"-p{password}"] if password else ["t"]
    assert sevenzip(*args, str(damaged), check=False).returncode != 0
    # the compressed folders, the (compressed, encrypted) header, the header's own record
    for back in (3000, 1200, 600, 300, 100, 40, 10):
        shutil.copy(path, damaged)
        flip(damaged, path.stat().st_size - back)
        with pytest.raises((ChecksumMismatch, PasswordError)):
            test_archive(damaged, password)
        assert sevenzip(*args, str(damaged), check=False).returncode != 0, back


def test_wrong_or_missing_password(tmp_path: Path) -> None:
    part = make_partition(tmp_path / "p")
    path = run(part, tmp_path / "out", password="right").volumes[0].path
    with pytest.raises(PasswordError, match="password is wrong"):
        test_archive(path, "wrong")
    with pytest.raises(PasswordError, match="is encrypted: set the archive password"):
        test_archive(path, None)
    with pytest.raises(InputNotFound):
        test_archive(tmp_path / "missing.7z", None)


def test_test_archive_reads_7zips_own_archives(partition: Path, tmp_path: Path) -> None:
    plain, secret = tmp_path / "plain.7z", tmp_path / "secret.7z"
    sevenzip("a", "-snl", "-mx=1", str(plain), "Documents", "Photos", cwd=partition)
    sevenzip("a", "-snl", "-mx=1", "-pabc", "-mhe=on", "-v200k", str(secret), "Documents", cwd=partition)
    assert len(test_archive(plain)) == 1
    volumes = sorted(tmp_path.glob("secret.7z.*"))
    assert len(volumes) > 1 and len(test_archive(volumes[0], "abc", workers=2)) == len(volumes)
    with pytest.raises(PasswordError):
        test_archive(volumes[0], "abd")
    flip(plain, plain.stat().st_size // 3)
    with pytest.raises(ChecksumMismatch):
        test_archive(plain)


def test_disk_full_while_writing_is_not_blamed_on_a_file(partition: Path, tmp_path: Path, monkeypatch) -> None:
    volumes = sys.modules["icefloe.archive.volumes"]
    real = volumes.os.pwrite
    calls = {"n": 0}

    def pwrite(fd: int, data, offset: int) -> int:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data, offset)

    monkeypatch.setattr(volumes.os, "pwrite", pwrite)
    with pytest.raises(NotEnoughSpace, match="ran out of space while the archive was written"):
        run(partition, tmp_path / "out")
    assert_nothing_left(tmp_path / "out")
