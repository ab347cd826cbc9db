"""One byte stream laid over a row of volume files, as 7-Zip splits an archive.

A 7z multi-volume archive is a plain split of one archive: volume k holds bytes
``[k * size, (k + 1) * size)``. Writers here are positional (``pwrite``), so several worker
processes can fill disjoint regions of the same stream at once; volume files are created on
first touch. icefloe.volumestream's ``VolumeReader`` reads the row back as one seekable file
(for testzip and for a restore alike).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from icefloe.volumestream import PositionedStream

# 7-Zip names volumes name.7z.001, name.7z.002, ... and finds the rest from the first.
VOLUME_DIGITS = 3


def volume_name(basename: str, index: int, count: int | None = None) -> str:
    """``basename.001`` for 0-based ``index``; wider when there are more than 999 volumes."""
    digits = max(VOLUME_DIGITS, len(str(count))) if count else VOLUME_DIGITS
    return f"{basename}.{index + 1:0{digits}d}"


class StreamWriter(PositionedStream):
    """A seekable, write-only file over ``directory/basename.NNN`` volumes of ``volume_size``.

    With ``volume_size=None`` there is one volume (still named ``.001`` until ``finish``).
    Safe for several processes at once as long as their byte ranges do not overlap.
    """

    def __init__(self, directory: Path, basename: str, volume_size: int | None, start: int = 0) -> None:
        super().__init__(start)  # its size is unknown until it is written: no seek from the end
        if volume_size is not None and volume_size <= 0:
            raise ValueError("volume_size must be positive")
        self.directory = Path(directory)
        self.basename = basename
        self.volume_size = volume_size
        self._fds: dict[int, int] = {}

    def _fd(self, index: int) -> int:
        fd = self._fds.get(index)
        if fd is None:
            path = self.directory / volume_name(self.basename, index)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._fds[index] = fd
        return fd

    def _locate(self, pos: int) -> tuple[int, int, int | None]:
        if self.volume_size is None:
            return 0, pos, None
        index, offset = divmod(pos, self.volume_size)
        return index, offset, self.volume_size - offset

    def pwrite(self, data: bytes | memoryview, pos: int) -> None:
        view = memoryview(data)
        while view:
            index, offset, room = self._locate(pos)
            chunk = view if room is None else view[:room]
            fd = self._fd(index)
            written = 0
            while written < len(chunk):
                written += os.pwrite(fd, chunk[written:], offset + written)
            view = view[len(chunk):]
            pos += len(chunk)

    def write(self, data) -> int:  # type: ignore[override]
        size = len(data)
        if size:
            self.pwrite(data, self._pos)
            self._pos += size
        return size

    def copy_from(self, path: Path) -> int:
        """Append a whole file at the current position (in-kernel where the system allows)."""
        copied = 0
        with open(path, "rb") as src:
            total = os.fstat(src.fileno()).st_size
            while copied < total:
                index, offset, room = self._locate(self._pos)
                want = total - copied if room is None else min(room, total - copied)
                fd = self._fd(index)
                try:
                    n = os.copy_file_range(src.fileno(), fd, want, copied, offset)
                except OSError:
                    n = 0
                if n <= 0:  # not supported here (or a short read): plain copy of one chunk
                    data = os.pread(src.fileno(), min(want, 1 << 20), copied)
                    if not data:
                        raise OSError(f"{path} ended early while copying it into the archive")
                    self.pwrite(data, self._pos)
                    n = len(data)
                copied += n
                self._pos += n
        return copied

    def writable(self) -> bool:
        return True

    def sync(self) -> None:
        for fd in self._fds.values():
            os.fsync(fd)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        super().close()


class VolumeFlusher:
    """Puts the volumes of ``directory/basename*`` on disk while the CPU-bound work goes on.

    Every volume is fsynced before its set is renamed into place. Left to the end, that is a
    wait of (archive size / disk speed) with every core idle: the kernel starts writing dirty
    pages on its own only after 30 s, longer than most consolidations. A thread here fsyncs
    the volumes written so far every ``interval`` seconds (fsync releases the GIL, the
    workers are other processes), so the disk writes while folders are compressed and tested;
    ``finish`` stops it, fsyncs each final volume and raises the first error it met.
    """

    def __init__(self, directory: Path, basename: str, interval: float = 1.0) -> None:
        self.directory = Path(directory)
        self.basename = basename
        self.interval = interval
        self._stop = threading.Event()
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name=f"flush {basename}", daemon=True)

    def __enter__(self) -> VolumeFlusher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                for path in sorted(self.directory.glob(f"{self.basename}*")):
                    _fsync_path(path)
            except FileNotFoundError:
                continue  # a volume renamed (or the folder removed) between listing and opening
            except OSError as exc:
                self._error = exc
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def finish(self, paths: Sequence[Path]) -> None:
        """Stop, then fsync every one of ``paths`` (the finished volumes)."""
        self.stop()
        if self._error is not None:
            raise self._error
        for path in paths:
            _fsync_path(Path(path))


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
