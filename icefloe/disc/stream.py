"""The file objects pycdlib reads from and writes to while an image is written.

``Source`` hands a file's data to pycdlib when pycdlib reaches it, checks the file did not
change, and has its SHA-256 computed. ``ImageWriter`` takes pycdlib's positioned writes, hashes
the image in the same pass and leaves runs of zeros as holes. The hashing runs on ``Worker``
threads (hashlib releases the GIL), so it overlaps the copying; every queue is bounded, so
memory is a few blocks whatever the size of the data.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from icefloe.disc.entries import DiscEntry
from icefloe.errors import ChecksumMismatch, FileChanged, InputUnreadable

BLOCK = 1024 * 1024  # pycdlib's copy size and ours
ZEROS = bytes(BLOCK)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class Worker:
    """Runs jobs in order on one background thread, fed through a bounded queue.

    A job's exception is raised in the caller's thread at the next ``submit`` or at ``close``.
    Memory: at most ``depth`` queued jobs, each holding at most one block.
    """

    def __init__(self, name: str, depth: int = 4) -> None:
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining, so a producer never blocks on a dead worker
            fn, args = job
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = exc

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((fn, args))

    def close(self, *, check: bool = True) -> None:
        """Finish the queued jobs and stop; raise a job's error unless ``check`` is False."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if check and self._error is not None:
            raise self._error


def hash_range(sha: Any, fd: int, start: int, stop: int) -> None:
    """Hash bytes [start, stop) of a file; past its end (holes to come) counts as zeros."""
    while start < stop:
        chunk = os.pread(fd, min(BLOCK, stop - start), start)
        if not chunk:
            chunk = ZEROS[: min(BLOCK, stop - start)]
        sha.update(chunk)
        start += len(chunk)


class Ranges:
    """Disjoint [start, end) byte ranges, merged when they touch; few, as writes run in order."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0 and self._ends[i] > start:
            return True
        return i + 1 < len(self._starts) and self._starts[i + 1] < end

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0 and self._ends[i] >= start:
            self._ends[i] = max(self._ends[i], end)
        else:
            i += 1
            self._starts.insert(i, start)
            self._ends.insert(i, end)
        while i + 1 < len(self._starts) and self._starts[i + 1] <= self._ends[i]:
            self._ends[i] = max(self._ends[i], self._ends.pop(i + 1))
            self._starts.pop(i + 1)


class ImageWriter:
    """The image file as pycdlib sees it: positioned writes, hashed in order, zeros as holes.

    pycdlib writes all metadata first (seeking around), then file data front to back (see
    ``image._data_in_disc_order``). Hashing starts with the first file's data
    (``begin_streaming``): from then on each write first hashes what lies between the hashed
    prefix and itself (metadata and holes, read back from the page cache), then its data. A
    write behind the hashed prefix would spoil that, so the writer then hashes the finished
    file instead. Either way the checksum is of the file as it ends up.
    """

    mode = "wb"

    def __init__(self, fd: int, worker: Worker) -> None:
        self._fd = fd
        self._worker = worker
        self._sha = hashlib.sha256()
        self._pos = 0
        self._end = 0  # logical size
        self._written = Ranges()  # where bytes went; everywhere else the file is holes
        self._hashed = 0
        self._streaming = False
        self.in_order = True

    def begin_streaming(self) -> None:
        self._streaming = True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._end}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def write(self, data: bytes) -> int:
        n, pos = len(data), self._pos
        if self._streaming and self.in_order:
            if pos < self._hashed:
                self.in_order = False
            else:
                if pos > self._hashed:
                    self._worker.submit(hash_range, self._sha, self._fd, self._hashed, pos)
                self._worker.submit(self._sha.update, bytes(data))
                self._hashed = pos + n
        if not (n == BLOCK and data == ZEROS and not self._written.overlaps(pos, pos + n)):
            view, done = memoryview(data), 0
            while done < n:
                done += os.pwrite(self._fd, view[done:], pos + done)
            self._written.add(pos, pos + n)
        self._pos = pos + n
        self._end = max(self._end, self._pos)
        return n

    def finish(self) -> str:
        """Set the file's length (trailing holes), wait for the hashing, return the SHA-256."""
        if os.fstat(self._fd).st_size < self._end:
            os.ftruncate(self._fd, self._end)
        if self._streaming and self.in_order:
            self._worker.submit(hash_range, self._sha, self._fd, self._hashed, self._end)
            self._worker.close()
        else:
            self._worker.close()
            self._sha = hashlib.sha256()
            hash_range(self._sha, self._fd, 0, self._end)
        return self._sha.hexdigest()


class Source:
    """A file's data as pycdlib reads it at write time: opened late, checked, hashed aside."""

    mode = "rb"

    def __init__(self, entry: DiscEntry, worker: Worker, on_first_read: Callable[[], None]) -> None:
        self.entry = entry
        self._worker = worker
        self._on_first_read = on_first_read
        self._fd: int | None = None
        self._done = 0
        self._sha = hashlib.sha256()
        self._mtime_ns: int | None = None
        self.sha256: str | None = EMPTY_SHA256 if entry.size == 0 else None

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) != (0, 0) or self._done:
            raise ValueError("a disc source is read once, from the start")
        return 0

    def tell(self) -> int:
        return self._done

    def read(self, size: int = -1) -> bytes:
        entry = self.entry
        left = entry.size - self._done
        want = left if size < 0 else min(size, left)
        if entry.data is not None:
            data = entry.data[self._done : self._done + want]
        else:
            data = self._read_file(want)
        self._on_first_read()
        self._worker.submit(self._sha.update, data)
        self._done += len(data)
        if self._done == entry.size:
            self._close_file()
            self._worker.submit(self._conclude)
        return data

    def _read_file(self, want: int) -> bytes:
        path = self.entry.source
        if self._fd is None:
            try:
                self._fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                raise FileChanged(f"{path} disappeared while the image was written") from None
            except OSError as exc:
                raise InputUnreadable(f"cannot read {path}: {exc.strerror}") from None
            st = os.fstat(self._fd)
            self._mtime_ns = st.st_mtime_ns
            if st.st_size != self.entry.size:
                raise FileChanged(
                    f"{path} changed size ({self.entry.size} -> {st.st_size} bytes) since the "
                    "disc was planned; plan the disc again"
                )
        parts, got = [], 0
        while got < want:
            chunk = os.read(self._fd, want - got)
            if not chunk:
                raise FileChanged(f"{path} shrank while the image was written; build it again")
            parts.append(chunk)
            got += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _close_file(self) -> None:
        if self._fd is None:
            return
        try:
            grew = os.read(self._fd, 1)
            changed = os.fstat(self._fd).st_mtime_ns != self._mtime_ns
        finally:
            self.close()
        if grew or changed:
            raise FileChanged(f"{self.entry.source} changed while the image was written; build it again")

    def _conclude(self) -> None:
        """On the worker, after the last block: the checksum, held to the recorded one."""
        self.sha256 = self._sha.hexdigest()
        self._sha = None  # type: ignore[assignment]  # keep only the checksum per file
        if self.entry.sha256 and self.entry.sha256 != self.sha256:
            raise ChecksumMismatch(
                f"{self.entry.source or self.entry.path} has SHA-256 {self.sha256}, not the "
                f"recorded {self.entry.sha256}: it changed or is damaged since it was made; do "
                "not burn it, make the archive again"
            )

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
