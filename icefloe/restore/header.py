"""Reading a 7z archive's header: its folders (where each is, how to decode it) and its entries.

The 7z format (7-Zip's DOC/7zFormat.txt): a 32-byte signature header points at the header at
the end of the archive, which is usually itself packed ("encoded header": one folder, LZMA2
or LZMA, with 7zAES when names are hidden). Reading it here instead of through py7zr saves
py7zr's import and its header parsing, a good part of restoring a small set. What this reader
does not know (an encoded header packed with LZMA, as 7-Zip packs it, or a property it has
never seen) raises :class:`~icefloe.errors.HeaderUnsupported`, and the caller reads the header
with py7zr instead.
Damage raises ValueError, EOFError or lzma.LZMAError, as py7zr's reader does.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from icefloe.restore.coders import AES_ID, open_stream
from icefloe.errors import HeaderEncrypted, HeaderUnsupported

SIGNATURE = b"7z\xbc\xaf\x27\x1c"
SIGNATURE_SIZE = 32
MAX_HEADER = 1 << 30  # a header larger than this is damage, not a real archive
FILETIME_EPOCH = 116_444_736_000_000_000  # 100 ns ticks from 1601-01-01 to 1970-01-01

(END, HEADER, ARCHIVE_PROPERTIES, ADDITIONAL_STREAMS, MAIN_STREAMS, FILES_INFO, PACK_INFO, UNPACK_INFO,
 SUBSTREAMS_INFO, SIZE, CRC, FOLDER, CODERS_UNPACK_SIZE, NUM_UNPACK_STREAM, EMPTY_STREAM, EMPTY_FILE, ANTI,
 NAME, CTIME, ATIME, MTIME, WIN_ATTRIBUTES, COMMENT, ENCODED_HEADER, START_POS, DUMMY) = range(26)


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
    crc: int | None = None  # of the whole output, when the header records it
    streams: int = 1  # entries stored in it
    pack_crc: int | None = None  # of the packed bytes, when the header records it (testzip checks it)


def filetime_ns(value: int | None) -> int | None:
    return None if value is None else (int(value) - FILETIME_EPOCH) * 100


class _Bytes(io.BytesIO):
    def byte(self) -> int:
        data = self.read(1)
        if not data:
            raise EOFError("the header ends early")
        return data[0]

    def exact(self, n: int) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise EOFError("the header ends early")
        return data

    def number(self) -> int:
        """7z's variable-length UINT64: the leading 1 bits of the first byte count extra bytes."""
        first = self.byte()
        mask, extra = 0x80, 0
        while extra < 8 and first & mask:
            mask >>= 1
            extra += 1
        low = int.from_bytes(self.exact(extra), "little")
        high = first & (mask - 1) if extra < 8 else 0
        return low | high << (8 * extra)

    def count(self, limit: int = 1 << 24) -> int:
        n = self.number()
        if n > limit:
            raise ValueError(f"the header claims {n} entries")
        return n

    def bits(self, n: int) -> list[bool]:
        data = self.exact((n + 7) // 8)
        return [bool(data[i >> 3] & 0x80 >> (i & 7)) for i in range(n)]

    def defined(self, n: int) -> list[bool]:
        return [True] * n if self.byte() else self.bits(n)

    def digests(self, n: int) -> list[int | None]:
        defined = self.defined(n)
        return [struct.unpack("<I", self.exact(4))[0] if d else None for d in defined]


def read_layout(fp: BinaryIO, password: str | None) -> tuple[list[Folder], list[Member]]:
    """The folders and entries of the archive ``fp`` (seekable, at any position)."""
    fp.seek(0)
    start = fp.read(SIGNATURE_SIZE)
    if len(start) != SIGNATURE_SIZE or start[:6] != SIGNATURE:
        raise ValueError("this is not a 7z archive (no 7z signature)")
    offset, size, crc = struct.unpack_from("<QQI", start, 12)
    if zlib.crc32(start[12:32]) != struct.unpack_from("<I", start, 8)[0]:
        raise ValueError("the archive's signature header is damaged")
    if size > MAX_HEADER:
        raise ValueError("the archive's header size is damaged")
    if size == 0 and offset == 0:
        return [], []  # an archive of nothing: 7-Zip writes no header at all
    fp.seek(SIGNATURE_SIZE + offset)
    data = fp.read(size)
    if len(data) != size:
        raise EOFError("the archive ends before its header")
    if zlib.crc32(data) != crc:
        raise ValueError("the archive's header does not match its CRC")
    buf = _Bytes(data)
    kind = buf.byte()
    for _ in range(4):  # an encoded header may (rarely) encode another
        if kind != ENCODED_HEADER:
            break
        folders = _streams(buf, with_files=False)
        if len(folders) != 1:
            raise HeaderUnsupported("an encoded header of several folders")
        buf = _Bytes(_decode_whole(fp, folders[0], password))
        kind = buf.byte()
    if kind != HEADER:
        raise ValueError("the archive's header is damaged (unknown header kind)")
    return _header(buf)


def _decode_whole(fp: BinaryIO, folder: Folder, password: str | None) -> bytes:
    if folder.coders and bytes(folder.coders[0]["method"]) == AES_ID and password is None:
        raise HeaderEncrypted()
    fp.seek(folder.offset)
    stream = open_stream(fp, folder.coders, folder.packsize, folder.unpacksizes, password)
    if stream is None:
        raise HeaderUnsupported("the header is packed with a method icefloe leaves to py7zr")
    want = folder.unpacksizes[-1]
    parts, got = [], 0
    while got < want:
        part = stream.read(want - got)
        if not part:
            raise EOFError("the packed header ends early")
        parts.append(bytes(part))  # a view the next read may reuse
        got += len(part)
    data = b"".join(parts)
    if folder.crc is not None and zlib.crc32(data) != folder.crc:
        raise ValueError("the archive's header does not match its CRC (damaged, or a wrong password)")
    return data


def _header(buf: _Bytes) -> tuple[list[Folder], list[Member]]:
    prop = buf.byte()
    if prop == ARCHIVE_PROPERTIES:
        raise HeaderUnsupported("archive properties")
    if prop == ADDITIONAL_STREAMS:
        raise HeaderUnsupported("additional streams")
    folders: list[Folder] = []
    sizes: list[int] = []
    crcs: list[int | None] = []
    if prop == MAIN_STREAMS:
        folders = _streams(buf, with_files=True, sizes=sizes, crcs=crcs)
        prop = buf.byte()
    members: list[Member] = []
    if prop == FILES_INFO:
        members = _files(buf, folders, sizes, crcs)
        prop = buf.byte()
    if prop != END:
        raise ValueError("the archive's header is damaged (no end)")
    return folders, members


def _streams(buf: _Bytes, *, with_files: bool, sizes: list[int] | None = None,
             crcs: list[int | None] | None = None) -> list[Folder]:
    """StreamsInfo: PackInfo, UnpackInfo (the folders) and SubStreamsInfo (entry sizes, CRCs)."""
    packpos, packsizes, folders = 0, [], []
    pack_crcs: list[int | None] = []
    prop = buf.byte()
    if prop == PACK_INFO:
        packpos, count = buf.number(), buf.count()
        prop = buf.byte()
        if prop == SIZE:
            packsizes = [buf.number() for _ in range(count)]
            prop = buf.byte()
        if prop == CRC:
            pack_crcs = buf.digests(count)
            prop = buf.byte()
        if prop != END:
            raise ValueError("the header's pack info is damaged")
        prop = buf.byte()
    if prop == UNPACK_INFO:
        folders = _folders(buf, packpos, packsizes)
        for folder, pack_crc in zip(folders, pack_crcs):
            folder.pack_crc = pack_crc
        prop = buf.byte()
    if prop == SUBSTREAMS_INFO:
        _substreams(buf, folders, sizes if sizes is not None else [], crcs if crcs is not None else [])
        prop = buf.byte()
    elif sizes is not None and crcs is not None:
        for folder in folders:
            sizes.append(folder.unpacksizes[-1])
            crcs.append(folder.crc)
    if prop != END:
        raise ValueError("the header's streams info is damaged")
    return folders


def _folders(buf: _Bytes, packpos: int, packsizes: list[int]) -> list[Folder]:
    if buf.byte() != FOLDER:
        raise ValueError("the header's folder list is damaged")
    count = buf.count()
    if buf.byte():
        raise HeaderUnsupported("folders stored outside the header")
    folders, pos = [], SIGNATURE_SIZE + packpos
    for index in range(count):
        coders, outs = [], 0
        for _ in range(buf.count(64)):
            flags = buf.byte()
            if flags & 0x10 or flags & 0xC0:
                raise HeaderUnsupported("a coder with several streams (such as BCJ2)")
            method = buf.exact(flags & 0x0F) or b"\x00"
            properties = buf.exact(buf.count()) if flags & 0x20 else None
            coders.append({"method": method, "numinstreams": 1, "numoutstreams": 1, "properties": properties})
            outs += 1
        bonds = [(buf.number(), buf.number()) for _ in range(outs - 1)]
        if bonds != [(i + 1, i) for i in range(outs - 1)]:
            # A chain (the only shape 7-Zip and py7zr write with one packed stream): the packed
            # bytes enter coder 0, and coder i + 1 reads what coder i puts out (py7zr's order).
            raise HeaderUnsupported("coders bound in an order icefloe does not decode")
        if index >= len(packsizes):
            raise ValueError("the header's pack sizes are damaged")
        folders.append(Folder(index, pos, packsizes[index], coders, []))
        pos += packsizes[index]
    if buf.byte() != CODERS_UNPACK_SIZE:
        raise ValueError("the header's unpack sizes are missing")
    for folder in folders:
        folder.unpacksizes = [buf.number() for _ in folder.coders]
    prop = buf.byte()
    if prop == CRC:
        for folder, crc in zip(folders, buf.digests(count), strict=True):
            folder.crc = crc
        prop = buf.byte()
    if prop != END:
        raise ValueError("the header's unpack info is damaged")
    return folders


def _substreams(buf: _Bytes, folders: list[Folder], sizes: list[int], crcs: list[int | None]) -> None:
    prop = buf.byte()
    if prop == NUM_UNPACK_STREAM:
        for folder in folders:
            folder.streams = buf.count()
        prop = buf.byte()
    for folder in folders:
        if not folder.streams:
            continue
        left = folder.unpacksizes[-1]
        for _ in range(folder.streams - 1):
            size = buf.number() if prop == SIZE else 0
            sizes.append(size)
            left -= size
        if left < 0:
            raise ValueError("the header's entry sizes are damaged")
        sizes.append(left)
    if prop == SIZE:
        prop = buf.byte()
    unknown = sum(f.streams for f in folders if not (f.streams == 1 and f.crc is not None))
    found = buf.digests(unknown) if prop == CRC else [None] * unknown
    if prop == CRC:
        prop = buf.byte()
    pick = iter(found)
    for folder in folders:
        if folder.streams == 1 and folder.crc is not None:
            crcs.append(folder.crc)
        else:
            crcs.extend(next(pick) for _ in range(folder.streams))
    if prop != END:
        raise ValueError("the header's substreams info is damaged")


def _files(buf: _Bytes, folders: list[Folder], sizes: list[int], crcs: list[int | None]) -> list[Member]:
    count = buf.count()
    empty = [False] * count
    names: list[str] = []
    mtimes: list[int | None] = [None] * count
    attributes: list[int | None] = [None] * count
    while (prop := buf.byte()) != END:
        size = buf.number()
        body = _Bytes(buf.exact(size))
        if prop == EMPTY_STREAM:
            empty = body.bits(count)
        elif prop == NAME:
            if body.byte():
                raise HeaderUnsupported("names stored outside the header")
            raw = body.read()
            names = [n.decode("utf-16-le") for n in _split_utf16(raw)]
        elif prop == MTIME:
            defined = body.defined(count)
            if body.byte():
                raise HeaderUnsupported("times stored outside the header")
            mtimes = [struct.unpack("<Q", body.exact(8))[0] if d else None for d in defined]
        elif prop == WIN_ATTRIBUTES:
            defined = body.defined(count)
            if body.byte():
                raise HeaderUnsupported("attributes stored outside the header")
            attributes = [struct.unpack("<I", body.exact(4))[0] if d else None for d in defined]
        elif prop not in (EMPTY_FILE, ANTI, CTIME, ATIME, START_POS, DUMMY, COMMENT) and prop < 0x19:
            raise HeaderUnsupported(f"file property {prop}")
    if len(names) != count:
        raise ValueError("the header's names are damaged")
    members: list[Member] = []
    streams = iter(zip(sizes, crcs, strict=True))
    slots = iter([f.index for f in folders for _ in range(f.streams)])
    for index in range(count):
        attr = attributes[index]
        folder = None
        size, crc = 0, None
        if not empty[index]:
            try:
                size, crc = next(streams)
                folder = next(slots)
            except StopIteration:
                raise ValueError("the header lists more files than its streams hold") from None
        member = Member(index, names[index], size, crc, attr, filetime_ns(mtimes[index]), folder,
                        bool(attr is not None and attr & 0x10))
        members.append(member)
        if folder is not None:
            folders[folder].members.append(member)
    return members


def _split_utf16(raw: bytes) -> list[bytes]:
    out, start = [], 0
    for i in range(0, len(raw) - 1, 2):
        if raw[i] == 0 and raw[i + 1] == 0:
            out.append(raw[start:i])
            start = i + 2
    return out
