"""The 7z coders a restore decodes itself: 7zAES, then Copy, LZMA2 or LZMA.

Every folder icefloe writes is one of these chains (docs/archive.md), and so are most folders
7-Zip writes. py7zr decodes them too, but slowly: it derives the 7zAES key in pure Python
(about 0.4 s of one core per folder here, the same key each time) and decrypts with a
pycryptodomex build that lacks AES-NI (about 0.2 GB/s). Here the key is derived once per
password and salt (:func:`derive_key`, the same bytes as py7zr's), AES-256-CBC runs through
OpenSSL (``cryptography``, several GB/s) into reused buffers, and LZMA2 and LZMA (7-Zip packs
its headers with it) through the standard ``lzma`` module. Both release the GIL, so two folders
decode on two cores at once. Any other chain (BCJ, Deflate, ...) is left to py7zr
(:func:`open_stream` says which).
"""

from __future__ import annotations

import hashlib
import lzma
import threading
from collections.abc import Sequence
from typing import Any, BinaryIO, Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

AES_ID = b"\x06\xf1\x07\x01"  # 7zAES: AES-256-CBC, key from SHA-256 iterated 2^cycles times
COPY_ID = b"\x00"
LZMA2_ID = b"\x21"
LZMA_ID = b"\x03\x01\x01"
AES_BLOCK = 16
MAX_CYCLES = 24  # 2^24 rounds; what 7-Zip and py7zr accept
READ_SIZE = 1 << 20  # packed bytes read at a time: memory per folder is about 3 x this

MAX_KEYS = 64  # derived keys remembered (one per password and salt)

_keys: dict[tuple[bytes, bytes, int], bytes] = {}
_keys_lock = threading.Lock()
_LOW_BYTES = [bytes([b]) for b in range(256)]


class Stream(Protocol):
    # The next bytes, about ``size`` of them; b"" at the end. They may be a view of a buffer
    # the next read reuses: use them (write, hash, decompress) or copy them before reading on.
    def read(self, size: int) -> bytes | memoryview: ...


def derive_key(secret: bytes, salt: bytes, cycles: int) -> bytes:
    """The 7zAES key for ``secret`` (the UTF-16LE password): SHA-256 over salt + secret + the
    8-byte round number, for every round; remembered for the process, so a set's folders
    (which share the password and, as icefloe writes them, the empty salt) derive it once."""
    if cycles > MAX_CYCLES and cycles != 0x3F:
        raise ValueError(f"7zAES key cycles {cycles} is beyond what 7-Zip writes")
    cache_key = (bytes(secret), bytes(salt), cycles)
    with _keys_lock:
        key = _keys.get(cache_key)
    if key is None:
        key = _derive(*cache_key)
        with _keys_lock:
            if len(_keys) >= MAX_KEYS:
                _keys.clear()
            _keys[cache_key] = key
    return key


def py7zr_calculate_key(password: bytes, cycles: int, salt: bytes, digest: str) -> bytes:
    """``py7zr.helpers.calculate_key`` with :func:`derive_key`'s speed (same arguments, same bytes)."""
    if digest != "sha256":
        raise ValueError(f"7zAES uses SHA-256, not {digest}")
    return derive_key(password, salt, cycles)


def _derive(secret: bytes, salt: bytes, cycles: int) -> bytes:
    prefix = salt + secret
    if cycles == 0x3F:  # "no hashing": the key is the bytes themselves, zero-padded
        return (prefix + bytes(32))[:32]
    digest = hashlib.sha256()
    rounds = 1 << cycles
    if rounds < 256:
        for i in range(rounds):
            digest.update(prefix + i.to_bytes(8, "little"))
        return digest.digest()
    # 256 rounds at a time: prefix + lo + HIGH + prefix + lo + HIGH ..., the low byte of the
    # round number running 0..255 and its upper seven bytes (HIGH) fixed, is one join.
    for high in range(rounds >> 8):
        tail = high.to_bytes(7, "little")
        digest.update(prefix + (tail + prefix).join(_LOW_BYTES) + tail)
    return digest.digest()


def aes_parameters(properties: bytes) -> tuple[bytes, bytes, int]:
    """(salt, iv padded to 16 bytes, cycles) from a 7zAES coder's properties."""
    if not properties:
        raise ValueError("the 7zAES coder has no properties")
    first = properties[0]
    cycles = first & 0x3F
    if not first & 0xC0:
        return b"", bytes(AES_BLOCK), cycles
    second = properties[1]
    salt_size = (first >> 7 & 1) + (second >> 4)
    iv_size = (first >> 6 & 1) + (second & 0x0F)
    if len(properties) != 2 + salt_size + iv_size:
        raise ValueError("the 7zAES coder's properties are damaged")
    salt = properties[2:2 + salt_size]
    iv = properties[2 + salt_size:] + bytes(AES_BLOCK - iv_size)
    return salt, iv, cycles


def lzma2_dict_size(properties: bytes | None) -> int:
    """The dictionary size the LZMA2 coder's one property byte encodes."""
    if not properties or properties[0] > 40:
        raise ValueError("the LZMA2 coder's properties are damaged")
    if properties[0] == 40:
        return 0xFFFF_FFFF
    return (2 | properties[0] & 1) << (properties[0] // 2 + 11)


class _Packed:
    """A folder's packed bytes, decrypted when the chain starts with 7zAES."""

    def __init__(self, fp: BinaryIO, packsize: int, size: int, aes: Any | None) -> None:
        self._fp, self._packed_left, self._left = fp, packsize, size
        self._aes = aes
        if aes is not None:
            self._in = bytearray(READ_SIZE)
            self._out = bytearray(READ_SIZE + AES_BLOCK)

    def read(self, size: int) -> bytes | memoryview:
        """About ``size`` bytes of the first coder's output (whole AES blocks); b"" at its end.
        Decrypted bytes are a view of the output buffer, valid until the next read (no copy)."""
        if self._left <= 0:
            return b""
        if self._aes is None:
            data = self._fp.read(min(size, self._left, READ_SIZE))
            used = len(data)
        else:
            used = min(-(-size // AES_BLOCK) * AES_BLOCK, READ_SIZE, self._packed_left)
            if used % AES_BLOCK:
                raise ValueError("the encrypted stream is not a whole number of AES blocks")
            view = memoryview(self._in)[:used]
            if self._fp.readinto(view) != used:
                raise EOFError("the stored data ends early")
            self._aes.update_into(view, self._out)
            data = memoryview(self._out)[:min(used, self._left)]
        if not data:
            raise EOFError("the stored data ends early")
        self._packed_left -= used
        self._left -= len(data)
        return data


def lzma_filter(method: bytes, properties: bytes | None) -> dict[str, int]:
    """The ``lzma`` module's raw filter for an LZMA2 or LZMA coder and its properties."""
    if method == LZMA2_ID:
        return {"id": lzma.FILTER_LZMA2, "dict_size": lzma2_dict_size(properties)}
    if not properties or len(properties) != 5 or properties[0] >= 9 * 5 * 5:
        raise ValueError("the LZMA coder's properties are damaged")
    pb, rest = divmod(properties[0], 9 * 5)
    lp, lc = divmod(rest, 9)
    return {"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb,
            "dict_size": int.from_bytes(properties[1:5], "little")}


class _Lzma:
    def __init__(self, source: _Packed, lzma_filter: dict[str, int], size: int) -> None:
        self._source, self._left = source, size
        self._lz = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma_filter])

    def read(self, size: int) -> bytes:
        if self._left <= 0:
            return b""
        size = min(size, self._left)
        while True:
            if self._lz.eof:
                raise EOFError("the compressed stream ends before its files do")
            data = self._source.read(READ_SIZE) if self._lz.needs_input else b""
            if self._lz.needs_input and not data:
                raise EOFError("the stored data ends early")
            out = self._lz.decompress(data, size)
            if out:
                self._left -= len(out)
                return out


def open_stream(fp: BinaryIO, coders: Sequence[dict], packsize: int, unpacksizes: Sequence[int],
                password: str | None) -> Stream | None:
    """The folder's output as a stream, if its chain is one of ours; None: leave it to py7zr.

    ``fp`` is positioned at the folder's packed bytes. ``coders`` are in py7zr's order (the
    packed bytes go through the first one first); a password is required for 7zAES.
    """
    if any(c.get("numinstreams", 1) != 1 or c.get("numoutstreams", 1) != 1 for c in coders):
        return None
    methods = [bytes(c["method"]) for c in coders]
    aes = None
    if methods and methods[0] == AES_ID:
        if password is None:
            return None  # py7zr raises the PasswordRequired the caller expects
        salt, iv, cycles = aes_parameters(coders[0].get("properties") or b"")
        key = derive_key(password.encode("utf-16-le"), salt, cycles)
        aes = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        methods, coders, sizes = methods[1:], coders[1:], list(unpacksizes[1:])
        first = unpacksizes[0]
    else:
        sizes, first = list(unpacksizes), packsize
    if methods == [COPY_ID]:
        if first < sizes[0]:
            raise ValueError("the folder's sizes are damaged")
        return _Packed(fp, packsize, sizes[0], aes)
    if methods in ([LZMA2_ID], [LZMA_ID]):
        return _Lzma(_Packed(fp, packsize, first, aes), lzma_filter(methods[0], coders[0].get("properties")), sizes[0])
    if not methods and aes is not None:
        return _Packed(fp, packsize, first, aes)
    return None
