"""The image writer: positioned writes hashed in one pass, out-of-order writes still right."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from icefloe.disc.stream import BLOCK, ZEROS, ImageWriter, Ranges, Worker
from icefloe.errors import ChecksumMismatch


def _writer(path: Path) -> tuple[ImageWriter, object]:
    handle = open(path, "w+b")  # noqa: SIM115 - closed by each test after finish()
    return ImageWriter(handle.fileno(), Worker("test-sha256")), handle


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_in_order_writes_hash_in_one_pass_and_zeros_become_holes(tmp_path: Path) -> None:
    path = tmp_path / "img"
    writer, handle = _writer(path)
    writer.seek(16 * 2048)
    writer.write(b"metadata")  # before streaming: not hashed yet
    writer.begin_streaming()
    writer.seek(BLOCK)
    writer.write(os.urandom(BLOCK))
    writer.write(ZEROS)  # past everything written: left as a hole
    writer.write(b"tail")
    digest = writer.finish()
    handle.close()
    assert writer.in_order
    assert path.stat().st_size == 3 * BLOCK + 4
    assert os.stat(path).st_blocks * 512 < 2 * BLOCK + 64 * 1024
    assert digest == _sha(path)


def test_a_write_behind_the_hashed_prefix_falls_back_to_hashing_the_file(tmp_path: Path) -> None:
    path = tmp_path / "img"
    writer, handle = _writer(path)
    writer.begin_streaming()
    writer.seek(4096)
    writer.write(b"b" * 4096)
    writer.seek(0)
    writer.write(b"a" * 4096)  # behind what was hashed
    writer.seek(0, 2)
    writer.write(ZEROS)
    digest = writer.finish()
    handle.close()
    assert not writer.in_order
    assert digest == _sha(path)


def test_zeros_over_written_bytes_are_written(tmp_path: Path) -> None:
    path = tmp_path / "img"
    writer, handle = _writer(path)
    writer.write(os.urandom(BLOCK))
    writer.seek(0)
    writer.write(ZEROS)  # must overwrite, not leave the old bytes
    digest = writer.finish()
    handle.close()
    assert path.read_bytes() == ZEROS and digest == hashlib.sha256(ZEROS).hexdigest()


def test_worker_errors_surface_in_the_callers_thread() -> None:
    worker = Worker("test")

    def fail() -> None:
        raise ChecksumMismatch("bad data")

    worker.submit(fail)
    with pytest.raises(ChecksumMismatch, match="bad data"):
        worker.close()
    worker.close(check=False)


def test_ranges_merge_and_overlap() -> None:
    ranges = Ranges()
    ranges.add(10, 20)
    ranges.add(30, 40)
    assert not ranges.overlaps(20, 30) and ranges.overlaps(15, 16) and ranges.overlaps(0, 11)
    ranges.add(20, 30)
    assert ranges._starts == [10] and ranges._ends == [40]
    assert not ranges.overlaps(40, 50) and not ranges.overlaps(0, 10)
