"""testzip for icefloe's archives, on every core, and the SHA-256 of each volume.

``test_archive`` does what py7zr's ``testzip()`` does (open the header, decode every folder,
compare every member's CRC) but one folder per worker, because LZMA decodes at only ~80 MB/s
per core here. The archive is opened as a restore opens it (icefloe.restore.sevenzip's
``open_archive``, over icefloe.volumestream's reader), and each folder is decoded by py7zr's
decoders. Any 7z archive can be tested, not just icefloe's.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import py7zr
from py7zr.compressor import SevenZipDecompressor

from icefloe.archive.parallel import InlineRunner, PoolRunner, make_runner
from icefloe.archive.sevenzip import BLOCK, ProgressFn
from icefloe.errors import ChecksumMismatch, InputNotFound, PasswordError
from icefloe.progress import NullProgress, Progress
from icefloe.restore.sevenzip import Folder, open_archive
from icefloe.volumestream import VolumeReader, file_sources


@dataclass(frozen=True)
class FolderCheck:
    """Everything needed to test one stored folder, picklable for a worker."""

    index: int
    paths: tuple[str, ...]
    offset: int
    packsize: int
    pack_crc: int | None
    coders: tuple[dict[str, Any], ...]
    unpacksizes: tuple[int, ...]
    names: tuple[str, ...]
    sizes: tuple[int, ...]
    crcs: tuple[int | None, ...]
    password: str | None


class _CrcReader(io.RawIOBase):
    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self.crc = 0

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = self._raw.read(size)
        self.crc = zlib.crc32(data, self.crc)
        return data


def folder_checks(folders: Sequence[Folder], paths: Sequence[Path], password: str | None) -> list[FolderCheck]:
    """One check per folder of an opened archive (``open_archive(...).folders``)."""
    return [
        FolderCheck(
            index=folder.index,
            paths=tuple(str(p) for p in paths),
            offset=folder.offset,
            packsize=folder.packsize,
            pack_crc=folder.pack_crc,
            coders=tuple(folder.coders),
            unpacksizes=tuple(folder.unpacksizes),
            names=tuple(m.name for m in folder.members),
            sizes=tuple(m.size for m in folder.members),
            crcs=tuple(m.crc for m in folder.members),
            password=password,
        )
        for folder in folders
    ]


def check_folder(check: FolderCheck, report: ProgressFn | None = None) -> int:
    """testzip for one folder: decode it and compare every CRC. Returns the bytes checked."""
    name = Path(check.paths[0]).name
    with VolumeReader(file_sources(check.paths)) as raw:
        raw.seek(check.offset)
        src = _CrcReader(raw)
        try:
            decoder = SevenZipDecompressor(
                list(check.coders), check.packsize, list(check.unpacksizes), None, check.password, BLOCK
            )
        except py7zr.PasswordRequired:
            raise PasswordError(f"{name} is encrypted: set the archive password and try again") from None
        done = 0
        for member, size, crc in zip(check.names, check.sizes, check.crcs, strict=True):
            got, left = 0, size
            try:
                while left > 0:
                    data = decoder.decompress(src, max_length=min(left, BLOCK))
                    if not data:
                        raise EOFError("the stored data ends early")
                    got = zlib.crc32(data, got)
                    left -= len(data)
                    if report is not None:
                        report(len(data))
            except (lzma.LZMAError, EOFError, ValueError) as exc:
                raise _damaged(name, member, check.password, str(exc)) from None
            if crc is not None and got != crc:
                raise _damaged(name, member, check.password, "CRC mismatch")
            done += size
        # Read whatever the decoder did not need (AES padding, LZMA2 end mark) for the packed CRC.
        rest = check.packsize - decoder.consumed
        while rest > 0:
            chunk = src.read(min(rest, BLOCK))
            if not chunk:
                break
            rest -= len(chunk)
        if check.pack_crc is not None and src.crc != check.pack_crc:
            raise ChecksumMismatch(f"{name}: the stored data of folder {check.index} is damaged (packed CRC)")
    return done


def _damaged(name: str, member: str, password: str | None, why: str) -> ChecksumMismatch:
    hint = " (or the password is wrong)" if password is not None else ""
    return ChecksumMismatch(f"{name}: {member} does not match its checksum{hint}: {why}")


# Rough per-core rates, only to start the longest jobs first.
DECODE_BPS = {"copy": 2e9, "aes": 5e8, "lzma": 8e7}
HASH_BPS = 1.7e9


def sha256_file(path: Path, report: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(4 * BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_job(path: str, report: Callable[[int], None] | None) -> str:
    return sha256_file(Path(path), report)


def _check_job(check: FolderCheck, report: Callable[[int], None] | None) -> int:
    return check_folder(check, report)


def _cost(check: FolderCheck) -> float:
    methods = {bytes(c["method"]) for c in check.coders}
    lzma_ids = {b"\x21", b"\x03\x01\x01"}
    if methods & lzma_ids:
        rate = DECODE_BPS["lzma"]
    elif any(m.startswith(b"\x06\xf1") for m in methods):
        rate = DECODE_BPS["aes"]
    else:
        rate = DECODE_BPS["copy"]
    return sum(check.sizes) / rate


def volume_paths(first: Path) -> list[Path]:
    """``x.7z`` alone, or every ``x.7z.001``, ``x.7z.002``... given any one of them."""
    first = Path(first)
    stem, _, number = first.name.rpartition(".")
    if number.isdigit() and stem:
        paths, index = [], 1
        while True:
            candidate = first.with_name(f"{stem}.{index:0{len(number)}d}")
            if not candidate.exists():
                break
            paths.append(candidate)
            index += 1
        if paths:
            return paths
    if not first.exists():
        raise InputNotFound(f"archive {first} does not exist")
    return [first]


def check_and_hash(
    paths: Sequence[Path],
    password: str | None,
    runner: InlineRunner | PoolRunner,
    *,
    expected_members: int | None = None,
) -> list[str]:
    """Test every folder of the archive and return the SHA-256 of each volume, in order."""
    with open_archive(file_sources(paths), password, Path(paths[0]).name) as archive:
        checks = folder_checks(archive.folders, paths, password)
        members = len(archive.members)
    if expected_members is not None and members != expected_members:
        raise ChecksumMismatch(
            f"{Path(paths[0]).name} lists {members} entries but {expected_members} were written"
        )
    jobs: list[tuple[Callable, object, float]] = [(_check_job, c, _cost(c)) for c in checks]
    jobs += [(_hash_job, str(p), os.path.getsize(p) / HASH_BPS) for p in paths]
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i][2])
    results = runner.map(_dispatch, [(fn, job) for fn, job, _ in jobs], order)
    return results[len(checks):]


def _dispatch(pair: tuple[Callable, object], report: Callable[[int], None] | None) -> object:
    fn, job = pair
    return fn(job, report)


def test_archive(
    paths: Sequence[Path] | Path,
    password: str | None = None,
    *,
    workers: int = 1,
    progress: Progress | None = None,
) -> list[str]:
    """testzip: raise ChecksumMismatch (damaged) or PasswordError (wrong or missing password).

    ``paths`` are the archive's volumes in order, or one path (``x.7z`` or ``x.7z.001``, the
    rest found beside it). Returns the SHA-256 of each volume.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = volume_paths(Path(paths))
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_file():
            raise InputNotFound(f"archive volume {path} does not exist")
    progress = progress or NullProgress()
    progress.on_queued(0, f"testing {paths[0].name}")
    runner = make_runner(workers, progress)
    try:
        return check_and_hash(paths, password, runner)
    finally:
        runner.close()
        progress.on_done()


test_archive.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
