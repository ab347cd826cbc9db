"""An image's bytes, front to back in one pass: pycdlib's metadata and every file's data.

pycdlib lays the image out and writes its metadata (volume descriptors, directory records,
UDF file entries) into a ``MetadataWriter``, which keeps it in memory (about 0.5 KB per
entry). ``write_image`` then assembles the image in order, ``BLOCK`` bytes at a time, in
``DEPTH`` reused page-aligned buffers: metadata and padding copied in, each file's data read
straight into its place (``preadv``, no intermediate copy). A full buffer is hashed whole for
the image's SHA-256 on one thread and written with one ``pwrite`` on another while the next
is filled (hashlib and the file calls release the GIL). A file's own SHA-256 is computed on
a third thread, and only when none is recorded for it: an archive volume's comes from the
catalog, and ``verify_image``, run right after, reads every file back against it.

The image is written with ``O_DIRECT`` where the file system takes it: no copy into the page
cache, no dirty pages for the fsync to wait for, and a large image does not push everything
else out of the cache. Elsewhere it is written through the cache, with a thread starting
writeback every ``FLUSH_EVERY`` bytes. A block that falls in holes of sparse sources (found
with ``SEEK_DATA``, not read) stays a hole in the image.

Memory: ``DEPTH`` x ``BLOCK`` (16 MiB) of buffers, plus the metadata, whatever the size of the data.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import mmap
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from icefloe.disc.entries import DiscEntry
from icefloe.errors import FileChanged, InputUnreadable

BLOCK = 4 * 1024 * 1024
DEPTH = 4  # buffers in flight: one being filled, the others being hashed and written
FLUSH_EVERY = 64 * 1024 * 1024  # without O_DIRECT: start writing the image out this often
ALIGN = 4096  # O_DIRECT wants lengths (and offsets, buffers) in multiples of the block size
O_DIRECT = getattr(os, "O_DIRECT", 0)
_ZEROS = memoryview(bytes(BLOCK))
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def pwrite_all(fd: int, data: Any, offset: int) -> None:
    view, done = memoryview(data), 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)


class MetadataWriter:
    """The image file as pycdlib sees it while it writes metadata; the bytes stay in memory."""

    mode = "wb"

    def __init__(self) -> None:
        self._pos = 0
        self.end = 0  # the file's logical size so far
        self._writes: list[tuple[int, bytes]] = []

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = {0: 0, 1: self._pos, 2: self.end}[whence] + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def write(self, data: Any) -> int:
        data = bytes(data)
        if data:
            self._writes.append((self._pos, data))
        self._pos += len(data)
        self.end = max(self.end, self._pos)
        return len(data)

    def pieces(self) -> list[tuple[int, bytes]]:
        """What was written, as (offset, bytes) in offset order, adjoining writes joined."""
        out: list[tuple[int, bytearray]] = []
        for start, data in sorted(self._writes, key=lambda w: w[0]):
            if out and start < out[-1][0] + len(out[-1][1]):
                # pycdlib 1.22 writes every byte once; overlaying would need write order.
                raise RuntimeError(f"pycdlib wrote image bytes at {start} twice")
            if out and start == out[-1][0] + len(out[-1][1]):
                out[-1][1].extend(data)
            else:
                out.append((start, bytearray(data)))
        return [(start, bytes(data)) for start, data in out]


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


def _set_direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for ``fd``; False when the file system refuses it."""
    if not O_DIRECT:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | O_DIRECT if on else flags & ~O_DIRECT)
    except OSError:
        return False
    return True


class BlockWriter:
    """Writes the image's blocks (on its own thread), directly where the file system allows.

    A block is padded to ``ALIGN`` (zeros past the image's end, cut off by the caller's
    final truncate). Should a direct write be refused (an alignment this file system does
    not take), the rest goes through the page cache.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.direct = _set_direct(fd, True)
        self._flusher = None if self.direct else Flusher(fd)

    def write(self, view: memoryview, offset: int) -> None:
        if self.direct:
            try:
                pwrite_all(self._fd, view, offset)
                return
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.direct = False
                _set_direct(self._fd, False)
                self._flusher = Flusher(self._fd)
        pwrite_all(self._fd, view, offset)
        self._flusher.wrote(len(view))  # type: ignore[union-attr]

    def close(self) -> None:
        if self._flusher is not None:
            self._flusher.close()
        if self.direct:
            _set_direct(self._fd, False)


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

    def read_into(self, view: memoryview) -> bool:
        """Fill ``view`` with the next ``len(view)`` bytes of the file; True if they are a
        hole of a sparse file (zeros, not read)."""
        want = len(view)
        hole = self.sparse and self._hole(want)
        if hole:
            view[:] = _ZEROS[:want]
        elif self.entry.data is not None:
            view[:] = self.entry.data[self._done : self._done + want]
        else:
            got = 0
            while got < want:
                try:
                    n = os.preadv(self._fd, [view[got:]], self._done + got)  # type: ignore[arg-type]
                except OSError as exc:
                    raise InputUnreadable(f"cannot read {self.entry.source}: {exc.strerror}") from None
                if not n:
                    raise FileChanged(f"{self.entry.source} shrank while the image was written; build it again")
                got += n
        self._done += want
        return hole

    def _hole(self, want: int) -> bool:
        """Whether the next ``want`` bytes hold no data (SEEK_DATA finds none before them)."""
        try:
            data = os.lseek(self._fd, self._done, os.SEEK_DATA)  # type: ignore[arg-type]
        except OSError as exc:
            return exc.errno == errno.ENXIO  # no data from here to the end
        return data >= self._done + want

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


Piece = tuple[int, int, "bytes | DiscEntry"]  # start, stop, metadata bytes or the file


def _pieces(
    metadata: Sequence[tuple[int, bytes]], extents: Sequence[tuple[int, DiscEntry]], size: int
) -> list[Piece]:
    """Metadata and file extents in image order, checked not to overlap or pass the end."""
    pieces: list[Piece] = sorted(
        [(start, start + len(data), data) for start, data in metadata]
        + [(start, start + entry.size, entry) for start, entry in extents],
        key=lambda p: p[0],
    )
    end = 0
    for start, stop, what in pieces:
        if start < end:
            name = what.path if isinstance(what, DiscEntry) else "the metadata"
            raise InputUnreadable(f"{name}: its extent overlaps the one before it")
        end = stop
    if end > size:
        raise InputUnreadable("the image's files run past its end")
    return pieces


class _Assembly:
    """Fills buffers with the image's bytes in order: metadata, file data, zeros between.

    Owns the open source file and the per-file hashing (on ``hasher``), so a block can end
    anywhere inside a file.
    """

    def __init__(
        self, pieces: list[Piece], hasher: ThreadPoolExecutor, on_progress: Callable[[int], None]
    ) -> None:
        self._pieces = pieces
        self._next = 0
        self._hasher = hasher
        self._on_progress = on_progress
        self._source: SourceFile | None = None
        self._sha: Any = None
        self.digests: list[Future[str | None] | str] = []  # each file's, in order

    def fill(self, view: memoryview, base: int, jobs: list[Future[Any]]) -> bool:
        """Image bytes [base, base + len(view)) into ``view``; True when they are all holes
        (gaps and holes of sparse sources). Hashing jobs on the buffer go to ``jobs``."""
        pos, stop, hole = base, base + len(view), True
        while pos < stop:
            done = self._next == len(self._pieces)
            start, end, what = (stop, stop, b"") if done else self._pieces[self._next]
            if start > pos:  # padding, or space pycdlib leaves unwritten
                gap = min(start, stop) - pos
                view[pos - base : pos - base + gap] = _ZEROS[:gap]
                pos += gap
                continue
            part = view[pos - base : min(end, stop) - base]
            if isinstance(what, DiscEntry):
                hole = self._file(what, part, pos + len(part) == end, jobs) and hole
            else:
                part[:] = memoryview(what)[pos - start : pos - start + len(part)]
                hole = False
            pos += len(part)
            if pos == end:
                self._next += 1
        return hole

    def _file(self, entry: DiscEntry, part: memoryview, last: bool, jobs: list[Future[Any]]) -> bool:
        if self._source is None:
            self._source = SourceFile(entry)
            self._source.open()
            self._sha = None if entry.sha256 else hashlib.sha256()
        hole = self._source.read_into(part)
        if self._sha is not None:
            jobs.append(self._hasher.submit(_hash_file, self._sha, part, last))
            if last:
                self.digests.append(jobs[-1])
        elif last:
            self.digests.append(entry.sha256)  # type: ignore[arg-type]
        self._on_progress(len(part))
        if last:
            self._source.finish()
            self._source = None
        return hole

    def close(self) -> None:
        if self._source is not None:
            self._source.close()


def write_image(
    fd: int,
    size: int,
    metadata: Sequence[tuple[int, bytes]],
    extents: Sequence[tuple[int, DiscEntry]],
    on_progress: Callable[[int], None] = lambda n: None,
) -> tuple[str, list[str]]:
    """Write the ``size`` bytes of an image to the empty file ``fd``: the metadata (offset,
    bytes), each entry's data at its byte offset, zeros between; return its SHA-256 and each
    entry's, in ``extents`` order.

    An entry's SHA-256 is its recorded one when it has one (not computed again: verify the
    image), else computed from the data written. Raises FileChanged or InputUnreadable for a
    source that is not as planned.
    """
    pieces = _pieces(metadata, extents, size)
    image_sha = hashlib.sha256()
    ring = [mmap.mmap(-1, BLOCK) for _ in range(DEPTH)]  # page-aligned, as O_DIRECT wants
    busy: list[list[Future[Any]]] = [[] for _ in range(DEPTH)]
    images = ThreadPoolExecutor(1, "image-sha256")
    files = ThreadPoolExecutor(1, "file-sha256")
    writes = ThreadPoolExecutor(1, "image-write")
    writer = BlockWriter(fd)
    assembly = _Assembly(pieces, files, on_progress)
    try:
        for base in range(0, size, BLOCK):
            slot = base // BLOCK % DEPTH
            for job in busy[slot]:
                job.result()
            n = min(BLOCK, size - base)
            view, jobs = memoryview(ring[slot]), []
            hole = assembly.fill(view[:n], base, jobs)
            jobs.append(images.submit(image_sha.update, view[:n]))
            if not hole:  # holes of sparse sources, and gaps, stay holes
                padded = -(-n // ALIGN) * ALIGN
                view[n:padded] = _ZEROS[: padded - n]
                jobs.append(writes.submit(writer.write, view[:padded], base))
            busy[slot] = jobs
        for jobs in busy:
            for job in jobs:
                job.result()
        os.ftruncate(fd, size)  # the last block's padding, or trailing holes
        digests = [d if isinstance(d, str) else d.result() for d in assembly.digests]
        return image_sha.hexdigest(), digests  # type: ignore[return-value]
    finally:
        assembly.close()
        for pool in (images, files, writes):
            pool.shutdown(cancel_futures=True)
        writer.close()


def _hash_file(sha: Any, view: memoryview, last: bool) -> str | None:
    """On the file hasher: one piece of a file; after its last, its checksum."""
    sha.update(view)
    return sha.hexdigest() if last else None


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
