"""A retrieved archive downloaded in ranges: each byte hashed once, the download resumable.

The job output is fetched in ranges of 1 MiB x 2^n (``RestoreOptions.range_size``), several at
a time. Each range is one request (the job's state is asked once, before the first), read
into a buffer lent from a fixed budget, checked there (a vault sends
``x-amz-sha256-tree-hash`` for MiB-aligned ranges, and a range that differs from it is fetched
again, so a byte corrupted in transit costs one range, not the archive), written to
``<dest>.partial`` at its offset in one large write, and recorded in the journal
``<dest>.ranges.json`` (the ranges that finish while a journal write is under way share the
next one), so an interrupted download resumes with only the missing ranges, even under a new
retrieval job for the same archive (jobs expire after a day).

Every byte is hashed once for the file: its SHA-256 runs on a thread of its own, in file
order, from the buffer a range arrived in when the ranges before it are hashed already, else
(a range that finished early gives its buffer back at once, so no range waits for a slower
one) from the partial file when its turn comes, as for the ranges an earlier run recorded.
A vault range's tree hash, which the protocol needs, is computed from its buffer, and the
file's tree hash is combined from the ranges' (icefloe.treehash). An S3 range carries no
checksum, so the journal keeps a CRC32 of it instead. The file's SHA-256
(and tree hash) must equal the catalog's; if not, ranges whose bytes on disk differ from
what was recorded, else ranges no service checksum vouched for, are fetched once more. Then
the file is fsynced, once, and renamed to ``dest``.

Nothing is fsynced before the end, the journal included: a journal that claims bytes a crash
lost only costs their range, found by the end-to-end check and fetched again. The journal
format is in docs/restore.md.

Memory: ``(download_concurrency + 1) x range_size`` bytes of range buffers. Disk: the archive.
"""

from __future__ import annotations

import json
import os
import re
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

from icefloe.coldstore.pump import Budget, InOrderSha256, PartLog
from icefloe.errors import ChecksumMismatch, JobNotReady
from icefloe.fsutil import fsync_dir, remove_leftovers
from icefloe.progress import BytesOnly, NullProgress, Progress
from icefloe.restore.options import RestoreOptions
from icefloe.treehash import combine
from icefloe.treehash import tree_hash as range_tree_hash

JOURNAL_FORMAT = "icefloe-download-journal"
JOURNAL_VERSION = 1


@dataclass(frozen=True)
class DoneRange:
    start: int
    end: int  # exclusive
    tree_hash: str | None  # of the bytes received (and written); vault
    verified: bool  # the service's checksum for this range matched them
    crc32: str | None = None  # of the bytes written, 8 hex digits; S3, which sends no checksum

    def matches(self, data: memoryview) -> bool:
        """Whether ``data`` (read back from the partial file) are the bytes recorded."""
        if self.crc32 is not None:
            return _crc32(data) == self.crc32
        return self.tree_hash is not None and range_tree_hash(data) == self.tree_hash


@dataclass(frozen=True)
class Downloaded:
    path: str
    size: int
    sha256: str
    tree_hash: str | None  # vault only
    ranges: int  # ranges in the archive
    fetched: int  # range requests that succeeded in this run (a re-fetch counts again)
    resumed: int  # ranges a previous run had already verified
    refetched: int  # ranges fetched again after the whole-file check


def partial_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".partial")


def journal_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".ranges.json")


def plan_ranges(size: int, range_size: int) -> list[tuple[int, int]]:
    return [(start, min(size, start + range_size)) for start in range(0, size, range_size)]


class _Journal:
    """The verified ranges of one download, kept beside its partial file."""

    def __init__(self, path: Path, identity: str, size: int, range_size: int) -> None:
        self.path, self.identity, self.size, self.range_size = path, identity, size, range_size
        self.done: dict[int, DoneRange] = {}
        self._lock = threading.Lock()

    def load(self) -> bool:
        """True when the journal on disk belongs to this download (its ranges are taken)."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if (
            doc.get("format") != JOURNAL_FORMAT or doc.get("version") != JOURNAL_VERSION
            or doc.get("identity") != self.identity or doc.get("size") != self.size
            or doc.get("range_size") != self.range_size
        ):
            return False
        try:
            for item in doc.get("ranges", []):
                tree, crc = item["tree_hash"], item.get("crc32")
                done = DoneRange(int(item["start"]), int(item["end"]), None if tree is None else str(tree),
                                 bool(item["verified"]), None if crc is None else str(crc))
                self.done[done.start] = done
        except (KeyError, TypeError, ValueError):
            self.done.clear()
            return False
        return True

    def add(self, batch: list[DoneRange]) -> None:
        with self._lock:
            for done in batch:
                self.done[done.start] = done
            self._save()

    def drop(self, starts: list[int]) -> None:
        with self._lock:
            for start in starts:
                self.done.pop(start, None)
            self._save()

    def _save(self) -> None:
        doc = {
            "format": JOURNAL_FORMAT, "version": JOURNAL_VERSION, "identity": self.identity,
            "size": self.size, "range_size": self.range_size,
            "ranges": [asdict(r) for r in sorted(self.done.values(), key=lambda r: r.start)],
        }
        # Renamed into place whole, not fsynced: a journal a crash lost or left stale costs
        # ranges fetched again, never a wrong byte kept (the whole file is checked).
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(json.dumps(doc, indent=1).encode())
        os.replace(tmp, self.path)


def download_job_output(
    store,
    job_id: str,
    dest: Path,
    *,
    size: int,
    identity: str,
    sha256: str | None = None,
    tree_hash: str | None = None,
    options: RestoreOptions | None = None,
    progress: Progress | None = None,
    label: str | None = None,
) -> Downloaded:
    """Download the output of the finished job ``job_id`` (an archive of ``size`` bytes) to ``dest``.

    ``identity`` names the bytes (e.g. the archive's SHA-256) so a later run, even of another
    job for the same archive, resumes from the journal. ``sha256``/``tree_hash`` are what the
    whole file must hash to. Raises ChecksumMismatch when it does not after the suspect
    ranges were fetched again; anything else the cold store raises (JobNotReady, Transient)
    leaves the verified ranges for the next run.
    """
    options = options or RestoreOptions()
    progress = progress or NullProgress()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial, jpath = partial_path(dest), journal_path(dest)
    # A journal write a kill interrupted (atomic_output's temporary name, from older runs, or
    # the journal's own).
    remove_leftovers(dest.parent, re.compile(re.escape(f".{jpath.name}.") + r"[^/]+\.part"), grace_s=0)
    jpath.with_name(jpath.name + ".tmp").unlink(missing_ok=True)
    journal = _Journal(jpath, identity, size, options.range_size)
    if not (journal.load() and partial.is_file() and partial.stat().st_size == size):
        journal.done.clear()
        jpath.unlink(missing_ok=True)
    ranges = plan_ranges(size, options.range_size)
    resumed = sum(1 for start, _ in ranges if start in journal.done)
    job = store.describe_job(job_id)  # once: each range is then one request
    if not job.done:
        raise JobNotReady(
            f"job {job_id} is {job.status}; its output can be downloaded once it has Succeeded "
            "(`icefloe jobs` shows when)"
        )
    progress.on_queued(size, label or dest.name)
    fd = os.open(partial, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.ftruncate(fd, size)
        progress.on_progress(sum(r.end - r.start for r in journal.done.values()))
        passes = _Passes(store, job_id, fd, dest.name, ranges, journal, options, progress)
        sha, tree = passes.run({start for start, _ in ranges if start not in journal.done})
        bad = _mismatch(dest.name, tree, sha, tree_hash, sha256)
        if bad:
            suspects = _suspects(fd, journal)
            if not suspects:
                _discard(partial, jpath)
                raise ChecksumMismatch(f"{bad}, although every range matched the service's checksum: "
                                       "the stored archive differs from the catalog's record")
            progress.on_progress(-sum(journal.done[s].end - s for s in suspects))
            journal.drop(suspects)
            sha, tree = passes.run(set(suspects))
            bad = _mismatch(dest.name, tree, sha, tree_hash, sha256)
            if bad:
                _discard(partial, jpath)
                raise ChecksumMismatch(f"{bad} after fetching {len(suspects)} range(s) again; "
                                       "nothing was kept: run the restore again to download it afresh")
            passes.refetched = len(suspects)
        os.fsync(fd)  # once, for the whole file
    finally:
        os.close(fd)
        progress.on_done()
    os.replace(partial, dest)
    fsync_dir(dest.parent)
    jpath.unlink(missing_ok=True)
    return Downloaded(str(dest), size, sha, tree, len(ranges), passes.fetched, resumed, passes.refetched)


class _FileSha:
    """The whole file's SHA-256 (:class:`~icefloe.coldstore.pump.InOrderSha256`), fed the
    ranges in file order.

    A range that arrives when the ranges before it are hashed is hashed from the buffer it
    arrived in (the buffer goes back to the budget afterwards); one that arrives early gives
    its buffer back at once, so no range in flight waits for a slower one, and is read back
    from the partial file (the page cache, just written) when its turn comes, as are the
    ranges an earlier run recorded. Either way each byte is hashed once.
    """

    def __init__(self, fd: int, ranges: list[tuple[int, int]]) -> None:
        self._whole = InOrderSha256()
        self._fd, self._ranges = fd, ranges
        self._buffer: bytearray | None = None  # for read-backs (the hashing thread's alone)
        self._errors: list[Exception] = []

    def offer(self, index: int, view: memoryview, release: Callable[[], None]) -> None:
        """Range ``index`` has been written from ``view``; ``release`` gives its buffer back."""
        if self._whole.due(index):
            self._whole.feed(index, view, release)
        else:
            release()
            self.on_disk(index)

    def on_disk(self, index: int) -> None:
        """Range ``index`` is in the partial file (written early, or by an earlier run)."""
        self._whole.feed(index, lambda: self._read_back(index), _nothing)

    def _read_back(self, index: int) -> memoryview:
        start, end = self._ranges[index]
        if self._buffer is None:
            self._buffer = bytearray(self._ranges[0][1] - self._ranges[0][0])  # the first is the longest
        view = memoryview(self._buffer)[: end - start]
        try:
            _pread_exact(self._fd, view, start)
        except Exception as exc:  # raised by close, in the thread that waits for the digest
            self._errors.append(exc)
            raise
        return view

    def close(self) -> str:
        """The file's SHA-256 (meaningful once every range was offered or on disk)."""
        self._whole.close()
        if self._errors:
            raise self._errors[0]
        return self._whole.digest.hexdigest()


def _nothing() -> None:
    pass


class _Passes:
    """Passes over the partial file in range order: the ranges asked for fetched into buffers
    lent by a budget and written, the others already there; the file's SHA-256 of both."""

    def __init__(self, store, job_id: str, fd: int, name: str, ranges: list[tuple[int, int]],
                 journal: _Journal, options: RestoreOptions, progress: Progress) -> None:
        self.store, self.job_id, self.fd, self.name = store, job_id, fd, name
        self.ranges, self.journal, self.options, self.progress = ranges, journal, options, progress
        self.budget = Budget(options.download_concurrency, options.range_size)
        self.fetched = 0
        self.refetched = 0
        self._lock = threading.Lock()

    def run(self, todo: set[int]) -> tuple[str, str | None]:
        """(SHA-256, tree hash or None) of the whole file after fetching the ranges in ``todo``."""
        whole = _FileSha(self.fd, self.ranges)
        failures: list[BaseException] = []
        futures: list[Future] = []
        try:
            with PartLog(self.journal.add) as log, ThreadPoolExecutor(
                self.options.download_concurrency, thread_name_prefix="icefloe-range"
            ) as pool:
                def work(index: int, start: int, buffer: bytearray) -> None:
                    view = memoryview(buffer)[: self.ranges[index][1] - start]
                    try:
                        log.add(self._fetch(view, start))
                    except BaseException:
                        self.budget.give(buffer)
                        raise
                    whole.offer(index, view, lambda: self.budget.give(buffer))

                def finished(future: Future) -> None:
                    if not future.cancelled() and future.exception() is not None:
                        failures.append(future.exception())  # type: ignore[arg-type]

                try:
                    for index, (start, end) in enumerate(self.ranges):
                        if start not in todo:
                            whole.on_disk(index)
                            continue
                        buffer = self.budget.take(end - start)
                        if failures:
                            self.budget.give(buffer)
                            break
                        future = pool.submit(work, index, start, buffer)
                        futures.append(future)
                        future.add_done_callback(finished)
                except BaseException:
                    for future in futures:
                        future.cancel()  # ranges not started stay for the next run
                    raise
                finally:
                    wait(futures)
        finally:
            sha = whole.close()
        if failures:
            raise failures[0]
        trees = [self.journal.done[start].tree_hash for start, _ in self.ranges]
        tree = combine([bytes.fromhex(t) for t in trees]).hex() if all(trees) else None  # type: ignore[arg-type]
        return sha, tree

    def _fetch(self, view: memoryview, start: int) -> DoneRange:
        end = start + len(view)
        got = self.store.fetch_job_range(self.job_id, view, start, progress=BytesOnly(self.progress))
        if got.size != len(view):
            raise ChecksumMismatch(f"{self.name}: bytes {start}-{end - 1} arrived as {got.size} bytes; "
                                   "fetch it again")
        _pwrite_all(self.fd, view, start)
        with self._lock:
            self.fetched += 1
        return DoneRange(start, end, got.tree_hash, got.verified,
                         None if got.tree_hash is not None else _crc32(view))


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _pread_exact(fd: int, view: memoryview, offset: int) -> None:
    while view:
        n = os.preadv(fd, [view], offset)
        if not n:
            raise ChecksumMismatch(f"the partial download ends before byte {offset}; run it again")
        view, offset = view[n:], offset + n


def _crc32(data: memoryview) -> str:
    return f"{zlib.crc32(data):08x}"


def _mismatch(name: str, tree: str | None, sha: str, want_tree: str | None, want_sha: str | None) -> str | None:
    if want_tree and tree != want_tree.lower():
        return f"{name} has tree hash {tree}, not the recorded {want_tree}"
    if want_sha and sha != want_sha.lower():
        return f"{name} has SHA-256 {sha}, not the recorded {want_sha}"
    return None


def _suspects(fd: int, journal: _Journal) -> list[int]:
    """Ranges to fetch again: those whose bytes on disk changed since they were recorded, else
    those no service checksum vouched for."""
    buffer = bytearray(journal.range_size)
    changed = []
    for r in journal.done.values():
        view = memoryview(buffer)[: r.end - r.start]
        _pread_exact(fd, view, r.start)
        if not r.matches(view):
            changed.append(r.start)
    if changed:
        return sorted(changed)
    return sorted(r.start for r in journal.done.values() if not r.verified)


def _discard(partial: Path, jpath: Path) -> None:
    partial.unlink(missing_ok=True)
    jpath.unlink(missing_ok=True)
