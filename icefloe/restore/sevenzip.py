"""Reading a 7z archive folder by folder, as a restore needs it.

The header is read by :mod:`icefloe.restore.header` (py7zr reads what that leaves to it); a
missing password is told before anything is written. The folders (compressed streams) are then
decoded one at a time, each from its place in the volume stream, so a damaged or missing
stretch loses only the folder it is in: by :mod:`icefloe.restore.coders` (7zAES, Copy, LZMA2,
LZMA: what icefloe and 7-Zip write), else by py7zr's own decoders. Opening tells a wrong
password from a damaged header by the volumes' recorded SHA-256s, reading only the volumes
that hold the header. Works for any 7z archive whose folders have one packed stream
(icefloe's, py7zr's, 7-Zip's without BCJ2). py7zr is imported only when it is needed.
"""

from __future__ import annotations

import hashlib
import lzma
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from icefloe import manifest as mf
from icefloe.errors import (
    ChecksumMismatch,
    HeaderEncrypted,
    HeaderUnsupported,
    IcefloeError,
    InputUnreadable,
    MissingVolume,
    PasswordError,
    UsageError,
)
from icefloe.restore.coders import AES_ID, open_stream, py7zr_calculate_key
from icefloe.restore.header import (
    SIGNATURE_SIZE,
    Folder,
    Member,
    filetime_ns,
    read_layout,
)
from icefloe.volumestream import VolumeReader, VolumeSource

__all__ = ["DECODE_ERRORS", "Folder", "Member", "OpenArchive", "damaged_volumes", "decode", "layout",
           "open_archive", "read_archive", "read_inner_manifest"]

BLOCK = 1 << 20
# What a damaged or missing stretch of the archive raises while a folder is decoded. Reading
# errors are InputUnreadable (VolumeReader), so an OSError here is the target's (a full disk);
# py7zr's own errors are turned into ValueError where py7zr is called.
DECODE_ERRORS = (lzma.LZMAError, EOFError, ValueError, KeyError, TypeError, MissingVolume, InputUnreadable)


def _py7zr() -> Any:
    """py7zr, imported on first use (it costs a few tenths of a second), with icefloe's
    7zAES key derivation: py7zr's own takes about 0.4 s of a core per key, in pure Python."""
    import py7zr
    import py7zr.compressor

    py7zr.compressor.calculate_key = py7zr_calculate_key
    return py7zr


@dataclass
class OpenArchive:
    """An archive opened for reading: its volumes as one stream, its folders and entries."""

    reader: VolumeReader
    folders: list[Folder]
    members: list[Member]

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> OpenArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_archive(sources: Sequence[VolumeSource], password: str | None, name: str) -> OpenArchive:
    """The archive ``name`` whose volumes are ``sources`` (in order), its header read: what
    testzip and a restore both start from. PasswordError when the password is missing or
    wrong, ChecksumMismatch when the header is damaged, MissingVolume when the volume that
    holds it is missing."""
    sources = list(sources)
    reader = VolumeReader(sources)
    try:
        folders, members = read_archive(reader, sources, password, name)
    except BaseException:
        reader.close()
        raise
    return OpenArchive(reader, folders, members)


def read_archive(reader: VolumeReader, sources: Sequence[VolumeSource], password: str | None,
                 archive: str) -> tuple[list[Folder], list[Member]]:
    """The archive's folders and entries. Tells a missing or wrong password from damage."""
    try:
        try:
            folders, members = read_layout(reader, password)
        except HeaderUnsupported:
            py7zr = _py7zr()
            try:
                with py7zr.SevenZipFile(reader, "r", password=password) as opened:
                    folders, members = layout(opened)
            except py7zr.PasswordRequired:
                raise HeaderEncrypted() from None
            except py7zr.Bad7zFile as exc:
                raise ValueError(str(exc)) from None
    except MissingVolume as exc:
        raise MissingVolume(exc.volume, f"volume {exc.volume} of {archive} is missing and holds the "
                            "archive's header, so nothing can be restored without it") from None
    except HeaderEncrypted:
        raise _encrypted(archive) from None
    except (lzma.LZMAError, EOFError, ValueError, KeyError, TypeError, InputUnreadable) as exc:
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
    if password is None and any(f.coders and bytes(f.coders[0]["method"]) == AES_ID for f in folders):
        raise _encrypted(archive)
    return folders, members


def _encrypted(archive: str) -> PasswordError:
    return PasswordError(f"{archive} is encrypted: set the archive password (archive.password_env) "
                         "and run the restore again")


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


def layout(archive: Any) -> tuple[list[Folder], list[Member]]:
    """Folders and entries from a header py7zr read (a ``py7zr.SevenZipFile``)."""
    header = archive.header
    folders: list[Folder] = []
    main = header.main_streams
    if main is not None:
        pack = main.packinfo
        pos = SIGNATURE_SIZE + pack.packpos
        pack_crcs = _pack_crcs(pack)
        for index, folder in enumerate(main.unpackinfo.folders):
            if len(folder.packed_indices) > 1:
                raise UsageError("this archive uses a multi-stream method (such as BCJ2) icefloe does not "
                                 "decode; extract it with 7-Zip (`7zz x`)")
            size = pack.packsizes[index]
            folders.append(Folder(index, pos, size, list(folder.coders), list(folder.unpacksizes),
                                  pack_crc=pack_crcs[index] if index < len(pack_crcs) else None))
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


def _pack_crcs(pack: Any) -> list[int | None]:
    """py7zr's pack info's CRCs, None where none is recorded."""
    if not pack.enable_digests:
        return []
    crcs = list(pack.crcs)
    return [crcs.pop(0) if ok else None for ok in pack.digestdefined]


class _Py7zrStream:
    """A folder whose chain :mod:`icefloe.restore.coders` leaves to py7zr (BCJ, Deflate, ...)."""

    def __init__(self, reader: VolumeReader, folder: Folder, password: str | None) -> None:
        self._py7zr = _py7zr()
        self._reader = reader
        try:
            self._decoder = self._py7zr.compressor.SevenZipDecompressor(
                folder.coders, folder.packsize, folder.unpacksizes, None, password, BLOCK)
        except self._py7zr.exceptions.UnsupportedCompressionMethodError as exc:
            raise UsageError(f"this archive uses a method icefloe does not decode ({exc}); extract it "
                             "with 7-Zip (`7zz x`)") from None

    def read(self, size: int) -> bytes:
        try:
            return self._decoder.decompress(self._reader, max_length=size)
        except self._py7zr.Bad7zFile as exc:
            raise ValueError(str(exc)) from None


def decode(reader: VolumeReader, folder: Folder, password: str | None) -> Iterator[tuple[Member, Iterator[bytes]]]:
    """Yield (member, chunks iterator) in order; a decoding failure raises from the iterator.

    Each member's chunks must be read to the end before the next member's."""
    reader.seek(folder.offset)
    stream = open_stream(reader, folder.coders, folder.packsize, folder.unpacksizes, password)
    if stream is None:
        stream = _Py7zrStream(reader, folder, password)
    pending: bytes | memoryview = b""  # decoded past the end of the member before

    def chunks(left: int) -> Iterator[bytes]:
        nonlocal pending
        while left > 0:
            data, pending = pending or stream.read(BLOCK), b""
            if not data:
                raise EOFError("the stored data ends early")
            if len(data) > left:
                view = memoryview(data)
                data, pending = view[:left], view[left:]
            left -= len(data)
            yield data  # type: ignore[misc]

    for member in folder.members:
        yield member, chunks(member.size)


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
