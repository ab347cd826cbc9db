"""Files written so a crash never leaves one that looks complete: temporary name, fsync, rename.

A writer holds an advisory lock (flock) on what it is writing: the temporary file itself, or
a lock file inside a folder being filled. The kernel drops the lock when the writer dies, even
by SIGKILL, so ``remove_leftovers`` can tell a killed run's leftovers from a live run's work.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

WRITER_LOCK = ".icefloe-writer.lock"
# A leftover younger than this might be a writer between creating it and locking it.
LEFTOVER_GRACE_S = 5.0


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Yield a file to write; on success it is fsynced and renamed to ``path``.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    fcntl.flock(fd, fcntl.LOCK_EX)  # held until closed: marks the file as being written
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    with atomic_output(path, mode) as handle:
        handle.write(data)


def commit_file(tmp: Path, final: Path) -> None:
    """fsync a finished temporary file and rename it into place."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    fsync_dir(Path(final).parent)


@contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """Hold a shared lock on ``folder``'s lock file while filling it (several writers may)."""
    fd = os.open(Path(folder) / WRITER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _unlocked(path: Path) -> bool:
    """True when no live process holds a lock on ``path`` (then nobody writes through it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return True
    try:
        return _lock_at_once(fd)
    finally:
        os.close(fd)


def _lock_at_once(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False when a live process holds one."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


def _is_leftover(path: Path, grace_s: float) -> bool:
    st = path.lstat()
    if time.time() - st.st_mtime < grace_s:
        return False
    if path.is_dir() and not path.is_symlink():
        lock = path / WRITER_LOCK
        return _unlocked(lock) if lock.exists() else True
    return path.is_file() and _unlocked(path)


def remove_leftovers(folder: Path, pattern: re.Pattern[str], grace_s: float = LEFTOVER_GRACE_S) -> list[Path]:
    """Remove what killed runs left in ``folder``: entries whose whole name matches ``pattern``
    (only icefloe's own temporary names) and that no live process is writing. Returns them."""
    removed: list[Path] = []
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return removed
    for name in names:
        path = Path(folder) / name
        if not pattern.fullmatch(name):
            continue
        try:
            if not _is_leftover(path, grace_s):
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    if removed:
        fsync_dir(Path(folder))
    return removed


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Hold a shared lock on the finished file ``path`` while reading it, so that
    ``remove_unlocked`` (icefloe clean) leaves it alone meanwhile."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def remove_unlocked(path: Path) -> bool:
    """Remove the file ``path`` unless a live process holds a lock on it (a writer or a reader
    under ``reading``). The check and the unlink happen under our own exclusive lock, so no
    reader can start in between. Returns whether it was removed (False: held, or gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        if not _lock_at_once(fd):
            return False
        os.unlink(path)
    finally:
        os.close(fd)
    fsync_dir(Path(path).parent)
    return True
