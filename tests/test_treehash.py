"""The tree hash agrees with botocore's reference implementation."""

from __future__ import annotations

import hashlib
import io
import random

import pytest
from botocore.utils import calculate_tree_hash

from icefloe.treehash import (
    MIB,
    TreeHasher,
    combine,
    file_tree_hash,
    leaf_hashes,
    tree_hash,
    tree_hash_of_part_hashes,
)

SIZES = [0, 1, MIB - 1, MIB, MIB + 1, 2 * MIB, 3 * MIB + 7, 5 * MIB, 7 * MIB - 3]


def reference(data: bytes) -> str:
    return calculate_tree_hash(io.BytesIO(data))


@pytest.fixture(scope="module")
def blob() -> bytes:
    return random.Random(7).randbytes(9 * MIB + 123)


@pytest.mark.parametrize("size", SIZES)
def test_tree_hash_matches_botocore(blob: bytes, size: int) -> None:
    data = blob[:size]
    assert tree_hash(data) == reference(data)


def test_random_sizes_match_botocore(blob: bytes) -> None:
    rng = random.Random(11)
    for _ in range(12):
        size = rng.randrange(0, len(blob))
        assert tree_hash(blob[:size]) == reference(blob[:size]), size


def test_leaf_hashes() -> None:
    assert leaf_hashes(b"") == [hashlib.sha256(b"").digest()]
    data = b"a" * MIB + b"b"
    assert leaf_hashes(data) == [
        hashlib.sha256(b"a" * MIB).digest(),
        hashlib.sha256(b"b").digest(),
    ]


def test_combine_promotes_the_odd_hash() -> None:
    a, b, c = (hashlib.sha256(x).digest() for x in (b"a", b"b", b"c"))
    ab = hashlib.sha256(a + b).digest()
    assert combine([a]) == a
    assert combine([a, b, c]) == hashlib.sha256(ab + c).digest()
    with pytest.raises(ValueError):
        combine([])


@pytest.mark.parametrize("chunk", [1, 1000, MIB - 1, MIB, MIB + 1, 3 * MIB])
def test_incremental_hasher_any_chunk_size(blob: bytes, chunk: int) -> None:
    data = blob[: 4 * MIB + 17] if chunk > 1 else blob[: MIB + 3]
    hasher = TreeHasher()
    for i in range(0, len(data), chunk):
        hasher.update(data[i : i + chunk])
    assert hasher.hexdigest() == reference(data)
    assert hasher.sha256_hexdigest() == hashlib.sha256(data).hexdigest()
    assert hasher.size == len(data)


def test_incremental_digest_is_repeatable(blob: bytes) -> None:
    hasher = TreeHasher()
    assert hasher.hexdigest() == reference(b"")
    hasher.update(blob[: 2 * MIB + 5])
    first = hasher.hexdigest()
    assert first == hasher.hexdigest() == reference(blob[: 2 * MIB + 5])
    hasher.update(memoryview(blob)[2 * MIB + 5 : 6 * MIB])
    assert hasher.hexdigest() == reference(blob[: 6 * MIB])


@pytest.mark.parametrize("part_mib", [1, 2, 4])
@pytest.mark.parametrize("size", [MIB, 3 * MIB + 7, 8 * MIB, 9 * MIB + 123])
def test_part_hashes_combine_to_the_whole(blob: bytes, part_mib: int, size: int) -> None:
    data = blob[:size]
    part = part_mib * MIB
    parts = [bytes.fromhex(tree_hash(data[i : i + part])) for i in range(0, size, part)]
    assert tree_hash_of_part_hashes(parts).hex() == reference(data)


def test_file_tree_hash_whole_and_ranges(tmp_path, blob: bytes) -> None:
    path = tmp_path / "blob"
    path.write_bytes(blob)
    assert file_tree_hash(path, bufsize=3 * MIB) == (
        reference(blob),
        hashlib.sha256(blob).hexdigest(),
    )
    for start, end in [(0, 0), (MIB, 3 * MIB), (2 * MIB, None), (5, MIB + 9)]:
        piece = blob[start:end]
        tree, sha = file_tree_hash(path, start, end, bufsize=MIB)
        assert (tree, sha) == (reference(piece), hashlib.sha256(piece).hexdigest())
    with pytest.raises(ValueError):
        file_tree_hash(path, 0, len(blob) + 1)
    with pytest.raises(ValueError):
        file_tree_hash(path, 10, 5)
