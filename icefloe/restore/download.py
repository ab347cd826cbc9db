"""A retrieved archive downloaded in ranges: each range verified, the download resumable.

The job output is fetched in ranges of 1 MiB x 2^n (``RestoreOptions.range_size``), several at
a time. The cold store checks each range against the tree hash the service sends with it
(a vault sends ``x-amz-sha256-tree-hash`` for MiB-aligned ranges) and fetches a range again
when the bytes differ from it, so a byte corrupted in transit costs one range, not the
archive. Each range is one request (the job's state is asked once, before the first),
streamed straight into ``<dest>.partial`` at its offset, and recorded in the journal
``<dest>.ranges.json`` (written atomically, after an fsync of the partial file; the ranges
that finish meanwhile share one fsync and one journal write), so an interrupted download
resumes with only the missing ranges, even under a new retrieval job for the same archive
(jobs expire after a day). A range written but not yet journalled when the process dies is
fetched again. At the end the whole file is read once: its tree hash (vault)
and SHA-256 must equal the catalog's (reading the file back, rather than combining the
ranges' tree hashes, also checks what reached the disk); if not, ranges whose bytes on disk differ from what
was recorded, else ranges no service checksum vouched for, are fetched once more. Then the
file is fsynced and renamed to ``dest``. The journal format is in docs/restore.md.

Memory: ``download_concurrency`` streams of 1 MiB reads. Disk: the archive.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

from icefloe.coldstore.base import JobNotReady
from icefloe.coldstore.pump import PartLog
from icefloe.errors import ChecksumMismatch
from icefloe.fsutil import atomic_write_bytes, fsync_dir, remove_leftovers
from icefloe.progress import BytesOnly, NullProgress, Progress
from icefloe.restore.options import RestoreOptions
from icefloe.treehash import file_tree_hash

JOURNAL_FORMAT = "icefloe-download-journal"
JOURNAL_VERSION = 1


@dataclass(frozen=True)
class DoneRange:
    start: int
    end: int  # exclusive
    tree_hash: str  # of the bytes received (and written)
    verified: bool  # the service's checksum for this range matched them


@dataclass(frozen=True)
class Downloaded:
    path: str
    size: int
    sha256: str
    tree_hash: str
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
                done = DoneRange(int(item["start"]), int(item["end"]), str(item["tree_hash"]), bool(item["verified"]))
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
        atomic_write_bytes(self.path, json.dumps(doc, indent=1).encode())


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
    # A journal write a kill interrupted (atomic_output's temporary name; a live writer holds
    # a lock on its own, so it stays).
    remove_leftovers(dest.parent, re.compile(re.escape(f".{jpath.name}.") + r"[^/]+\.part"), grace_s=0)
    journal = _Journal(jpath, identity, size, options.range_size)
    if not (journal.load() and partial.is_file() and partial.stat().st_size == size):
        journal.done.clear()
        jpath.unlink(missing_ok=True)
    ranges = plan_ranges(size, options.range_size)
    resumed = sum(1 for start, _ in ranges if start in journal.done)
    counts = {"fetched": 0, "refetched": 0}
    counts_lock = threading.Lock()
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

        def record(batch: list[DoneRange]) -> None:
            os.fsync(fd)  # the journal must never claim bytes the disk may not have
            journal.add(batch)

        def fetch(log: PartLog[DoneRange], start: int, end: int) -> None:
            got = store.fetch_job_range(job_id, fd, start, end, progress=BytesOnly(progress))
            if got.size != end - start:
                raise ChecksumMismatch(
                    f"{dest.name}: bytes {start}-{end - 1} arrived as {got.size} bytes; fetch it again"
                )
            log.add(DoneRange(start, end, got.tree_hash, got.verified is not None))
            with counts_lock:
                counts["fetched"] += 1

        def fetch_all(todo: list[tuple[int, int]]) -> None:
            with PartLog(record) as log:
                _fetch_all(functools.partial(fetch, log), todo, options.download_concurrency)

        fetch_all([r for r in ranges if r[0] not in journal.done])
        tree, sha = file_tree_hash(partial)
        bad = _mismatch(dest.name, tree, sha, tree_hash, sha256)
        if bad:
            suspects = _suspects(partial, journal)
            if not suspects:
                _discard(partial, jpath)
                raise ChecksumMismatch(f"{bad}, although every range matched the service's checksum: "
                                       "the stored archive differs from the catalog's record")
            progress.on_progress(-sum(journal.done[s].end - s for s in suspects))
            journal.drop(suspects)
            fetch_all([r for r in ranges if r[0] in set(suspects)])
            counts["refetched"] = len(suspects)
            tree, sha = file_tree_hash(partial)
            bad = _mismatch(dest.name, tree, sha, tree_hash, sha256)
            if bad:
                _discard(partial, jpath)
                raise ChecksumMismatch(f"{bad} after fetching {len(suspects)} range(s) again; "
                                       "nothing was kept: run the restore again to download it afresh")
        os.fsync(fd)
    finally:
        os.close(fd)
        progress.on_done()
    os.replace(partial, dest)
    fsync_dir(dest.parent)
    jpath.unlink(missing_ok=True)
    return Downloaded(str(dest), size, sha, tree, len(ranges), counts["fetched"], resumed, counts["refetched"])


def _fetch_all(fetch: Callable[[int, int], None], todo: list[tuple[int, int]], concurrency: int) -> None:
    if not todo:
        return
    if concurrency == 1 or len(todo) == 1:
        for start, end in todo:
            fetch(start, end)
        return
    with ThreadPoolExecutor(min(concurrency, len(todo)), thread_name_prefix="icefloe-range") as pool:
        futures = [pool.submit(fetch, start, end) for start, end in todo]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()  # ranges not started stay for the next run
        wait(pending)
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]


def _mismatch(name: str, tree: str, sha: str, want_tree: str | None, want_sha: str | None) -> str | None:
    if want_tree and tree != want_tree.lower():
        return f"{name} has tree hash {tree}, not the recorded {want_tree}"
    if want_sha and sha != want_sha.lower():
        return f"{name} has SHA-256 {sha}, not the recorded {want_sha}"
    return None


def _suspects(partial: Path, journal: _Journal) -> list[int]:
    """Ranges to fetch again: those whose bytes on disk changed since they were recorded, else
    those no service checksum vouched for."""
    changed = [
        r.start for r in journal.done.values()
        if file_tree_hash(partial, r.start, r.end)[0] != r.tree_hash
    ]
    if changed:
        return sorted(changed)
    return sorted(r.start for r in journal.done.values() if not r.verified)


def _discard(partial: Path, jpath: Path) -> None:
    partial.unlink(missing_ok=True)
    jpath.unlink(missing_ok=True)
