"""An image's bytes: pycdlib's metadata, then every file's data in one sequential pass.

pycdlib lays the image out and writes its metadata (volume descriptors, directory records,
UDF file entries) through ``MetadataWriter``: positioned writes straight into the image file.
The file data pycdlib would copy in small reads and writes is left to ``copy_files``: each
file's data goes to its extent, front to back, in ``BLOCK`` reads into ``DEPTH`` reused
buffers. Two threads hash every buffer (the image's SHA-256, in image order, and the file's)
while the next ones are read and written, and a third asks the kernel to write the image out
as it grows, so the fsync at the end has little left to do (hashlib and the file calls
release the GIL). Zero blocks of sparse sources stay holes.

Memory: ``DEPTH`` x ``BLOCK`` (16 MiB) of buffers, whatever the size of the data.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from icefloe.disc.entries import DiscEntry
from icefloe.errors import ChecksumMismatch, FileChanged, InputUnreadable

BLOCK = 4 * 1024 * 1024
DEPTH = 4  # buffers in flight: one being read or written, the others being hashed
FLUSH_EVERY = 64 * 1024 * 1024  # start writing the image out after this many new bytes
ZEROS = bytes(BLOCK)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def hash_range(sha: Any, fd: int, start: int, stop: int) -> None:
    """Hash bytes [start, stop) of a file; past its end (holes to come) counts as zeros."""
    while start < stop:
        chunk = os.pread(fd, min(BLOCK, stop - start), start)
        if not chunk:
            chunk = ZEROS[: min(BLOCK, stop - start)]
        sha.update(chunk)
        start += len(chunk)


def pwrite_all(fd: int, data: Any, offset: int) -> None:
    view, done = memoryview(data), 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)


class MetadataWriter:
    """The image file as pycdlib sees it while it writes metadata: positioned writes."""

    mode = "wb"

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pos = 0
        self.end = 0  # the file's logical size so far

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = {0: 0, 1: self._pos, 2: self.end}[whence] + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def write(self, data: bytes) -> int:
        pwrite_all(self._fd, data, self._pos)
        self._pos += len(data)
        self.end = max(self.end, self._pos)
        return len(data)


class Flusher:
    """Starts writeback of the image in the background every ``FLUSH_EVERY`` bytes.

    Without it the kernel holds the whole image as dirty pages until the final fsync, and
    the disk idles while the image is built. A failed flush is left to that fsync to report.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._due = threading.Event()
        self._stop = False
        self._since = 0
        self._thread = threading.Thread(target=self._run, name="image-writeback", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._stop:
                return
            try:
                os.fdatasync(self._fd)
            except OSError:
                return

    def wrote(self, nbytes: int) -> None:
        self._since += nbytes
        if self._since >= FLUSH_EVERY:
            self._since = 0
            self._due.set()

    def close(self) -> None:
        self._stop = True
        self._due.set()
        self._thread.join()


class SourceFile:
    """A file's data, read once front to back; checked not to change while it is read."""

    def __init__(self, entry: DiscEntry) -> None:
        self.entry = entry
        self._fd: int | None = None
        self._mtime_ns = 0
        self.sparse = False
        self._done = 0

    def open(self) -> None:
        if self.entry.data is not None:
            return
        path = self.entry.source
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # type: ignore[arg-type]
        except FileNotFoundError:
            raise FileChanged(f"{path} disappeared while the image was written") from None
        except OSError as exc:
            raise InputUnreadable(f"cannot read {path}: {exc.strerror}") from None
        st = os.fstat(self._fd)
        self._mtime_ns = st.st_mtime_ns
        if st.st_size != self.entry.size:
            raise FileChanged(
                f"{path} changed size ({self.entry.size} -> {st.st_size} bytes) since the disc "
                "was planned; plan the disc again"
            )
        self.sparse = st.st_blocks * 512 < st.st_size
        try:
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:
            pass  # only advice; some file systems take none

    def read_into(self, buf: bytearray) -> int:
        """Fill ``buf`` with the next bytes (fewer only at the end); the count."""
        want = min(len(buf), self.entry.size - self._done)
        if self.entry.data is not None:
            buf[:want] = self.entry.data[self._done : self._done + want]
            got = want
        else:
            view, got = memoryview(buf), 0
            while got < want:
                try:
                    n = os.preadv(self._fd, [view[got:want]], self._done + got)  # type: ignore[arg-type]
                except OSError as exc:
                    raise InputUnreadable(f"cannot read {self.entry.source}: {exc.strerror}") from None
                if not n:
                    raise FileChanged(f"{self.entry.source} shrank while the image was written; build it again")
                got += n
        self._done += got
        return got

    def finish(self) -> None:
        """After the last block: the file must not have grown or been modified meanwhile."""
        if self._fd is None:
            return
        try:
            grew = os.pread(self._fd, 1, self._done)
            changed = os.fstat(self._fd).st_mtime_ns != self._mtime_ns
        finally:
            self.close()
        if grew or changed:
            raise FileChanged(f"{self.entry.source} changed while the image was written; build it again")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _held_to_record(entry: DiscEntry, sha: Any) -> str:
    """A file's checksum, held to the recorded one."""
    digest = sha.hexdigest()
    if entry.sha256 and entry.sha256 != digest:
        raise ChecksumMismatch(
            f"{entry.source or entry.path} has SHA-256 {digest}, not the recorded "
            f"{entry.sha256}: it changed or is damaged since it was made; do not burn it, "
            "make the archive again"
        )
    return digest


def copy_files(
    fd: int,
    extents: Sequence[tuple[int, DiscEntry]],
    size: int,
    on_progress: Callable[[int], None] = lambda n: None,
) -> tuple[str, list[str]]:
    """Write each entry's data at its byte offset (ascending) and hash the whole image.

    Everything outside the extents must already be in the file (the metadata). Returns the
    image's SHA-256 (of all ``size`` bytes) and each entry's SHA-256, in order. Raises
    FileChanged, InputUnreadable or ChecksumMismatch for a source that is not as planned.
    """
    image_sha = hashlib.sha256()
    ring = [bytearray(BLOCK) for _ in range(DEPTH)]
    busy: list[list[Future[Any]]] = [[] for _ in range(DEPTH)]
    concluded: list[Future[str]] = []
    slot, hashed = 0, 0  # the image is hashed up to ``hashed``, or will be by queued jobs
    images = ThreadPoolExecutor(1, "image-sha256")
    files = ThreadPoolExecutor(1, "file-sha256")
    flusher = Flusher(fd)
    try:
        for start, entry in extents:
            if start < hashed:
                raise InputUnreadable(f"{entry.path}: its extent overlaps the one before it")
            file_sha = hashlib.sha256()
            source = SourceFile(entry)
            try:
                source.open()
                pos, end = start, start + entry.size
                while pos < end:
                    for job in busy[slot]:
                        job.result()
                    buf = ring[slot]
                    n = source.read_into(buf)
                    view = memoryview(buf)[:n]
                    last = entry if pos + n == end else None
                    # One job per thread and block: the metadata and padding before the
                    # file's first block go with it, its checksum with its last.
                    busy[slot] = [
                        images.submit(_hash_image, image_sha, fd, hashed, pos, view),
                        files.submit(_hash_file, file_sha, view, last),
                    ]
                    if last is not None:
                        concluded.append(busy[slot][1])
                    hashed = pos + n
                    if not (source.sparse and n == BLOCK and buf == ZEROS):
                        pwrite_all(fd, view, pos)
                        flusher.wrote(n)
                    pos += n
                    slot = (slot + 1) % DEPTH
                    on_progress(n)
                source.finish()
            finally:
                source.close()
        if size < hashed:
            raise InputUnreadable("the image's files run past its end")
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)  # trailing holes
        tail = images.submit(hash_range, image_sha, fd, hashed, size)
        for job in [tail, *(j for jobs in busy for j in jobs)]:
            job.result()
        return image_sha.hexdigest(), [job.result() for job in concluded]
    finally:
        flusher.close()
        images.shutdown(cancel_futures=True)
        files.shutdown(cancel_futures=True)


def _hash_image(sha: Any, fd: int, start: int, stop: int, view: memoryview) -> None:
    """On the image hasher: bytes [start, stop) from the file (metadata, padding), then ``view``."""
    if start < stop:
        hash_range(sha, fd, start, stop)
    sha.update(view)


def _hash_file(sha: Any, view: memoryview, last: DiscEntry | None) -> str | None:
    """On the file hasher: one block; after a file's last, its checksum, held to the record."""
    sha.update(view)
    return _held_to_record(last, sha) if last is not None else None


def hash_extents(
    fd: int,
    extents: Sequence[tuple[int, int]],
    on_progress: Callable[[int], None] = lambda n: None,
) -> list[str]:
    """The SHA-256 of each (offset, length) byte range of a file, reading it front to back once.

    Ranges alternate between two hashing threads, so two files are hashed at once while the
    next blocks are read. Raises EOFError when a range runs past the end of the file.
    """
    ring = [bytearray(BLOCK) for _ in range(DEPTH)]
    busy: list[Future[Any] | None] = [None] * DEPTH
    digests: list[Future[str] | None] = [None] * len(extents)
    hashers = [ThreadPoolExecutor(1, f"verify-sha256-{i}") for i in range(2)]
    slot = 0
    try:
        order = sorted(range(len(extents)), key=lambda i: extents[i][0])
        for k, i in enumerate(order):
            start, length = extents[i]
            sha, hasher = hashlib.sha256(), hashers[k % 2]
            pos, end = start, start + length
            while pos < end:
                if busy[slot] is not None:
                    busy[slot].result()  # type: ignore[union-attr]
                view = memoryview(ring[slot])[: min(BLOCK, end - pos)]
                n = os.preadv(fd, [view], pos)
                if not n:
                    raise EOFError(f"bytes {pos}-{end} are past the end")
                pos += n
                busy[slot] = hasher.submit(_hash_range_block, sha, view[:n], pos == end)
                if pos == end:
                    digests[i] = busy[slot]
                slot = (slot + 1) % DEPTH
                on_progress(n)
            if not length:
                digests[i] = hasher.submit(sha.hexdigest)
        return [job.result() for job in digests]  # type: ignore[union-attr]
    finally:
        for hasher in hashers:
            hasher.shutdown(cancel_futures=True)


def _hash_range_block(sha: Any, view: memoryview, last: bool) -> str | None:
    sha.update(view)
    return sha.hexdigest() if last else None
