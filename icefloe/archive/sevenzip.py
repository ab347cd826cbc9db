"""Writing and checking 7z archives of many folders, built on py7zr's coders and header code.

py7zr writes one folder (one compressed stream) per archive on one thread. A 7z archive may
hold many folders, each with its own coders, so icefloe compresses folders in parallel
processes and assembles one archive from them:

    [signature 32 B][folder 0]...[folder n-1][header]

``write_folder`` runs in a worker: it streams its members through py7zr's
``SevenZipCompressor`` (Copy or LZMA2, then AES-256 when there is a password) into either its
final place in the archive (Copy folders, whose size is known in advance) or a temporary file
(LZMA2 folders, appended once their size is known). Every member's SHA-256 is computed from the
same read that feeds the compressor. ``build_header`` writes the header with py7zr's own
classes, encrypted with the folders' password when there is one. ``check_folder`` is testzip for
one folder: it decodes the stored bytes and compares every member's CRC and the packed CRC.
"""

from __future__ import annotations

import functools
import hashlib
import io
import lzma
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import py7zr
from py7zr.archiveinfo import (
    Bond,
    FilesInfo,
    Folder,
    Header,
    HeaderStreamsInfo,
    PackInfo,
    SignatureHeader,
    StreamsInfo,
    SubstreamsInfo,
    UnpackInfo,
    WriteWithCrc,
    write_boolean,
    write_byte,
    write_crcs,
    write_uint64,
)
from py7zr.compressor import SevenZipCompressor
from py7zr.properties import PROPERTY

from icefloe.archive.volumes import StreamWriter
from icefloe.errors import FileChanged, InputUnreadable

SIGNATURE_SIZE = 32
BLOCK = 1 << 20
AES_BLOCK = 16
# 7z stores times as Windows FILETIME: 100 ns ticks since 1601-01-01.
FILETIME_EPOCH = 116_444_736_000_000_000
# Attribute bits: Windows in the low 16, the Unix mode in the high 16 (py7zr, 7-Zip, p7zip).
ATTR_DIRECTORY = 0x10
ATTR_ARCHIVE = 0x20
ATTR_REPARSE_POINT = 0x400
ATTR_UNIX_EXTENSION = 0x8000

COPY = "copy"
LZMA2 = "lzma2"


def _remember_derived_keys() -> None:
    """Derive each AES key once per process, not once per folder.

    7zAES derives its key with 2^19 SHA-256 rounds (~60 ms here) and py7zr does it again for
    every folder it encodes or decodes: a set of a dozen folders spent more time there than on
    the AES itself. The derivation is a pure function of (password, cycles, salt), so
    remembering a few results in py7zr's compressor module changes nothing else.
    """
    from py7zr import compressor

    if not hasattr(compressor.calculate_key, "cache_info"):
        compressor.calculate_key = functools.lru_cache(maxsize=8)(compressor.calculate_key)


_remember_derived_keys()

ProgressFn = Callable[[int], None]


def lzma2_filter(preset: int) -> dict[str, Any]:
    """The LZMA2 settings for ``preset``.

    Preset 1 keeps liblzma's preset-1 dictionary (1 MiB) and HC4 match finder but follows
    only 2 hash-chain links per position (liblzma's preset 1 follows 8; nice length 32, not
    128, which changes nothing at this depth): on the benchmark's text 1.7x faster than
    liblzma's preset 1 for 7% more output, about as small as ``7zz a -mx=1``'s
    (docs/archive.md, "Speed"). These are encoder-only choices: any LZMA2
    decoder reads the result. Other presets are liblzma's.
    """
    if preset == 1:
        return {"id": lzma.FILTER_LZMA2, "preset": 1, "mf": lzma.MF_HC4, "nice_len": 32, "depth": 2}
    return {"id": lzma.FILTER_LZMA2, "preset": preset}


def folder_filters(method: str, preset: int, password: str | None) -> list[dict[str, Any]]:
    filters = [{"id": py7zr.FILTER_COPY}] if method == COPY else [lzma2_filter(preset)]
    if password is not None:
        # Without the AES filter in the list py7zr leaves the data in plaintext (FACTS.md).
        filters.append({"id": py7zr.FILTER_CRYPTO_AES256_SHA256})
    return filters


def copy_packed_size(unpacked: int, encrypted: bool) -> int:
    """A Copy folder's stored size: the data itself, padded to the AES block when encrypted."""
    return -(-unpacked // AES_BLOCK) * AES_BLOCK if encrypted else unpacked


def filetime(mtime_ns: int) -> int:
    return mtime_ns // 100 + FILETIME_EPOCH


def attributes(kind: str, mode: int) -> int:
    unix = ATTR_UNIX_EXTENSION | (mode & 0xFFFF) << 16
    if kind == "dir":
        return ATTR_DIRECTORY | unix
    if kind == "symlink":
        return ATTR_ARCHIVE | ATTR_REPARSE_POINT | unix
    return ATTR_ARCHIVE | unix


@dataclass(frozen=True)
class Member:
    """One entry to store. ``source`` is an absolute path (files); ``data`` is inline bytes
    (symlink targets, the manifest)."""

    arcname: str
    kind: str  # "file", "dir" or "symlink"
    size: int
    mtime_ns: int
    mode: int
    source: str | None = None
    data: bytes | None = None
    relpath: str = ""  # how errors name it: relative to the partition


@dataclass(frozen=True)
class Stored:
    """What writing one member produced."""

    size: int
    crc32: int
    sha256: str


@dataclass(frozen=True)
class FolderJob:
    index: int
    method: str  # COPY or LZMA2
    members: tuple[Member, ...]
    preset: int
    password: str | None
    # Where the packed stream goes: straight into the archive at ``offset`` (Copy folders) or
    # into the temporary file ``temp``.
    directory: str
    basename: str
    volume_size: int | None
    offset: int | None = None
    temp: str | None = None

    @property
    def unpacked(self) -> int:
        return sum(m.size for m in self.members)


@dataclass(frozen=True)
class FolderResult:
    index: int
    coders: tuple[dict[str, Any], ...]
    unpacksizes: tuple[int, ...]
    packsize: int
    pack_crc: int
    stored: tuple[Stored, ...]


class _HashingReader(io.RawIOBase):
    """Reads a member once for the compressor, hashing it and counting progress on the way.

    A read error is the member's fault and is raised naming it; write errors, raised by the
    compressor's output, stay OSErrors about the output.
    """

    def __init__(self, fd: int, member: Member, report: ProgressFn | None) -> None:
        super().__init__()
        self._fd = fd
        self._member = member
        self._report = report
        self.sha = hashlib.sha256()
        self.count = 0
        self._unreported = 0

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        try:
            data = os.read(self._fd, size if size > 0 else BLOCK)
        except OSError as exc:
            raise _unreadable(self._member, exc) from None
        self.sha.update(data)
        self.count += len(data)
        if self._report is not None:
            self._unreported += len(data)
            if self._unreported >= 8 * BLOCK or not data:
                self._report(self._unreported)
                self._unreported = 0
        return data

    def readable(self) -> bool:
        return True


def _unreadable(member: Member, exc: OSError) -> InputUnreadable:
    return InputUnreadable(
        f"cannot read {member.relpath or member.source}: {exc.strerror}; fix it or move it out "
        "of the partition, then consolidate again"
    )


def _open_member(member: Member) -> int:
    """Open a file without following a symlink that replaced it since the scan."""
    assert member.source is not None
    try:
        fd = os.open(member.source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise _unreadable(member, exc) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise FileChanged(f"{member.relpath} is no longer a regular file; consolidate again")
    os.set_blocking(fd, True)
    return fd


def _changed(member: Member, what: str) -> FileChanged:
    return FileChanged(
        f"{member.relpath} changed while it was being archived ({what}); make sure nothing "
        "writes to the partition, then consolidate again"
    )


def write_members(
    members: Sequence[Member],
    out: BinaryIO,
    filters: list[dict[str, Any]],
    password: str | None,
    report: ProgressFn | None = None,
) -> tuple[SevenZipCompressor, list[Stored]]:
    """Compress ``members`` as one folder into ``out``; returns the compressor and each result."""
    comp = SevenZipCompressor(filters=filters, password=password, blocksize=BLOCK)
    stored: list[Stored] = []
    for member in members:
        if member.source is None:
            data = member.data or b""
            _, _, crc = comp.compress(io.BytesIO(data), out)
            stored.append(Stored(len(data), crc, hashlib.sha256(data).hexdigest()))
            continue
        fd = _open_member(member)
        try:
            reader = _HashingReader(fd, member, report)
            insize, _, crc = comp.compress(reader, out)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if insize != member.size:
            raise _changed(member, f"{member.size} bytes at the scan, {insize} now")
        if after.st_mtime_ns != member.mtime_ns:
            raise _changed(member, "its modification time moved")
        stored.append(Stored(insize, crc, reader.sha.hexdigest()))
    comp.flush(out)
    return comp, stored


def write_folder(job: FolderJob, report: ProgressFn | None = None) -> FolderResult:
    """Compress one folder into its place (worker-process entry point)."""
    filters = folder_filters(job.method, job.preset, job.password)
    if job.temp is not None:
        out: BinaryIO = open(job.temp, "wb")  # noqa: SIM115 - closed below
    else:
        assert job.offset is not None
        out = StreamWriter(Path(job.directory), job.basename, job.volume_size, start=job.offset)  # type: ignore[assignment]
    try:
        # No fsync here: the parent's VolumeFlusher puts the volumes on disk while the other
        # folders are compressed, and fsyncs each before the set is renamed into place.
        comp, stored = write_members(job.members, out, filters, job.password, report)
    finally:
        out.close()
    if job.temp is None and comp.packsize != copy_packed_size(job.unpacked, job.password is not None):
        raise FileChanged("a file changed size while it was being archived; consolidate again")
    return FolderResult(
        index=job.index,
        coders=tuple(comp.coders),
        unpacksizes=tuple(comp.unpacksizes),
        packsize=comp.packsize,
        pack_crc=comp.digest,
        stored=tuple(stored),
    )


def build_header(
    folders: Sequence[tuple[FolderResult, Sequence[Member]]],
    empty: Sequence[Member],
    password: str | None,
) -> Header:
    """The archive header: ``folders`` in stored order, then members without data (folders)."""
    header = Header()
    header.password = password
    main = StreamsInfo()
    main.packinfo = PackInfo()
    main.packinfo.packpos = 0
    main.packinfo.numstreams = len(folders)
    main.packinfo.packsizes = [r.packsize for r, _ in folders]
    main.packinfo.crcs = [r.pack_crc for r, _ in folders]
    main.packinfo.digestdefined = [True] * len(folders)
    main.packinfo.enable_digests = True
    main.unpackinfo = UnpackInfo()
    main.unpackinfo.numfolders = len(folders)
    main.unpackinfo.folders = []
    sub = SubstreamsInfo()
    sub.num_unpackstreams_folders = []
    sub.unpacksizes = []
    files: list[dict[str, Any]] = []
    for result, members in folders:
        folder = Folder()
        folder.coders = [dict(c) for c in result.coders]
        folder.bindpairs = [Bond(incoder=i + 1, outcoder=i) for i in range(len(folder.coders) - 1)]
        folder.unpacksizes = list(result.unpacksizes)
        folder.password = password
        main.unpackinfo.folders.append(folder)
        sub.num_unpackstreams_folders.append(len(members))
        for member, stored in zip(members, result.stored, strict=True):
            sub.unpacksizes.append(stored.size)
            sub.digests.append(stored.crc32)
            sub.digestsdefined.append(True)
            files.append(_file_info(member, emptystream=False))
    files.extend(_file_info(m, emptystream=True) for m in empty)
    header.main_streams = main if folders else None
    if folders:
        main.substreamsinfo = sub
    header.files_info = FilesInfo()
    header.files_info.files = files
    header.files_info.emptyfiles = [f["emptystream"] for f in files]
    return header


def _file_info(member: Member, emptystream: bool) -> dict[str, Any]:
    return {
        "filename": member.arcname,
        "emptystream": emptystream,
        "lastwritetime": filetime(member.mtime_ns),
        "attributes": attributes(member.kind, member.mode),
    }


class _UnpackInfoWithCrc(UnpackInfo):
    """UnpackInfo that also stores each folder's CRC, as 7-Zip does for its header.

    py7zr writes none, so a damaged encrypted header would decrypt to wrong names unnoticed;
    py7zr and 7-Zip both check the CRC when it is there.
    """

    def write(self, file: Any) -> None:
        file.write(PROPERTY.UNPACK_INFO)
        file.write(PROPERTY.FOLDER)
        write_uint64(file, self.numfolders)
        write_byte(file, b"\x00")
        for folder in self.folders:
            folder.write(file)
        write_byte(file, PROPERTY.CODERS_UNPACK_SIZE)
        for folder in self.folders:
            for size in folder.unpacksizes:
                write_uint64(file, size)
        write_byte(file, PROPERTY.CRC)
        write_boolean(file, [True] * len(self.folders), all_defined=True)
        write_crcs(file, [folder.crc for folder in self.folders])
        write_byte(file, PROPERTY.END)


def write_header(out: StreamWriter, header: Header, preset: int, password: str | None) -> int:
    """Write ``header`` at the current end of ``out``, then the signature at offset 0.

    The header is LZMA2-compressed, AES-encrypted with the password (so names are hidden too),
    and carries its CRC. Returns the archive's length.
    """
    raw = io.BytesIO()
    _, _, raw_crc = header.write(raw, 0, encoded=False)
    packpos = out.tell() - SIGNATURE_SIZE
    raw.seek(0)
    comp = SevenZipCompressor(filters=folder_filters(LZMA2, preset, password), password=password, blocksize=BLOCK)
    comp.compress(raw, out)
    comp.flush(out)
    folder = Folder()
    folder.coders = list(comp.coders)
    folder.bindpairs = [Bond(incoder=i + 1, outcoder=i) for i in range(len(folder.coders) - 1)]
    folder.unpacksizes = list(comp.unpacksizes)
    folder.crc = raw_crc
    folder.digestdefined = True
    streams = HeaderStreamsInfo()
    streams.unpackinfo = _UnpackInfoWithCrc()
    streams.unpackinfo.numfolders = 1
    streams.unpackinfo.folders = [folder]
    streams.packinfo.packpos = packpos
    streams.packinfo.numstreams = 1
    streams.packinfo.packsizes = [comp.packsize]
    streams.packinfo.crcs = [comp.digest]
    streams.packinfo.digestdefined = [True]
    streams.packinfo.enable_digests = True
    start = out.tell()
    crcfile = WriteWithCrc(out)
    streams.write(crcfile)
    end = out.tell()
    sig = SignatureHeader()
    sig.nextheaderofs = start - SIGNATURE_SIZE
    sig.calccrc(end - start, crcfile.digest)
    sig.write(out)
    return end
