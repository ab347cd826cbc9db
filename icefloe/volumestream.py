"""An archive's volumes read as one seekable byte stream, as 7-Zip splits an archive.

A 7z multi-volume archive is a plain split of one archive: the volumes, in order, are one
byte stream cut into files (docs/archive.md). :class:`VolumeReader` reads them back as one
seekable file, for testzip (the volumes are plain files: :func:`file_sources`) and for a
restore (files, or files inside ISO images: icefloe.restore.sources). A volume that is
missing becomes a hole of its expected size: reading it raises MissingVolume, so folders
stored elsewhere can still be read, and the error names the file. A volume that is a plain
file is read with ``preadv`` straight into the caller's buffer (no seek, no copy); any other
source through the handle its opener returns.

:class:`PositionedStream` is the position a reader or a writer keeps in such a stream
(icefloe.archive.volumes writes volumes with it).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from icefloe.errors import InputUnreadable, MissingVolume


class PositionedStream(io.RawIOBase):
    """A raw stream that keeps its own position; ``size`` (None: unknown) ends it for SEEK_END."""

    size: int | None = None

    def __init__(self, start: int = 0) -> None:
        super().__init__()
        self._pos = start

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END and self.size is None:
            raise io.UnsupportedOperation(f"{type(self).__name__} cannot seek from the end")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + pos < 0:  # type: ignore[operator]
            raise ValueError("negative seek position")
        self._pos = base + pos  # type: ignore[operator]
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True


@dataclass(frozen=True)
class VolumeSource:
    """One volume: its name, size, expected SHA-256, and how to open it (None: missing)."""

    name: str
    size: int | None
    sha256: str | None = None
    opener: Callable[[], BinaryIO] | None = None
    where: str = ""  # for messages: a path, or "image.iso:/name"

    @property
    def present(self) -> bool:
        return self.opener is not None


def file_source(path: Path, sha256: str | None = None, name: str | None = None) -> VolumeSource:
    """A volume that is a plain file (missing, with no size, when the file is not there)."""
    path = Path(path)
    if not path.is_file():
        return VolumeSource(name or path.name, None, sha256, None, str(path))
    return VolumeSource(name or path.name, path.stat().st_size, sha256, lambda: open(path, "rb"), str(path))


def file_sources(paths: Sequence[Path | str]) -> list[VolumeSource]:
    return [file_source(Path(p)) for p in paths]


class VolumeReader(PositionedStream):
    """The volumes, in order, read as one seekable stream; holes raise MissingVolume, a volume
    that cannot be opened or read raises InputUnreadable. Volumes are opened when first read."""

    def __init__(self, sources: Sequence[VolumeSource]) -> None:
        super().__init__()
        self.sources = list(sources)
        self._starts = [0]
        for src in self.sources:
            if src.size is None:
                raise MissingVolume(src.name, f"volume {src.name} is missing and its size is unknown, "
                                    "so the archive cannot be read past it")
            self._starts.append(self._starts[-1] + src.size)
        self.size = self._starts[-1]
        self._handles: dict[int, tuple[BinaryIO, int | None]] = {}

    def _open(self, index: int) -> tuple[BinaryIO, int | None]:
        """The volume's handle, and its file descriptor when it is a plain file."""
        opened = self._handles.get(index)
        if opened is None:
            src = self.sources[index]
            if src.opener is None:
                raise MissingVolume(src.name)
            try:
                handle = src.opener()
            except Exception as exc:
                if isinstance(exc, MissingVolume):
                    raise
                raise InputUnreadable(f"cannot open {src.where or src.name}: {getattr(exc, 'strerror', None) or exc}") from None
            try:
                fd: int | None = handle.fileno()
            except (OSError, AttributeError, io.UnsupportedOperation):
                fd = None  # a file inside an ISO image: read through its handle
            opened = self._handles[index] = (handle, fd)
        return opened

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self.size:  # type: ignore[operator]
            index = self._index(self._pos)
            offset = self._pos - self._starts[index]
            want = min(len(view) - done, self._starts[index + 1] - self._pos)
            handle, fd = self._open(index)
            try:
                if fd is not None:
                    n = os.preadv(fd, [view[done:done + want]], offset)
                else:
                    handle.seek(offset)
                    n = handle.readinto(view[done:done + want])
            except OSError as exc:  # a scratched disc, a failing disk: this stretch is lost
                where = self.sources[index].where or self.sources[index].name
                raise InputUnreadable(f"cannot read {where} at byte {offset}: {exc.strerror or exc}") from None
            if not n:
                raise InputUnreadable(f"{self.sources[index].where or self.sources[index].name} "
                                      "is shorter than expected")
            done += n
            self._pos += n
        return done

    def _index(self, pos: int) -> int:
        # Few volumes: a linear scan is clearer than bisect and just as fast.
        for index in range(len(self.sources)):
            if pos < self._starts[index + 1]:
                return index
        return len(self.sources) - 1

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        for handle, _ in self._handles.values():
            handle.close()
        self._handles.clear()
        super().close()
