"""Reading a 7z archive folder by folder, as a restore needs it.

py7zr reads the header (and tells a missing password); the folders (compressed streams) are
then decoded one at a time with py7zr's own decoders, each from its place in the volume
stream, so a damaged or missing stretch loses only the folder it is in. Opening tells a
wrong password from a damaged header by the volumes' recorded SHA-256s, reading only the
volumes that hold the header. Works for any 7z archive whose folders have one packed stream
(icefloe's, py7zr's, 7-Zip's without BCJ2).
"""

from __future__ import annotations

import hashlib
import lzma
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import py7zr
from py7zr.compressor import SevenZipDecompressor

from icefloe import manifest as mf
from icefloe.errors import (
    ChecksumMismatch,
    IcefloeError,
    InputUnreadable,
    PasswordError,
    UsageError,
)
from icefloe.restore.sources import MissingVolume, VolumeReader, VolumeSource

SIGNATURE_SIZE = 32
BLOCK = 1 << 20
FILETIME_EPOCH = 116_444_736_000_000_000  # 100 ns ticks from 1601-01-01 to 1970-01-01
# What a damaged or missing stretch of the archive raises while a folder is decoded. Reading
# errors are InputUnreadable (VolumeReader), so an OSError here is the target's (a full disk).
DECODE_ERRORS = (lzma.LZMAError, EOFError, ValueError, KeyError, TypeError, py7zr.Bad7zFile,
                 MissingVolume, InputUnreadable)


@dataclass
class Member:
    """One entry of the archive's header."""

    index: int
    name: str
    size: int
    crc: int | None
    attributes: int | None
    mtime_ns: int | None
    folder: int | None  # None: an empty stream (folder or empty file)
    is_dir: bool


@dataclass
class Folder:
    """One compressed stream: where it is in the volume stream, how to decode it, what it holds."""

    index: int
    offset: int
    packsize: int
    coders: list[dict]
    unpacksizes: list[int]
    members: list[Member] = field(default_factory=list)


def filetime_ns(value: Any) -> int | None:
    if value is None:
        return None
    return (int(value) - FILETIME_EPOCH) * 100


def open_archive(reader: VolumeReader, sources: Sequence[VolumeSource], password: str | None, archive: str) -> py7zr.SevenZipFile:
    """py7zr's view of the archive: its header only. Tells a wrong password from damage."""
    try:
        return py7zr.SevenZipFile(reader, "r", password=password)
    except MissingVolume as exc:
        raise MissingVolume(exc.volume, f"volume {exc.volume} of {archive} is missing and holds the "
                            "archive's header, so nothing can be restored without it") from None
    except py7zr.PasswordRequired:
        raise PasswordError(f"{archive} is encrypted: set the archive password (archive.password_env) "
                            "and run the restore again") from None
    except (lzma.LZMAError, EOFError, ValueError, KeyError, TypeError, py7zr.Bad7zFile, InputUnreadable) as exc:
        damaged = damaged_volumes(sources, header_spans(reader))
        if damaged:
            raise ChecksumMismatch(f"{archive} is damaged: {'; '.join(damaged)}; its header does not "
                                   "read, so nothing could be restored from these volumes") from None
        if password is not None:
            known = all(s.sha256 for s in sources)
            raise PasswordError(
                f"the password is wrong for {archive}" + ("" if known else " (or its header is damaged)")
                + ": set the right one in the archive password variable and run the restore again"
            ) from None
        raise ChecksumMismatch(f"{archive} is damaged: its header does not read ({exc})") from None


def header_spans(reader: VolumeReader) -> list[tuple[int, int]] | None:
    """Where the signature header and the header are (from the signature header), or None."""
    try:
        reader.seek(0)
        signature = reader.read(SIGNATURE_SIZE)
        offset, size = struct.unpack_from("<QQ", signature, 12)
    except (IcefloeError, OSError, struct.error):
        return None
    return [(0, SIGNATURE_SIZE), (SIGNATURE_SIZE + offset, SIGNATURE_SIZE + offset + size)]


def damaged_volumes(sources: Sequence[VolumeSource], spans: list[tuple[int, int]] | None = None) -> list[str]:
    """Volumes whose bytes differ from their recorded SHA-256, among those overlapping ``spans``
    of the stream (all when None): one reading pass each, which from a disc takes a while."""
    out = []
    start = 0
    for src in sources:
        end = start + (src.size or 0)
        overlaps = spans is None or any(a < end and b > start for a, b in spans)
        start = end
        if src.opener is None or not src.sha256 or not overlaps:
            continue
        digest = hashlib.sha256()
        with src.opener() as handle:
            while chunk := handle.read(8 * BLOCK):
                digest.update(chunk)
        if digest.hexdigest() != src.sha256:
            out.append(f"volume {src.name} differs from its recorded SHA-256")
    return out


def layout(archive: py7zr.SevenZipFile) -> tuple[list[Folder], list[Member]]:
    header = archive.header
    folders: list[Folder] = []
    main = header.main_streams
    if main is not None:
        pack = main.packinfo
        pos = SIGNATURE_SIZE + pack.packpos
        for index, folder in enumerate(main.unpackinfo.folders):
            if len(folder.packed_indices) > 1:
                raise UsageError("this archive uses a multi-stream method (such as BCJ2) icefloe does not "
                                 "decode; extract it with 7-Zip (`7zz x`)")
            size = pack.packsizes[index]
            folders.append(Folder(index, pos, size, list(folder.coders), list(folder.unpacksizes)))
            pos += size
    by_id = {id(f): i for i, f in enumerate(main.unpackinfo.folders)} if main is not None else {}
    members: list[Member] = []
    files = header.files_info.files if header.files_info else []
    for index, info in enumerate(files):
        folder = info.get("folder")
        attributes = info.get("attributes")
        member = Member(
            index=index, name=info["filename"], size=int(info.get("uncompressed") or 0),
            crc=info.get("digest"), attributes=attributes, mtime_ns=filetime_ns(info.get("lastwritetime")),
            folder=by_id.get(id(folder)) if folder is not None else None,
            is_dir=bool(attributes is not None and attributes & 0x10),
        )
        members.append(member)
        if member.folder is not None:
            folders[member.folder].members.append(member)
    return folders, members


def decode(reader: VolumeReader, folder: Folder, password: str | None) -> Iterator[tuple[Member, Iterator[bytes]]]:
    """Yield (member, chunks iterator) in order; a decoding failure raises from the iterator."""
    reader.seek(folder.offset)
    decoder = SevenZipDecompressor(folder.coders, folder.packsize, folder.unpacksizes, None, password, BLOCK)
    for member in folder.members:
        def chunks(left: int = member.size):
            while left > 0:
                data = decoder.decompress(reader, max_length=min(left, BLOCK))
                if not data:
                    raise EOFError("the stored data ends early")
                left -= len(data)
                yield data
        yield member, chunks()


def read_inner_manifest(reader: VolumeReader, folders: list[Folder], password: str | None) -> mf.Manifest | None:
    for folder in reversed(folders):  # icefloe writes it into the last folder
        if not any(m.name.startswith(mf.INNER_DIR + "/") and m.name.endswith(".manifest.json") for m in folder.members):
            continue
        try:
            for member, chunks in decode(reader, folder, password):
                data = b"".join(chunks)
                if member.name.startswith(mf.INNER_DIR + "/") and member.name.endswith(".manifest.json"):
                    if member.crc is not None and zlib.crc32(data) != member.crc:
                        return None
                    return mf.loads(data, member.name)
        except (*DECODE_ERRORS, UsageError):
            return None
    return None
