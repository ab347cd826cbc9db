"""Putting verified files into the restore folder: staged, checked, then renamed into place.

Every file is written into a staging folder inside the target (same filesystem, so the final
rename is atomic), fsynced, verified, and only then renamed to its place, with its mtime
and mode. A crash leaves only verified files in place, plus the staging folder
(``.icefloe-restore-*.partial``, unverified data only), which the next restore into the same
folder removes: a live restore holds a lock in its own, so only a dead one's goes. An
existing file is never replaced by a different one unless ``overwrite``: an identical one
counts as restored, a different one is a conflict and stays as it is.
Paths from the archive are checked: nothing is written outside the target, and no path
goes through a symlink (symlinks are created last, after every file).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from icefloe.errors import PlaceTaken, UsageError
from icefloe.fsutil import fsync_dir, remove_leftovers, writer_lock

STAGING = ".icefloe-restore-"  # + a unique suffix: restores into one folder may run at once
_STAGING_NAME = re.compile(re.escape(STAGING) + r".+\.partial")
BLOCK = 1 << 20


def safe_relpath(name: str) -> PurePosixPath | None:
    """The archive path as a relative path that stays inside the target, or None if it cannot."""
    path = PurePosixPath(name.replace("\\", "/"))
    if not name or path.is_absolute() or any(part in ("..", "") for part in path.parts) or path == PurePosixPath("."):
        return None
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(8 * BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Placed:
    status: str  # "restored" or "unchanged"


class Placer:
    """The target folder of a restore and its staging folder."""

    def __init__(self, target: Path, *, overwrite: bool = False) -> None:
        self.target = Path(target).absolute()
        try:
            self.target.mkdir(parents=True, exist_ok=True)
            self.stage = Path(tempfile.mkdtemp(prefix=STAGING, suffix=".partial", dir=self.target))
            self._stage_lock = writer_lock(self.stage)  # held until close: this staging folder is in use
            self._stage_lock.__enter__()
            remove_leftovers(self.target, _STAGING_NAME)  # killed restores' staging folders
        except FileExistsError:
            raise UsageError(f"the restore folder {self.target} exists and is not a folder") from None
        except OSError as exc:
            raise UsageError(f"cannot write into the restore folder {self.target}: {exc.strerror}") from None
        self.real = Path(os.path.realpath(self.target))
        self.overwrite = overwrite
        self._count = 0
        self._lock = threading.Lock()
        self._touched: set[Path] = set()
        self._dirs: dict[Path, int] = {}

    def staging_file(self) -> Path:
        with self._lock:
            self._count += 1
            return self.stage / f"{self._count:08d}"

    def close(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)
        self._stage_lock.__exit__(None, None, None)
        for folder in sorted(self._touched, key=lambda p: -len(p.parts)):
            try:
                fsync_dir(folder)
            except OSError:
                pass

    def final(self, rel: PurePosixPath) -> Path:
        return self.target.joinpath(*rel.parts)

    def _parent(self, rel: PurePosixPath) -> Path:
        """Create the parent folders of ``rel``, refusing a symlink or a file on the way."""
        folder = self.target
        for part in rel.parts[:-1]:
            folder = folder / part
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                raise PlaceTaken(f"{folder} is in the way (not a folder)")
            folder.mkdir(exist_ok=True)  # folder threads may race to make it
        if not Path(os.path.realpath(folder)).is_relative_to(self.real):
            raise PlaceTaken(f"{folder} leads outside {self.target}")
        self._touched.add(folder)
        return folder

    def make_dir(self, rel: PurePosixPath, mtime_ns: int | None) -> None:
        self._parent(rel)
        path = self.final(rel)
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise PlaceTaken(f"{path} exists and is not a folder")
        path.mkdir(exist_ok=True)
        if mtime_ns is not None:
            self._dirs[path] = mtime_ns

    def place_file(self, staged: Path, rel: PurePosixPath, sha256: str, mtime_ns: int | None, mode: int | None) -> Placed:
        """Move a verified staged file to its place (or keep an identical one that is there)."""
        try:
            self._parent(rel)
            path = self.final(rel)
            os.chmod(staged, mode if mode is not None else 0o644)
            if mtime_ns is not None:
                os.utime(staged, ns=(mtime_ns, mtime_ns))
            if os.path.lexists(path):
                if path.is_file() and not path.is_symlink() and sha256_file(path) == sha256:
                    if mtime_ns is not None:
                        os.utime(path, ns=(mtime_ns, mtime_ns))
                    return Placed("unchanged")
                if path.is_dir() and not path.is_symlink():
                    raise PlaceTaken(f"{path} is a folder")
                if not self.overwrite:
                    raise PlaceTaken(f"{path} exists with other content (kept; --overwrite replaces it)")
            os.replace(staged, path)
            return Placed("restored")
        finally:
            staged.unlink(missing_ok=True)

    def place_symlink(self, rel: PurePosixPath, target: str, mtime_ns: int | None) -> Placed:
        self._parent(rel)
        path = self.final(rel)
        if os.path.lexists(path):
            if path.is_symlink() and os.readlink(path) == target:
                self._link_time(path, mtime_ns)
                return Placed("unchanged")
            if not self.overwrite or (path.is_dir() and not path.is_symlink()):
                raise PlaceTaken(f"{path} exists and is not this link (kept; --overwrite replaces it)")
        staged = self.staging_file()
        os.symlink(target, staged)
        self._link_time(staged, mtime_ns)
        os.replace(staged, path)
        return Placed("restored")

    @staticmethod
    def _link_time(path: Path, mtime_ns: int | None) -> None:
        if mtime_ns is not None and os.utime in os.supports_follow_symlinks:
            os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)

    def finish_dirs(self) -> None:
        """Folder times last (placing files changes them), deepest first."""
        for path, mtime_ns in sorted(self._dirs.items(), key=lambda kv: -len(kv[0].parts)):
            try:
                os.utime(path, ns=(mtime_ns, mtime_ns))
            except OSError:
                pass


def unix_mode(attributes: int | None) -> int | None:
    """The permission bits 7z stores in the high 16 bits of the attributes (p7zip, py7zr, icefloe)."""
    if attributes is None or not attributes & 0x8000:
        return None
    return stat.S_IMODE(attributes >> 16)


def is_symlink_attr(attributes: int | None) -> bool:
    if attributes is None:
        return False
    if attributes & 0x8000 and stat.S_ISLNK(attributes >> 16):
        return True
    return bool(attributes & 0x400) and not attributes & 0x10
