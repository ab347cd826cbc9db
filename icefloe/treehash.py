"""SHA-256 tree hash, as Amazon Glacier defines it.

The data is cut into 1 MiB chunks (the last one may be shorter). Each chunk's SHA-256 is a
leaf. Adjacent leaves are concatenated pairwise and hashed, level by level, until one
digest is left; a hash without a partner moves up a level unchanged. Empty input hashes to
``sha256(b"")``. Reference: https://docs.aws.amazon.com/amazonglacier/latest/dev/checksum-calculations.html
and ``botocore.utils.calculate_tree_hash``.

Why part hashes combine into the archive's hash (:func:`tree_hash_of_part_hashes`): the
tree pairs leaves (0,1), (2,3), ... then nodes built from aligned groups of 4, 8, ...
leaves, so pairing never crosses a boundary that is a multiple of 2^n leaves. A part of
2^n MiB that starts at a multiple of its own size is therefore one complete subtree, and its
tree hash is the archive tree's node at level n. A shorter last part is the tail of that
level: every part before it contributes an even number of nodes at each level below n, so
the tail's nodes are paired and promoted exactly as they are in the part's own tree. The
level-n nodes are then combined by the same rule, which is what :func:`combine` does with
the part hashes.

Memory: :class:`TreeHasher` holds at most one partial MiB plus one digest per tree level
(log2 of the leaf count), whatever the data size.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

MIB = 1024 * 1024
DEFAULT_BUFSIZE = 8 * MIB

_EMPTY = hashlib.sha256(b"").digest()

Buffer = bytes | bytearray | memoryview


def leaf_hashes(data: Buffer) -> list[bytes]:
    """SHA-256 digests of each 1 MiB chunk of ``data``; ``[sha256(b"")]`` for empty input."""
    view = memoryview(data).cast("B")
    if not len(view):
        return [_EMPTY]
    return [hashlib.sha256(view[i : i + MIB]).digest() for i in range(0, len(view), MIB)]


def combine(hashes: Sequence[bytes]) -> bytes:
    """Combine digests pairwise, level by level, into the root digest."""
    if not hashes:
        raise ValueError("combine() needs at least one digest")
    level = list(hashes)
    while len(level) > 1:
        paired = [
            hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def tree_hash(data: Buffer) -> str:
    """Hex tree hash of ``data``."""
    return combine(leaf_hashes(data)).hex()


def tree_hash_of_part_hashes(part_tree_hashes: Sequence[bytes]) -> bytes:
    """The archive's tree hash from its parts' tree hashes.

    Valid when every part has the same size of 1 MiB x 2^n and starts at a multiple of it,
    and only the last part is shorter: the rule multipart uploads follow. The module
    docstring explains why.
    """
    return combine(part_tree_hashes)


class TreeHasher:
    """Incremental tree hash, plus a plain SHA-256 of the same bytes in the same pass.

    ``update`` accepts chunks of any size; a partial MiB is buffered until it fills.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (level, digest), levels strictly decreasing
        self._partial = bytearray()
        self._sha = hashlib.sha256()
        self._size = 0

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    def update(self, data: Buffer) -> None:
        view = memoryview(data).cast("B")
        self._sha.update(view)
        self._size += len(view)
        pos = 0
        if self._partial:
            take = min(MIB - len(self._partial), len(view))
            self._partial += view[:take]
            pos = take
            if len(self._partial) < MIB:
                return
            self._push(hashlib.sha256(self._partial).digest())
            self._partial.clear()
        while len(view) - pos >= MIB:
            self._push(hashlib.sha256(view[pos : pos + MIB]).digest())
            pos += MIB
        if pos < len(view):
            self._partial += view[pos:]

    def _push(self, digest: bytes) -> None:
        level = 0
        # A binary counter: two subtrees of the same height merge into one a level up.
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            digest = hashlib.sha256(left + digest).digest()
            level += 1
        self._stack.append((level, digest))

    def digest(self) -> bytes:
        """The tree hash of everything fed so far. The hasher stays usable."""
        nodes = [d for _, d in self._stack]
        if self._partial:
            nodes.append(hashlib.sha256(self._partial).digest())
        if not nodes:
            return _EMPTY
        # Subtrees left on the stack are complete and shrink to the right; a promoted odd
        # node is carried up unchanged, so folding from the right gives the root.
        acc = nodes[-1]
        for left in reversed(nodes[:-1]):
            acc = hashlib.sha256(left + acc).digest()
        return acc

    def hexdigest(self) -> str:
        return self.digest().hex()

    def sha256_hexdigest(self) -> str:
        """Plain SHA-256 of everything fed so far."""
        return self._sha.hexdigest()


def file_tree_hash(
    path: str | os.PathLike[str],
    start: int = 0,
    end: int | None = None,
    bufsize: int = DEFAULT_BUFSIZE,
) -> tuple[str, str]:
    """``(tree_hash_hex, sha256_hex)`` of the bytes ``[start, end)`` of a file.

    ``end=None`` means the end of the file. Reads ``bufsize`` bytes at a time (rounded up
    to whole MiB so no leaf is copied), so memory stays bounded. Raises ``ValueError`` if
    the file ends before ``end``.
    """
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range [{start}, {end})")
    bufsize = max(MIB, -(-bufsize // MIB) * MIB)
    hasher = TreeHasher()
    buf = bytearray(bufsize)
    view = memoryview(buf)
    with Path(path).open("rb", buffering=0) as f:
        f.seek(start)
        remaining = None if end is None else end - start
        while remaining is None or remaining > 0:
            want = bufsize if remaining is None else min(bufsize, remaining)
            got = f.readinto(view[:want])
            if not got:
                break
            hasher.update(view[:got])
            if remaining is not None:
                remaining -= got
    if remaining:
        raise ValueError(f"{path} ends before byte {end}")
    return hasher.hexdigest(), hasher.sha256_hexdigest()
