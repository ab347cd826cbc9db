"""Walking a partition: what goes into its archive, and how each file is stored.

Everything under the partition is archived except the two things that belong to the
partition itself, not its data: the sentinel file and the trash folder at its root. Folders
(empty ones too), regular files and symlinks (stored as links, never followed) are kept.
Anything else (a pipe, a socket, a device), a name that is not valid UTF-8, or a folder that
cannot be listed is refused with an error naming it: nothing is skipped silently.
"""

from __future__ import annotations

import os
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path

from icefloe.errors import InputNotFound, InputUnreadable, UsageError

TRASH_DIR = ".icefloe-trash"
DEFAULT_SENTINEL = ".icefloe-partition"

# Formats whose data is already compressed: LZMA gains next to nothing on them at 3-13 MB/s.
MEDIA_EXTENSIONS = frozenset(
    """
    jpg jpeg jpe jfif heic heif avif webp png gif jxl jp2
    mp4 m4v mov mkv avi webm 3gp 3g2 mts m2ts mpg mpeg wmv flv ogv
    mp3 m4a aac flac ogg oga opus wma
    zip 7z gz tgz bz2 tbz2 xz txz zst lz4 lzma rar cab jar apk
    docx xlsx pptx odt ods odp epub
    """.split()
)
SAMPLE_SIZE = 64 * 1024
# A zlib level-1 pass over the sample that saves less than 5% means the data is compressed.
INCOMPRESSIBLE_RATIO = 0.95
SMALL_FILE = 4096

COPY = "copy"
LZMA2 = "lzma2"


@dataclass(frozen=True)
class Entry:
    """One thing found in the partition. ``path`` is relative, with ``/`` separators."""

    path: str
    kind: str  # "file", "dir" or "symlink"
    size: int
    mtime_ns: int
    mode: int
    target: str | None = None  # symlinks
    method: str | None = None  # files: COPY or LZMA2


def classify(path: Path, size: int, compression: str = "auto") -> str:
    """COPY for data that is already compressed, LZMA2 for the rest."""
    if compression in (COPY, LZMA2):
        return compression
    if compression != "auto":
        raise UsageError(f"unknown compression {compression!r}: use auto, lzma2 or copy")
    ext = path.suffix.lower().lstrip(".")
    if ext in MEDIA_EXTENSIONS:
        return COPY
    if size < SMALL_FILE:
        return LZMA2
    return COPY if _incompressible(path, size) else LZMA2


def _incompressible(path: Path, size: int) -> bool:
    """Sample the middle of the file: headers are often more compressible than the payload."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, size // 2 - SAMPLE_SIZE // 2))
            sample = handle.read(SAMPLE_SIZE)
    except OSError as exc:
        raise InputUnreadable(f"cannot read {path}: {exc.strerror}; fix it or move it out of the partition") from None
    if not sample:
        return False
    return len(zlib.compress(sample, 1)) / len(sample) > INCOMPRESSIBLE_RATIO


def _name(root: Path, path: Path) -> str:
    rel = path.relative_to(root).as_posix()
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
        raise InputUnreadable(
            f"the name '{shown}' is not valid UTF-8, which 7z archives cannot store; rename it "
            "(for example with `convmv -f latin1 -t utf8`) and consolidate again"
        ) from None
    return rel


def scan_partition(
    root: Path,
    *,
    sentinel: str | None = DEFAULT_SENTINEL,
    compression: str = "auto",
) -> list[Entry]:
    """Every entry under ``root`` in a stable order (sorted by path), folders before contents."""
    root = Path(root)
    if not root.is_dir():
        raise InputNotFound(f"partition folder {root} does not exist: is its disk mounted?")
    if sentinel and not (root / sentinel).is_file():
        raise InputNotFound(
            f"{root} has no {sentinel} file, so it may not be the partition's disk: mount the "
            f"right disk (or create {root / sentinel} if this folder is the partition)"
        )
    skip_at_root = {TRASH_DIR} | ({sentinel} if sentinel else set())
    entries: list[Entry] = []
    _walk(root, root, skip_at_root, compression, entries)
    if not any(e.kind != "dir" for e in entries):
        raise UsageError(f"partition {root} holds no files to archive; nothing to consolidate")
    return entries


def _walk(root: Path, top: Path, skip: set[str], compression: str, out: list[Entry]) -> None:
    # An explicit stack, so a deep tree cannot exhaust Python's recursion limit.
    stack = [iter(_children(root, top, skip))]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            continue
        path = Path(child.path)
        rel = _name(root, path)
        try:
            st = child.stat(follow_symlinks=False)
        except OSError as exc:
            raise InputUnreadable(f"cannot read {rel}: {exc.strerror}") from None
        mode = st.st_mode
        perm = stat.S_IMODE(mode)
        if stat.S_ISLNK(mode):
            target = os.readlink(path)
            try:
                target.encode("utf-8")
            except UnicodeEncodeError:
                raise InputUnreadable(f"the symlink {rel} points to a name that is not valid UTF-8; fix it") from None
            size = len(os.fsencode(target))
            out.append(Entry(rel, "symlink", size, st.st_mtime_ns, perm | stat.S_IFLNK, target))
        elif stat.S_ISDIR(mode):
            out.append(Entry(rel, "dir", 0, st.st_mtime_ns, perm | stat.S_IFDIR))
            stack.append(iter(_children(root, path, skip)))
        elif stat.S_ISREG(mode):
            method = classify(path, st.st_size, compression)
            out.append(Entry(rel, "file", st.st_size, st.st_mtime_ns, perm | stat.S_IFREG, method=method))
        else:
            what = "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device file"
            raise InputUnreadable(
                f"{rel} is {what}, which cannot be archived: move it out of the partition and "
                "consolidate again"
            )


def _children(root: Path, folder: Path, skip: set[str]) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda d: d.name)
    except OSError as exc:
        raise InputUnreadable(f"cannot list {folder}: {exc.strerror}; fix its permissions and try again") from None
    if folder == root:
        children = [c for c in children if c.name not in skip]
    return children
