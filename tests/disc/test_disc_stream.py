"""The data pass: each file copied to its extent, the image and every file hashed on the way."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from disc_helpers import RecordingProgress, sha256_file

from icefloe.disc import build_image, plan_tree, verify_image
from icefloe.disc.entries import DiscEntry
from icefloe.disc.stream import BLOCK, MetadataWriter, copy_files
from icefloe.errors import ChecksumMismatch, FileChanged


def _source(path: Path, data: bytes) -> DiscEntry:
    path.write_bytes(data)
    return DiscEntry(path.name, size=len(data), source=path)


class InterruptAfter(RecordingProgress):
    """Progress that interrupts the work (as Ctrl-C or a kill would) past ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def on_progress(self, nbytes: int) -> None:
        super().on_progress(nbytes)
        if self.done > self.limit:
            raise KeyboardInterrupt


def _image_threads() -> list[str]:
    names = ("image-sha256", "file-sha256", "image-writeback")
    return [t.name for t in threading.enumerate() if t.name.startswith(names)]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_files_land_at_their_extents_between_metadata_and_everything_is_hashed(tmp_path: Path) -> None:
    big = os.urandom(2 * BLOCK + 12_345)  # more than one buffer, and a partial last one
    small = b"restore me\n"
    entries = [
        (4096, _source(tmp_path / "a.7z", big)),
        (4096 + 3 * BLOCK, DiscEntry("RESTORE.txt", size=len(small), data=small)),
    ]
    size = 4096 + 3 * BLOCK + 2048 + 8192  # padding and trailing holes
    image = tmp_path / "img"
    with open(image, "w+b") as handle:
        meta = MetadataWriter(handle.fileno())
        meta.seek(16)
        meta.write(b"descriptors")
        meta.seek(4096 + 3 * BLOCK + 2048)
        meta.write(b"anchor")
        done: list[int] = []
        image_sha, shas = copy_files(handle.fileno(), entries, size, done.append)
    data = image.read_bytes()
    assert len(data) == size and sum(done) == len(big) + len(small)
    assert data[16:27] == b"descriptors" and data[4096 + 3 * BLOCK + 2048:][:6] == b"anchor"
    assert data[4096 : 4096 + len(big)] == big
    assert data[4096 + 3 * BLOCK :][: len(small)] == small
    assert image_sha == hashlib.sha256(data).hexdigest()
    assert shas == [hashlib.sha256(big).hexdigest(), hashlib.sha256(small).hexdigest()]


def test_zero_blocks_of_a_sparse_source_stay_holes(tmp_path: Path) -> None:
    sparse = tmp_path / "video.mov"
    with open(sparse, "wb") as handle:
        handle.truncate(8 * BLOCK)
        handle.seek(5 * BLOCK)
        handle.write(b"frame")
    entry = DiscEntry("video.mov", size=8 * BLOCK, source=sparse)
    image = tmp_path / "img"
    with open(image, "w+b") as handle:
        image_sha, (file_sha,) = copy_files(handle.fileno(), [(0, entry)], 8 * BLOCK)
    assert image.read_bytes() == sparse.read_bytes()
    assert os.stat(image).st_blocks * 512 <= 2 * BLOCK
    assert image_sha == file_sha == sha256_file(sparse)


def test_a_source_that_differs_from_its_record_is_refused(tmp_path: Path) -> None:
    entry = _source(tmp_path / "a.7z", b"what the archive holds now")
    recorded = DiscEntry(entry.path, size=entry.size, source=entry.source, sha256="0" * 64)
    with open(tmp_path / "img", "w+b") as handle, pytest.raises(ChecksumMismatch, match="a.7z"):
        copy_files(handle.fileno(), [(0, recorded)], 2048)
    assert _image_threads() == []


def test_a_source_that_grows_while_it_is_copied_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.7z"
    entry = _source(path, os.urandom(3 * BLOCK))

    def grow(nbytes: int) -> None:
        with open(path, "ab") as handle:
            handle.write(b"more")

    with open(tmp_path / "img", "w+b") as handle, pytest.raises(FileChanged, match="a.7z"):
        copy_files(handle.fileno(), [(0, entry)], 4 * BLOCK, grow)
    assert _image_threads() == []


def test_a_build_interrupted_midway_leaves_nothing_open_and_the_rerun_is_whole(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(6):
        (root / f"IMG_{i}.jpg").write_bytes(os.urandom(BLOCK + i * 1000))
    plan = plan_tree(root, "dvd+r")
    out = tmp_path / "out" / "photos.iso"
    fds = _open_fds()
    progress = InterruptAfter(3 * BLOCK)  # the kill, halfway through the data
    with pytest.raises(KeyboardInterrupt):
        build_image(plan, out, progress=progress)
    assert 3 * BLOCK < progress.done < plan.data_bytes
    assert list(out.parent.iterdir()) == []  # no partial image, no sidecar
    assert _image_threads() == [] and _open_fds() == fds  # no thread, source or image left open
    info = build_image(plan, out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["photos.iso", "photos.iso.json"]
    assert sha256_file(out) == info.sha256
    assert info.checksums == {f"IMG_{i}.jpg": sha256_file(root / f"IMG_{i}.jpg") for i in range(6)}
    verify_image(out, info.checksums)
    assert _image_threads() == [] and _open_fds() == fds



def test_a_verify_interrupted_midway_leaves_nothing_open_and_the_rerun_passes(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(5):
        (root / f"IMG_{i}.jpg").write_bytes(os.urandom(BLOCK + i * 777))
    (root / "empty.txt").write_bytes(b"")
    info = build_image(plan_tree(root, "dvd+r"), tmp_path / "photos.iso")
    fds = _open_fds()
    with pytest.raises(KeyboardInterrupt):
        verify_image(info.path, info.checksums, progress=InterruptAfter(2 * BLOCK))
    assert _open_fds() == fds
    assert not [t for t in threading.enumerate() if t.name.startswith("verify-sha256")]
    verify_image(info.path, info.checksums)  # the rerun reads every file, all match
    wrong = dict(info.checksums, **{"IMG_3.jpg": info.checksums["IMG_2.jpg"]})
    with pytest.raises(ChecksumMismatch, match="IMG_3.jpg"):
        verify_image(info.path, wrong)
