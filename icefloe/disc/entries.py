"""What goes on a disc: entries (files, folders, symlinks) and the plan of one disc."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from icefloe.disc.capacity import SECTOR
from icefloe.errors import InputNotFound, InputUnreadable

FILE, DIR, SYMLINK = "file", "dir", "symlink"


@dataclass(frozen=True)
class DiscEntry:
    """One entry on a disc, at ``path`` (POSIX, relative, real names).

    A file's data comes from ``source`` (read while the image is written) or ``data`` (small
    generated files such as RESTORE.txt). ``sha256`` is the checksum the data must have, when
    it is known beforehand (archive volumes recorded in the catalog).
    """

    path: str
    kind: str = FILE
    size: int = 0
    source: Path | None = None
    data: bytes | None = None
    target: str | None = None  # a symlink's target, stored as is and never followed
    mode: int | None = None  # permission bits from the source
    sha256: str | None = None

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]


@dataclass(frozen=True)
class DiscPlan:
    """One disc of a set: its entries in write order, and its exact size in sectors."""

    set_name: str
    index: int  # 1-based
    count: int
    disc_type: str
    capacity_sectors: int
    sectors: int
    entries: tuple[DiscEntry, ...]
    volumes: tuple[str, ...] = ()  # names of the archive volumes on this disc
    # The least PAR2 recovery data, as a share of the disc's data, the image carries (disc/recovery.py).
    redundancy: float = 0.0

    @property
    def image_name(self) -> str:
        return f"{self.set_name}-disc-{self.index:02d}-of-{self.count:02d}.iso"

    @property
    def size(self) -> int:
        return self.sectors * SECTOR

    @property
    def free_sectors(self) -> int:
        return self.capacity_sectors - self.sectors

    @property
    def data_bytes(self) -> int:
        return sum(e.size for e in self.entries if e.kind == FILE)


def checked_name(path: Path) -> str:
    """The file's name as text; InputUnreadable when it is not valid UTF-8."""
    name = path.name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InputUnreadable(
            f"{os.fsencode(path)!r}: the name is not valid UTF-8, so no disc file system can "
            "store it; rename the file"
        ) from None
    return name


def regular_file(path: Path, disc_path: str, sha256: str | None = None) -> DiscEntry:
    """An entry for a regular file, checked to exist and be readable now."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise InputNotFound(f"{path} does not exist") from None
    except OSError as exc:
        raise InputUnreadable(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputUnreadable(f"{path} is not a regular file")
    _probe_readable(path)
    return DiscEntry(disc_path, FILE, st.st_size, source=Path(path), mode=stat.S_IMODE(st.st_mode), sha256=sha256)


def _probe_readable(path: Path) -> None:
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NOFOLLOW))
    except OSError as exc:
        raise InputUnreadable(
            f"cannot read {path}: {exc.strerror}; fix its permissions (nothing was written)"
        ) from None


def scan_tree(root: Path) -> list[DiscEntry]:
    """Every entry under ``root``, parents before children, names sorted; symlinks not followed.

    Raises InputUnreadable naming the first entry that cannot be stored or read.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputNotFound(f"{root} is not a folder")
    out: list[DiscEntry] = []
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise InputUnreadable(
                f"cannot list {folder}: {exc.strerror}; fix its permissions (nothing was written)"
            ) from None
        subdirs = []
        for child in children:
            path = Path(child.path)
            rel = prefix + checked_name(path)
            try:
                st = child.stat(follow_symlinks=False)
            except OSError as exc:
                raise InputUnreadable(f"cannot read {path}: {exc.strerror}") from None
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(path)
                try:
                    target.encode("utf-8")
                except UnicodeEncodeError:
                    raise InputUnreadable(
                        f"{path}: the link target is not valid UTF-8; change the link"
                    ) from None
                out.append(DiscEntry(rel, SYMLINK, target=target, mode=mode))
            elif stat.S_ISDIR(st.st_mode):
                out.append(DiscEntry(rel, DIR, mode=mode))
                subdirs.append((path, rel + "/"))
            elif stat.S_ISREG(st.st_mode):
                _probe_readable(path)
                out.append(DiscEntry(rel, FILE, st.st_size, source=path, mode=mode))
            else:
                kind = "socket" if stat.S_ISSOCK(st.st_mode) else "device or pipe"
                raise InputUnreadable(
                    f"{path} is a {kind}, which a disc cannot hold; move it out of {root}"
                )
        # A folder is listed when its parent is, so it always precedes its own entries.
        stack.extend(reversed(subdirs))
    return out
