"""The content check of a clear: a file goes only if its bytes are the ones the archive holds.

Size and mtime say nothing about a file edited in place with its time put back (as photo
tools that "preserve the date" do), and rsync's quick check skips it too. So every file is
read once, after it was renamed into the trash (where no program looks for it by name), and
its SHA-256 compared with the manifest's. A mismatch, or any change while it was read, puts
the file back where it was, never over something new.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

READ_CHUNK = 1 << 20  # hashlib releases the GIL for buffers this size


def _same_meta(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_ino, before.st_size, before.st_mtime_ns, before.st_ctime_ns) == (
        after.st_ino, after.st_size, after.st_mtime_ns, after.st_ctime_ns)


def content_problem(path: Path, size: int, mtime_ns: int, sha256s: tuple[str, ...]) -> str | None:
    """Why the regular file at ``path`` may not be purged, or None when its bytes match.

    ``sha256s`` are the digests the archive sets recorded for this path at this size and
    mtime; the file must equal one of them and must not change while it is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        return f"could not be read to check it against the archive ({exc.strerror})"
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or before.st_size != size or before.st_mtime_ns != mtime_ns:
            return "changed since the plan was made"
        digest = hashlib.sha256()
        while chunk := os.read(fd, READ_CHUNK):
            digest.update(chunk)
        after = os.fstat(fd)
    except OSError as exc:
        return f"could not be read to check it against the archive ({exc.strerror})"
    finally:
        os.close(fd)
    if not _same_meta(before, after):
        return "changed while it was checked against the archive"
    if digest.hexdigest() not in sha256s:
        return ("its content differs from the archived copy although its size and time are "
                "the same (edited in place?): archive it again before clearing it")
    return None


def put_back(moved: Path, original: Path, stamp: str) -> str | None:
    """Move a file from the trash back to ``original`` without replacing anything there.

    Returns None when it is back at its place, else the partition-side name it was given
    because something new took its place meanwhile (``<name>.icefloe-kept-<stamp>``).
    """
    original.parent.mkdir(parents=True, exist_ok=True)
    for attempt, target in enumerate((original, original.with_name(f"{original.name}.icefloe-kept-{stamp}"))):
        try:
            os.link(moved, target, follow_symlinks=False)  # fails rather than replaces
        except FileExistsError:
            continue
        except OSError:  # a filesystem without hard links: check, then rename
            if os.path.lexists(target):
                continue
            os.rename(moved, target)
            return None if attempt == 0 else target.name
        os.unlink(moved)
        return None if attempt == 0 else target.name
    raise FileExistsError(f"{original} and its kept name both exist; {moved} stays in the trash")
