"""Extracting an archive set and checking every file against its manifest.

The set's volumes are read as one stream (:mod:`icefloe.restore.sources`) and each of the
archive's folders (7z compressed streams) is decoded on its own (:mod:`icefloe.restore.sevenzip`),
two at a time, so damage stays local: a folder that fails to decode (a flipped byte, a missing volume) loses
the files it holds from the failing one on, and every other file is still extracted. Each
file is hashed as it is written and must match the manifest's SHA-256 (the 7z CRC, when the
manifest has none for it); then a placing thread fdatasyncs it and renames it into place
(:mod:`icefloe.restore.place`) with its mtime, while the folder threads decode on. The restore returns once all are placed; folders,
empty folders and symlinks come back too. The manifest is the copy inside the archive
(``.icefloe/<set>.manifest.json``), else the sidecar from the discs; without either, files
are checked against the 7z CRCs alone and the report says so.

The result is an :class:`ExtractReport` listing what could not be restored; files that
could be verified stay in place whatever else failed. ``raise_for_problems`` turns it into
one clear error. A wrong password is found before anything is written.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any

from icefloe import manifest as mf
from icefloe.errors import ChecksumMismatch, IcefloeError, MissingVolume, NotEnoughSpace, PlaceTaken, UsageError
from icefloe.progress import NullProgress, Progress
from icefloe.restore.place import (
    Placer,
    is_symlink_attr,
    safe_relpath,
    unix_mode,
)
from icefloe.restore.sevenzip import (
    DECODE_ERRORS,
    Folder,
    Member,
    damaged_volumes,
    decode,
    open_archive,
    read_inner_manifest,
)
from icefloe.restore.sources import split_volume_name
from icefloe.volumestream import VolumeReader, VolumeSource


@dataclass(frozen=True)
class Problem:
    path: str
    kind: str  # damaged, missing, conflict, unsafe
    detail: str


@dataclass(frozen=True)
class ExtractReport:
    set_name: str
    target: str
    files: int  # verified and in place (restored now, or already there identical)
    unchanged: int  # of those, already there
    dirs: int
    symlinks: int
    bytes: int
    skipped: int  # entries --path did not select
    manifest_source: str  # where the manifest came from: "archive", "sidecar" or "none"
    problems: tuple[Problem, ...] = ()
    volume_problems: tuple[str, ...] = ()
    repaired: tuple[str, ...] = ()  # volumes mended from the discs' recovery data first
    manifest: mf.Manifest | None = field(default=None, repr=False, compare=False)  # not in to_json

    @property
    def ok(self) -> bool:
        return not self.problems and not self.volume_problems

    def summary(self) -> str:
        line = (f"{self.set_name}: {self.files} files ({self.bytes:,} bytes), {self.dirs} folders, "
                f"{self.symlinks} links verified in {self.target}")
        if self.unchanged:
            line += f" ({self.unchanged} files were already there)"
        if self.manifest_source == "none":
            line += "; no manifest could be read, so files were checked against the 7z CRCs only"
        if self.repaired:
            line += f"; {'; '.join(self.repaired)}"
        return line

    def to_json(self) -> dict[str, Any]:
        doc = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "manifest"}
        doc["problems"] = [asdict(p) for p in self.problems]
        doc["volume_problems"] = list(self.volume_problems)
        doc["repaired"] = list(self.repaired)
        doc["ok"] = self.ok
        return doc

    def raise_for_problems(self) -> None:
        """One error naming what is wrong; the verified files stay where they are."""
        if self.ok:
            return
        kinds: dict[str, int] = {}
        for problem in self.problems:
            kinds[problem.kind] = kinds.get(problem.kind, 0) + 1
        counted = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        first = self.problems[0] if self.problems else None
        example = f" (first: {first.path}: {first.detail})" if first else ""
        kept = f"the {self.files} verified files are in {self.target}"
        if self.volume_problems:
            message = f"{self.set_name}: {'; '.join(self.volume_problems)}"
            message += f"; {counted} entries not restored{example}; {kept}" if self.problems else f"; {kept}"
            missing = next((p for p in self.volume_problems if "missing" in p), None)
            raise (MissingVolume(missing.split()[1], message) if missing else ChecksumMismatch(message))
        if set(kinds) == {"conflict"}:
            raise UsageError(f"{self.set_name}: {counted}: existing files differ from the backup and were "
                             f"kept{example}; restore into an empty folder or add --overwrite; {kept}")
        raise ChecksumMismatch(f"{self.set_name}: {counted} entries could not be restored{example}; {kept}")


def extract_set(
    sources: Sequence[VolumeSource],
    target: Path,
    *,
    password: str | None,
    set_name: str | None = None,
    sidecar: mf.Manifest | None = None,
    select: str | None = None,
    overwrite: bool = False,
    workers: int = 2,
    progress: Progress | None = None,
) -> ExtractReport:
    """Extract the archive whose volumes are ``sources`` (in order) into ``target`` and verify it.

    ``select`` is a glob on paths in the archive (``photos/2019/*``; a folder selects what is in
    it). ``workers`` folders are decoded at once, each on its own handles (LZMA and AES release
    the GIL); memory is about ``workers`` x (3 MiB + the LZMA2 dictionary) plus the header.
    Raises MissingVolume, PasswordError or ChecksumMismatch only when nothing can be restored;
    otherwise returns the report, problems included.
    """
    progress = progress or NullProgress()
    sources = list(sources)
    if not sources:
        raise UsageError("there are no volumes to extract")
    parsed = split_volume_name(sources[0].name)
    archive_name = f"{parsed[0]}.7z" if parsed else sources[0].name
    set_name = set_name or (parsed[0] if parsed else archive_name)
    missing = [s.name for s in sources if not s.present]
    volume_problems = [f"volume {name} is missing" for name in missing]
    with open_archive(sources, password, archive_name) as archive:
        folders, members = archive.folders, archive.members
        manifest = read_inner_manifest(archive.reader, folders, password)
        source = "archive"
        if manifest is None and sidecar is not None:
            manifest, source = sidecar, "sidecar"
        if manifest is None:
            source = "none"
        run = _Run(Placer(target, overwrite=overwrite), manifest, select, progress)
        try:
            run.extract(sources, folders, members, password, workers)
        finally:
            run.placer.close()
    if not missing and run.damaged_folders:
        spans = [(f.offset, f.offset + f.packsize) for f in folders if f.index in run.damaged_folders]
        volume_problems += damaged_volumes(sources, spans)
    return ExtractReport(
        set_name=set_name, target=str(Path(target).absolute()), files=run.files, unchanged=run.unchanged,
        dirs=run.dirs, symlinks=run.symlinks, bytes=run.nbytes, skipped=run.skipped,
        manifest_source=source, problems=tuple(run.problems), volume_problems=tuple(volume_problems),
        manifest=manifest,
    )


# Verified files wait in the page cache for a placing thread to fsync and rename them, so the
# decoding threads never wait for the disk; their data is not held in memory here.
PLACERS = 2
MAX_STAGED = 16  # files written and verified, not yet placed


def _write_error(exc: OSError, target: Path) -> IcefloeError:
    if exc.errno == errno.ENOSPC:
        return NotEnoughSpace(f"{target} is full: free some space (or restore elsewhere) and run the "
                              "restore again; the files already verified stay")
    return IcefloeError(f"cannot write into {target}: {exc.strerror or exc}")


class _Run:
    """One extraction: what is expected, what was done, what went wrong."""

    def __init__(self, placer: Placer, manifest: mf.Manifest | None, select: str | None, progress: Progress) -> None:
        self.placer, self.select, self.progress = placer, select, progress
        self.expected = {item.path: item for item in manifest.items} if manifest else None
        self.files = self.unchanged = self.dirs = self.symlinks = self.nbytes = self.skipped = 0
        self.problems: list[Problem] = []
        self.seen: set[str] = set()
        self._lock = threading.Lock()  # counters and lists, updated by the folder threads
        self.damaged_folders: set[int] = set()
        self._placing: ThreadPoolExecutor | None = None
        self._placed: list[Future] = []
        self._room = threading.BoundedSemaphore(MAX_STAGED)

    def wanted(self, path: str) -> bool:
        if path.startswith(mf.INNER_DIR + "/") or path == mf.INNER_DIR:
            return False
        if self.select is None:
            return True
        pattern = self.select.rstrip("/")
        return fnmatch.fnmatchcase(path, pattern) or path.startswith(pattern + "/") or any(
            fnmatch.fnmatchcase(str(parent), pattern) for parent in PurePosixPath(path).parents if str(parent) != "."
        )

    def problem(self, path: str, kind: str, detail: str) -> None:
        with self._lock:
            self.problems.append(Problem(path, kind, detail))

    def kind_of(self, member: Member) -> str:
        item = self.expected.get(member.name) if self.expected is not None else None
        if item is not None:
            return item.kind
        if member.is_dir:
            return "dir"
        return "symlink" if is_symlink_attr(member.attributes) else "file"

    def extract(self, sources: Sequence[VolumeSource], folders: list[Folder], members: list[Member],
                password: str | None, workers: int) -> None:
        chosen = [m for m in members if self.wanted(m.name)]
        self.skipped = sum(1 for m in members if not self.wanted(m.name) and not m.name.startswith(mf.INNER_DIR))
        total = sum(m.size for m in chosen if self.kind_of(m) == "file")
        self.progress.on_queued(total, f"extracting {len(chosen)} entries")
        dirs = [m for m in chosen if self.kind_of(m) == "dir"]
        if self.expected is not None:  # folders only the manifest knows (all of them, for icefloe)
            named = {m.name for m in members}
            dirs += [Member(-1, p, 0, None, None, item.mtime_ns, None, True)
                     for p, item in self.expected.items() if item.kind == "dir" and p not in named and self.wanted(p)]
        for member in dirs:
            self._dir(member)
        links: list[tuple[Member, bytes]] = []
        wanted_ids = {id(m) for m in chosen}
        todo = [f for f in folders if any(id(m) in wanted_ids for m in f.members)]
        todo.sort(key=lambda f: -sum(f.unpacksizes))  # the longest first, so the threads end together

        def one(folder: Folder) -> None:
            with VolumeReader(sources) as reader:
                self._folder(reader, folder, password, wanted_ids, links)

        try:
            with ThreadPoolExecutor(PLACERS, thread_name_prefix="icefloe-place") as self._placing:
                for member in chosen:
                    if member.folder is None and self.kind_of(member) == "file":
                        self._file(member, iter(()), links)
                if workers > 1 and len(todo) > 1:
                    with ThreadPoolExecutor(min(workers, len(todo)), thread_name_prefix="icefloe-extract") as pool:
                        list(pool.map(one, todo))
                else:
                    for folder in todo:
                        one(folder)
            for future in self._placed:
                future.result()  # a disk error while placing
            for member, data in links:
                self._symlink(member, data)
        finally:
            self.progress.on_done()
        if self.expected is not None:
            for path, item in sorted(self.expected.items()):
                if path not in self.seen and self.wanted(path) and item.kind != "dir":
                    self.problem(path, "missing", "listed in the manifest but not in the archive")
        self.placer.finish_dirs()

    def _folder(self, reader, folder: Folder, password, wanted_ids: set[int], links) -> None:
        try:
            for member, chunks in decode(reader, folder, password):
                if id(member) not in wanted_ids:
                    for _ in chunks:
                        pass
                    continue
                self._file(member, chunks, links)
        except DECODE_ERRORS as exc:
            why = f"volume {exc.volume} is missing" if isinstance(exc, MissingVolume) else f"damaged ({exc or type(exc).__name__})"
            kind = "missing" if isinstance(exc, MissingVolume) else "damaged"
            if kind == "damaged":
                self.damaged_folders.add(folder.index)
            for member in folder.members:
                if id(member) in wanted_ids and member.name not in self.seen:
                    self.seen.add(member.name)
                    self.problem(member.name, kind, why)

    def _file(self, member: Member, chunks, links: list) -> None:
        """Stage, verify and place one member's data (a symlink's data is its target)."""
        kind = self.kind_of(member)
        rel = safe_relpath(member.name)
        if rel is None:
            self.seen.add(member.name)
            for _ in chunks:
                pass
            return self.problem(member.name, "unsafe", "the path would leave the restore folder; skipped")
        if kind == "symlink":
            data = b"".join(chunks)
            self.seen.add(member.name)
            links.append((member, data))
            return
        staged = self.placer.staging_file()
        item = self.expected.get(member.name) if self.expected is not None else None
        # The manifest's SHA-256 vouches for the bytes; the 7z CRC is checked only without it.
        with_crc = member.crc is not None and member.folder is not None and not (item is not None and item.sha256)
        sha, crc, size = hashlib.sha256(), 0, 0
        out = open(staged, "wb", buffering=0)  # noqa: SIM115 - closed here on error, else by _place
        try:
            for data in chunks:
                out.write(data)
                sha.update(data)
                if with_crc:
                    crc = zlib.crc32(data, crc)
                size += len(data)
                self.progress.on_progress(len(data))
        except BaseException as exc:
            out.close()
            staged.unlink(missing_ok=True)
            self.progress.on_progress(-size)
            if isinstance(exc, OSError):
                raise _write_error(exc, self.placer.target) from None
            raise
        self.seen.add(member.name)
        digest = sha.hexdigest()
        why = None
        if with_crc and crc != member.crc:
            why = "its data does not match the archive's CRC"
        elif item is not None and item.sha256 and digest != item.sha256:
            why = f"SHA-256 {digest[:16]}... differs from the manifest's {item.sha256[:16]}..."
        elif item is not None and size != item.size:
            why = f"{size} bytes, the manifest says {item.size}"
        if why:
            out.close()
            staged.unlink(missing_ok=True)
            if member.folder is not None:
                self.damaged_folders.add(member.folder)
            return self.problem(member.name, "damaged", why)
        mtime = item.mtime_ns if item is not None else member.mtime_ns
        # The fsync and the rename go to a placing thread: this one decodes on meanwhile.
        self._room.acquire()
        future = self._placing.submit(self._place, out, staged, member, rel, digest, mtime, size)
        future.add_done_callback(lambda _: self._room.release())
        with self._lock:
            self._placed.append(future)

    def _place(self, out, staged: Path, member: Member, rel, digest: str, mtime: int | None, size: int) -> None:
        """Make a verified staged file's data durable, then rename it into place (its mtime is
        set after, so only the data and size need the disk now: fdatasync, not fsync)."""
        try:
            with out:
                os.fdatasync(out.fileno())
        except OSError as exc:
            staged.unlink(missing_ok=True)
            raise _write_error(exc, self.placer.target) from None
        try:
            placed = self.placer.place_file(staged, rel, digest, mtime, unix_mode(member.attributes))
        except (PlaceTaken, OSError) as exc:
            return self.problem(member.name, "conflict", str(exc))
        with self._lock:
            self.files += 1
            self.nbytes += size
            self.unchanged += placed.status == "unchanged"

    def _symlink(self, member: Member, data: bytes) -> None:
        rel = safe_relpath(member.name)
        assert rel is not None
        self.seen.add(member.name)
        target = os.fsdecode(data)
        item = self.expected.get(member.name) if self.expected is not None else None
        if member.crc is not None and zlib.crc32(data) != member.crc:
            return self.problem(member.name, "damaged", "the link target does not match the archive's CRC")
        if item is not None and item.target is not None and item.target != target:
            return self.problem(member.name, "damaged", f"links to {target!r}, the manifest says {item.target!r}")
        try:
            self.placer.place_symlink(rel, target, item.mtime_ns if item is not None else member.mtime_ns)
        except (PlaceTaken, OSError) as exc:
            return self.problem(member.name, "conflict", str(exc))
        self.symlinks += 1

    def _dir(self, member: Member) -> None:
        rel = safe_relpath(member.name)
        self.seen.add(member.name)
        if rel is None:
            return self.problem(member.name, "unsafe", "the path would leave the restore folder; skipped")
        item = self.expected.get(member.name) if self.expected is not None else None
        try:
            self.placer.make_dir(rel, item.mtime_ns if item is not None else member.mtime_ns)
        except (PlaceTaken, OSError) as exc:
            return self.problem(member.name, "conflict", str(exc))
        self.dirs += 1


