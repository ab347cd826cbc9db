"""The data pass: the image written front to back, hashed on the way with every unrecorded file."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
from pathlib import Path

import pytest
from disc_helpers import RecordingProgress, sha256_file

from icefloe.disc import build_image, plan_tree, verify_image
from icefloe.disc.entries import DiscEntry
import icefloe.disc.stream as stream
from icefloe.disc.stream import BLOCK, MetadataWriter, write_image
from icefloe.errors import ChecksumMismatch, FileChanged, InputUnreadable


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
    names = ("image-sha256", "file-sha256", "image-write")
    return [t.name for t in threading.enumerate() if t.name.startswith(names)]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("direct", [True, False], ids=["o-direct", "page-cache"])
def test_files_land_at_their_extents_between_metadata_and_everything_is_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    if not direct:  # as on a file system that refuses O_DIRECT
        monkeypatch.setattr(stream, "_set_direct", lambda fd, on: False)
    big = os.urandom(2 * BLOCK + 12_345)  # more than one buffer, and a partial last one
    small = b"restore me\n"
    entries = [
        (4096, _source(tmp_path / "a.7z", big)),
        (4096 + 3 * BLOCK, DiscEntry("RESTORE.txt", size=len(small), data=small)),
    ]
    size = 4096 + 3 * BLOCK + 2048 + 8192  # padding and trailing holes; not whole 4 KiB blocks
    image = tmp_path / "img"
    meta = MetadataWriter()
    meta.seek(16)
    meta.write(b"descri")
    meta.write(b"ptors")
    meta.seek(4096 + 3 * BLOCK + 2048)
    meta.write(b"anchor")
    assert meta.pieces() == [(16, b"descriptors"), (4096 + 3 * BLOCK + 2048, b"anchor")]
    with open(image, "w+b") as handle:
        done: list[int] = []
        image_sha, shas = write_image(handle.fileno(), size, meta.pieces(), entries, done.append)
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
        image_sha, (file_sha,) = write_image(handle.fileno(), 8 * BLOCK, [], [(0, entry)])
    assert image.read_bytes() == sparse.read_bytes()
    assert os.stat(image).st_blocks * 512 <= 2 * BLOCK
    assert image_sha == file_sha == sha256_file(sparse)


def test_a_recorded_checksum_is_taken_not_computed_again(tmp_path: Path) -> None:
    data = b"what the archive holds now"
    entry = _source(tmp_path / "a.7z", data)
    recorded = DiscEntry(entry.path, size=entry.size, source=entry.source, sha256="0" * 64)
    image = tmp_path / "img"
    with open(image, "w+b") as handle:
        image_sha, shas = write_image(handle.fileno(), 2048, [], [(0, recorded), (1024, entry)])
    assert shas == ["0" * 64, hashlib.sha256(data).hexdigest()]  # the record; the data's
    assert image.read_bytes() == data + bytes(1024 - len(data)) + data + bytes(1024 - len(data))
    assert image_sha == sha256_file(image)  # the image's own is always computed
    assert _image_threads() == []


def test_metadata_written_twice_or_over_a_file_is_refused(tmp_path: Path) -> None:
    meta = MetadataWriter()
    meta.write(b"x" * 100)
    meta.seek(50)
    meta.write(b"y")
    with pytest.raises(RuntimeError, match="twice"):
        meta.pieces()
    entry = _source(tmp_path / "a.7z", b"data")
    with open(tmp_path / "img", "w+b") as handle, pytest.raises(InputUnreadable, match="overlaps"):
        write_image(handle.fileno(), 4096, [(2048, b"record")], [(0, entry), (2050, entry)])
    assert _image_threads() == []


def test_a_direct_write_refused_midway_goes_on_through_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = _source(tmp_path / "a.7z", os.urandom(3 * BLOCK + 5000))
    real, calls = stream.pwrite_all, []

    def refuse_the_second(fd: int, data: object, offset: int) -> None:
        calls.append(offset)
        if len(calls) == 2:
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd, data, offset)

    monkeypatch.setattr(stream, "pwrite_all", refuse_the_second)
    image = tmp_path / "img"
    with open(image, "w+b") as handle:
        image_sha, (file_sha,) = write_image(handle.fileno(), 4 * BLOCK, [], [(0, entry)])
        assert not fcntl.fcntl(handle.fileno(), fcntl.F_GETFL) & stream.O_DIRECT  # put back
    assert calls == [0, BLOCK, BLOCK, 2 * BLOCK, 3 * BLOCK]  # the refused block again
    assert image.read_bytes()[: entry.size] == entry.source.read_bytes()  # type: ignore[union-attr]
    assert image_sha == sha256_file(image) and file_sha == sha256_file(entry.source)  # type: ignore[arg-type]


def test_a_source_that_grows_while_it_is_copied_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.7z"
    entry = _source(path, os.urandom(3 * BLOCK))

    def grow(nbytes: int) -> None:
        with open(path, "ab") as handle:
            handle.write(b"more")

    with open(tmp_path / "img", "w+b") as handle, pytest.raises(FileChanged, match="a.7z"):
        write_image(handle.fileno(), 4 * BLOCK, [], [(0, entry)], grow)
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
