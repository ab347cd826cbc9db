"""Consolidation: a partition becomes one 7z archive (split into disc-sized volumes if asked),
with a manifest inside it and beside it, tested before it is reported done.

The archive is made of folders (7z's compressed streams): already-compressed media is stored
(Copy) and everything else is LZMA2, each folder compressed by a worker process; symlinks,
empty files and the manifest go in a last small folder. With a password every folder and
the header are AES-256 encrypted, so without it not even the names can be listed.
The format and the restore steps are in docs/archive.md.

Everything is written in ``out_dir/.<set>.partial/`` and tested there; the folder is then
renamed to ``out_dir/<set>/`` in one step. On any error the partial folder is removed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from icefloe import lifecycle, units
from icefloe import manifest as mf
from icefloe.archive import sevenzip
from icefloe.archive.check import check_and_hash
from icefloe.archive.parallel import InlineRunner, PoolRunner, make_runner
from icefloe.archive.scan import COPY, DEFAULT_SENTINEL, LZMA2, Entry, scan_partition
from icefloe.archive.sevenzip import FolderJob, FolderResult, Member
from icefloe.archive.volumes import StreamWriter, VolumeFlusher, volume_name
from icefloe.archive.workspace import (
    PARTIAL_RE,
    _check_space,
    catalog_bytes,
    pipeline_needs,
    reserve_set,
    set_name_for,
)
from icefloe.catalog import TESTZIP, ArchiveRecord, ArchiveSet, Catalog, ManifestEntry, Verification
from icefloe.errors import IcefloeError, NotEnoughSpace, TooLarge, UsageError
from icefloe.fsutil import WRITER_LOCK, fsync_dir, remove_leftovers, writer_lock
from icefloe.passwords import make_verifier
from icefloe.progress import NullProgress, Progress

MIB = 1024 * 1024
MIN_VOLUME = 64 * 1024
# Rough per-core rates here (FACTS.md and bench/consolidate.py), only to start long jobs first.
RATE = {COPY: 3e8, LZMA2: 1.5e7}
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

VolumeSizer = Callable[[int], int]


@dataclass(frozen=True)
class ArchiveVolume:
    name: str
    path: Path
    size: int
    sha256: str
    volume: int  # 1-based
    volumes: int


@dataclass(frozen=True)
class Consolidation:
    set_name: str
    partition_label: str
    directory: Path
    volumes: tuple[ArchiveVolume, ...]
    manifest_path: Path
    manifest_sha256: str
    manifest: mf.Manifest
    file_count: int
    total_bytes: int
    encrypted: bool
    created_at: str
    stored_bytes: int  # bytes put in Copy folders
    compressed_bytes: int  # bytes put in LZMA2 folders
    folders: int
    seconds: float
    password_verifier: str | None = None  # recorded with the set (icefloe/passwords.py)
    leftovers_removed: tuple[str, ...] = ()  # killed runs' partial folders removed first

    @property
    def entries(self) -> tuple[ManifestEntry, ...]:
        return self.manifest.catalog_entries()

    @property
    def archive_bytes(self) -> int:
        return sum(v.size for v in self.volumes)


def _member(root: Path, entry: Entry) -> Member:
    data = os.fsencode(entry.target) if entry.kind == "symlink" and entry.target is not None else None
    source = str(root / entry.path) if entry.kind == "file" else None
    return Member(entry.path, entry.kind, entry.size, entry.mtime_ns, entry.mode, source, data, entry.path)


def _chunks(members: list[Member], target: int) -> list[list[Member]]:
    """Consecutive runs of about ``target`` bytes (neighbours in a tree compress together)."""
    out: list[list[Member]] = []
    run: list[Member] = []
    size = 0
    for member in members:
        run.append(member)
        size += member.size
        if size >= target:
            out.append(run)
            run, size = [], 0
    if run:
        out.append(run)
    return out


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(max(value, low), high))


def plan_folders(
    root: Path, entries: list[Entry], workers: int
) -> tuple[list[list[Member]], list[list[Member]], list[Member], list[Member]]:
    """(Copy folders, LZMA2 folders, members of the last small folder, folders-as-entries)."""
    copy = [_member(root, e) for e in entries if e.kind == "file" and e.size > 0 and e.method == COPY]
    lz = [_member(root, e) for e in entries if e.kind == "file" and e.size > 0 and e.method == LZMA2]
    small = [_member(root, e) for e in entries if e.kind == "symlink" or (e.kind == "file" and e.size == 0)]
    dirs = [_member(root, e) for e in entries if e.kind == "dir"]
    copy_total = sum(m.size for m in copy)
    lz_total = sum(m.size for m in lz)
    # Copy runs at ~300 MB/s: a few large folders. LZMA2 at ~15 MB/s: enough folders to keep
    # every worker busy to the end, each at most 64 MiB so damage stays local.
    copy_target = _clamp(copy_total / (2 * workers), 32 * MIB, 1024 * MIB)
    lz_target = _clamp(lz_total / (4 * workers), 8 * MIB, 64 * MIB)
    return _chunks(copy, copy_target), _chunks(lz, lz_target), small, dirs


def consolidate(
    source: Path,
    out_dir: Path,
    *,
    label: str,
    password: str | None = None,
    volume_size: int | VolumeSizer | None = None,
    disc_capacity: int | None = None,
    compression: str = "auto",
    lzma_preset: int = 1,
    workers: int = 2,
    sentinel: str | None = DEFAULT_SENTINEL,
    progress: Progress | None = None,
    now: datetime | None = None,
    catalog: Catalog | None = None,
    image_dir: Path | None = None,
) -> Consolidation:
    """Consolidate the partition folder ``source`` into ``out_dir/<label>-<UTC time>/``.

    ``volume_size`` splits the archive into volumes of that many bytes; a callable gets an
    upper bound on the manifest sidecar's size (known after the scan) and returns the size,
    e.g. ``lambda reserve: volume_size_for("dvd+r", reserve)``. Without volumes,
    ``disc_capacity`` refuses (TooLarge) an archive, or a file, that one disc cannot hold.

    With a ``catalog``, it is checked (writable, room for the manifest) before anything is
    read or written, and the tested set is recorded there in one transaction; a set that
    cannot be recorded is removed, so no set exists only on disk.

    ``image_dir`` (where the disc images will go, when a disc type is configured) makes the
    space check cover the whole pipeline, not only the archive.
    """
    started = time.monotonic()
    progress = progress or NullProgress()
    now = now or datetime.now(timezone.utc)
    if not LABEL_RE.fullmatch(label):
        raise UsageError(f"{label!r} is not a partition label (letters, digits, '.', '_', '-')")
    if password == "":
        raise UsageError("the archive password is empty: set a password or none at all")
    if not 0 <= lzma_preset <= 9:
        raise UsageError(f"lzma_preset must be 0 to 9, not {lzma_preset}")
    if workers < 1:
        raise UsageError("workers must be at least 1")
    source, out_dir = Path(source).absolute(), Path(out_dir).absolute()
    if out_dir.resolve().is_relative_to(source.resolve()):
        raise UsageError(f"the output folder {out_dir} is inside the partition {source}: choose another")

    if catalog is not None:
        catalog.check_writable()
    entries = scan_partition(source, sentinel=sentinel, compression=compression)
    if catalog is not None:
        catalog.check_writable(catalog_bytes(entries))
    items_bound = mf.size_bound(mf.Item(e.path, e.kind, e.size, e.mtime_ns, target=e.target) for e in entries)
    if callable(volume_size):
        volume_size = volume_size(items_bound)
    if volume_size is not None and volume_size < MIN_VOLUME:
        raise UsageError(f"a volume size of {volume_size} bytes is too small (at least {MIN_VOLUME})")
    total_bytes = sum(e.size for e in entries if e.kind == "file")
    if volume_size is None and disc_capacity is not None:
        _refuse_oversize(entries, disc_capacity)
    copy_runs, lz_runs, small, dirs = plan_folders(source, entries, workers)
    biggest_lz = max((sum(m.size for m in run) for run in lz_runs), default=0)
    leftovers = remove_leftovers(out_dir, PARTIAL_RE)  # before the space check: they free room
    _check_space(pipeline_needs(out_dir, image_dir, total_bytes=total_bytes, biggest_lz=biggest_lz,
                                items_bound=items_bound, volume_size=volume_size), label)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    set_name, partial = reserve_set(out_dir, label, now, catalog)
    final_dir = out_dir / set_name
    if catalog is not None:
        try:
            lifecycle.record_plan(catalog, set_name, label, out_dir)  # planned: the first fact
        except BaseException:
            partial.rmdir()
            raise
    plan = _Plan(
        label=label, set_name=set_name, partial=partial, entries=entries,
        copy_runs=copy_runs, lz_runs=lz_runs, small=small, dirs=dirs, password=password,
        volume_size=volume_size, compression=compression, preset=lzma_preset, now=now,
    )
    progress.on_queued(2 * total_bytes, f"consolidating {label}")
    runner = make_runner(workers, _Capped(progress, 2 * total_bytes))
    try:
        with writer_lock(plan.partial):  # a later run removes the folder only once this is gone
            volumes_info, manifest, manifest_sha = _write_and_test(plan, runner, disc_capacity, len(entries))
            os.unlink(plan.partial / WRITER_LOCK)
            for made in plan.partial.iterdir():  # the sidecar too: owner-only, as the catalog
                os.chmod(made, 0o600)
            fsync_dir(plan.partial)
            os.rename(plan.partial, final_dir)
        fsync_dir(out_dir)
    except OSError as exc:  # the output's trouble: input errors were raised as InputUnreadable
        _discard(plan, catalog)
        raise _output_error(exc, out_dir) from None
    except BaseException:
        _discard(plan, catalog)
        raise
    finally:
        runner.close()
        progress.on_done()
    count = len(volumes_info)
    volumes = tuple(
        ArchiveVolume(name, final_dir / name, size, sha, i + 1, count)
        for i, (name, size, sha) in enumerate(volumes_info)
    )
    result = Consolidation(
        set_name=set_name,
        partition_label=label,
        directory=final_dir,
        volumes=volumes,
        manifest_path=final_dir / mf.sidecar_for(set_name, password is not None),
        manifest_sha256=manifest_sha,
        manifest=manifest,
        file_count=manifest.file_count,
        total_bytes=total_bytes,
        encrypted=password is not None,
        created_at=manifest.created,
        stored_bytes=sum(m.size for run in copy_runs for m in run),
        compressed_bytes=sum(m.size for run in lz_runs for m in run),
        folders=len(copy_runs) + len(lz_runs) + 1,
        seconds=time.monotonic() - started,
        password_verifier=make_verifier(password) if password else None,
        leftovers_removed=tuple(str(p) for p in leftovers),
    )
    if catalog is not None:
        try:
            record_consolidation(catalog, result)
        except BaseException:
            shutil.rmtree(final_dir, ignore_errors=True)
            _forget(catalog, set_name)
            raise
    return result


def _discard(plan: _Plan, catalog: Catalog | None) -> None:
    """A consolidation that failed (or was interrupted) leaves neither a folder nor a plan."""
    shutil.rmtree(plan.partial, ignore_errors=True)
    if catalog is not None:
        _forget(catalog, plan.set_name)


def _forget(catalog: Catalog, set_name: str) -> None:
    try:
        lifecycle.forget_plan(catalog, set_name)
    except IcefloeError:
        pass  # the next run removes what a plan without a set leaves (lifecycle.remove_unfinished)


def _write_and_test(
    plan: _Plan, runner: InlineRunner | PoolRunner, disc_capacity: int | None, entry_count: int
) -> tuple[list[tuple[str, int, str]], mf.Manifest, str]:
    """Write the archive in the partial folder, testzip it, add the sidecar manifest; returns
    (name, size, SHA-256) per volume, the manifest and the sidecar's SHA-256."""
    with VolumeFlusher(plan.partial, plan.basename) as flusher:  # the disk writes meanwhile
        paths, manifest = _write(plan, runner)
        shas = _test_written(plan, runner, paths, disc_capacity, entry_count)
        flusher.finish(paths)  # every volume on disk before the sidecar and the rename
    volumes_info = [(p.name, p.stat().st_size, sha) for p, sha in zip(paths, shas)]
    manifest = manifest.with_volumes([mf.Volume(*v) for v in volumes_info])
    manifest_sha = mf.write_sidecar(manifest, plan.partial, plan.password)[1]  # sealed when encrypted
    return volumes_info, manifest, manifest_sha


def _test_written(
    plan: _Plan, runner: InlineRunner | PoolRunner, paths: list[Path], disc_capacity: int | None, entry_count: int
) -> list[str]:
    archive_size = sum(p.stat().st_size for p in paths)
    if plan.volume_size is None and disc_capacity is not None and archive_size > disc_capacity:
        raise TooLarge(
            f"the archive of {plan.label} is {units.size(archive_size)}, more than one disc holds "
            f"({units.size(disc_capacity)}): let icefloe split it into disc-sized volumes "
            "(drop --no-volumes), or use a larger disc type"
        )
    # testzip before anything is reported, then the sidecar with the volumes' checksums.
    return check_and_hash(paths, plan.password, runner, expected_members=entry_count + 1)


def _output_error(exc: OSError, out_dir: Path) -> IcefloeError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NotEnoughSpace(
            f"{out_dir} ran out of space while the archive was written: free some space there or "
            "set work_dir to a larger disk; nothing was kept"
        )
    return IcefloeError(f"cannot write the archive in {out_dir}: {exc.strerror}; check that folder's disk")


class _Capped:
    """Progress that stops at ``total``: testing also decodes the links and the manifest."""

    def __init__(self, progress: Progress, total: int) -> None:
        self._progress, self._left = progress, total

    def on_queued(self, total: int, label: str) -> None:
        pass

    def on_progress(self, nbytes: int) -> None:
        nbytes = min(nbytes, self._left)
        if nbytes > 0:
            self._left -= nbytes
            self._progress.on_progress(nbytes)

    def on_done(self) -> None:
        pass


def _refuse_oversize(entries: list[Entry], capacity: int) -> None:
    for entry in entries:
        if entry.size > capacity:
            raise TooLarge(
                f"{entry.path} is {units.size(entry.size)}, more than one disc holds "
                f"({units.size(capacity)}): let icefloe split the archive into disc-sized volumes "
                "(drop --no-volumes), or use a larger disc type such as bd-r"
            )


@dataclass(frozen=True)
class _Plan:
    label: str
    set_name: str
    partial: Path
    entries: list[Entry]
    copy_runs: list[list[Member]]
    lz_runs: list[list[Member]]
    small: list[Member]
    dirs: list[Member]
    password: str | None
    volume_size: int | None
    compression: str
    preset: int
    now: datetime

    @property
    def basename(self) -> str:
        return f"{self.set_name}.7z"

    def jobs(self) -> tuple[list[FolderJob], int]:
        """Copy folders at known offsets, then LZMA2 folders into temporary files; and where
        the LZMA2 folders start."""
        common = dict(preset=self.preset, password=self.password, directory=str(self.partial),
                      basename=self.basename, volume_size=self.volume_size)
        jobs: list[FolderJob] = []
        offset = sevenzip.SIGNATURE_SIZE
        for run in self.copy_runs:
            jobs.append(FolderJob(len(jobs), COPY, tuple(run), offset=offset, **common))
            offset += sevenzip.copy_packed_size(sum(m.size for m in run), self.password is not None)
        for run in self.lz_runs:
            temp = str(self.partial / f".folder-{len(jobs):05d}.tmp")
            jobs.append(FolderJob(len(jobs), LZMA2, tuple(run), temp=temp, **common))
        return jobs, offset


def _write(plan: _Plan, runner: InlineRunner | PoolRunner) -> tuple[list[Path], mf.Manifest]:
    """Write the archive in ``plan.partial``; returns its volume files and the manifest."""
    jobs, lz_start = plan.jobs()
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].unpacked / RATE[jobs[i].method])
    results: list[FolderResult] = runner.map(_write_job, jobs, order)

    out = StreamWriter(plan.partial, plan.basename, plan.volume_size, start=lz_start)
    try:
        for job in jobs:  # the LZMA2 folders' sizes are known now: append them
            if job.temp is not None:
                out.copy_from(Path(job.temp))
                os.unlink(job.temp)
        # Empty files go in the last folder, whose writing checks they are still empty.
        shas = {m.relpath: EMPTY_SHA256 for m in plan.small if m.kind == "file"}
        for job, result in zip(jobs, results):
            shas.update((m.relpath, s.sha256) for m, s in zip(job.members, result.stored))
        manifest = _manifest(plan, shas)
        text = manifest.dumps()
        inner = Member(mf.inner_name(plan.set_name), "file", len(text), manifest_mtime(plan.now),
                       stat.S_IFREG | 0o644, data=text)
        last_members = (*plan.small, inner)
        filters = sevenzip.folder_filters(LZMA2, plan.preset, plan.password)
        comp, stored = sevenzip.write_members(last_members, out, filters, plan.password)
        last = FolderResult(len(jobs), tuple(comp.coders), tuple(comp.unpacksizes), comp.packsize,
                            comp.digest, tuple(stored))
        folders = [(r, j.members) for r, j in zip(results, jobs)] + [(last, last_members)]
        header = sevenzip.build_header(folders, plan.dirs, plan.password)
        end = sevenzip.write_header(out, header, plan.preset, plan.password)
    finally:
        out.close()
    return _name_volumes(plan.partial, plan.basename, end, plan.volume_size), manifest


def manifest_mtime(now: datetime) -> int:
    return int(now.timestamp()) * 1_000_000_000


def _write_job(job: FolderJob, report) -> FolderResult:
    with writer_lock(Path(job.directory)):  # a worker outliving a killed parent still holds it
        return sevenzip.write_folder(job, report)


def _name_volumes(partial: Path, basename: str, end: int, volume_size: int | None) -> list[Path]:
    count = 1 if volume_size is None else max(1, -(-end // volume_size))
    if count == 1:
        single = partial / basename
        os.rename(partial / volume_name(basename, 0), single)
        return [single]
    paths = [partial / volume_name(basename, i) for i in range(count)]
    if count > 999:  # 7-Zip counts on past .999 with four digits
        wide = [partial / volume_name(basename, i, count) for i in range(count)]
        for old, new in zip(paths, wide):
            if old != new:
                os.rename(old, new)
        paths = wide
    return paths


def _manifest(plan: _Plan, shas: dict[str, str]) -> mf.Manifest:
    items = tuple(
        mf.Item(e.path, e.kind, e.size, e.mtime_ns, shas.get(e.path) if e.kind == "file" else None, e.target)
        for e in plan.entries
    )
    return mf.Manifest(
        set_name=plan.set_name,
        partition=plan.label,
        created=plan.now.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        archive=plan.basename,
        encrypted=plan.password is not None,
        compression=plan.compression,
        volume_size=plan.volume_size,
        items=items,
    )


def record_consolidation(catalog: Catalog, result: Consolidation) -> None:
    """Put the set, its manifest entries, its volumes and their testzip in the catalog, in one
    transaction: a crash or a full disk never leaves a set without its archives."""
    aset = ArchiveSet(
        name=result.set_name,
        partition_label=result.partition_label,
        file_count=result.file_count,
        total_bytes=result.total_bytes,
        encrypted=result.encrypted,
        manifest_path=str(result.manifest_path),
        manifest_sha256=result.manifest_sha256,
        password_verifier=result.password_verifier,
        created_at=result.created_at,
    )
    archives = [
        ArchiveRecord(
            name=vol.name, set_name=result.set_name, partition_label=result.partition_label,
            size=vol.size, sha256=vol.sha256, volume=vol.volume, volumes=vol.volumes,
            path=str(vol.path), created_at=result.created_at,
        )
        for vol in result.volumes
    ]
    checks = [
        Verification(f"archive:{vol.name}", TESTZIP, True, f"tested with the set {result.set_name}")
        for vol in result.volumes
    ]
    catalog.record_set(aset, result.entries, archives, checks)
