"""The pieces under consolidation: volume streams, the scan and its classification, the manifest."""

from __future__ import annotations

import io
import json
import os
import random
from pathlib import Path

import pytest

from archive_helpers import make_partition
from icefloe import manifest as mf
from icefloe.archive import classify, scan_partition, volume_paths
from icefloe.archive.scan import COPY, LZMA2
from icefloe.archive.volumes import StreamWriter
from icefloe.errors import InputUnreadable, MissingVolume, UsageError
from icefloe.volumestream import VolumeReader, VolumeSource, file_sources


def test_stream_writer_splits_at_exact_boundaries_from_several_writers(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(10_000)
    # two writers fill disjoint ranges, out of order, as worker processes do
    second = StreamWriter(tmp_path, "a.7z", 1000, start=4321)
    second.write(data[4321:])
    second.close()
    first = StreamWriter(tmp_path, "a.7z", 1000)
    for i in range(0, 4321, 777):
        first.write(data[i:min(i + 777, 4321)])
    first.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"a.7z.{i:03d}" for i in range(1, 11)]
    assert all((tmp_path / n).stat().st_size == 1000 for n in names)
    with VolumeReader(file_sources([tmp_path / n for n in names])) as reader:
        assert reader.read() == data
        reader.seek(995)
        assert reader.read(10) == data[995:1005]
        assert reader.seek(-3, os.SEEK_END) == 9997 and reader.read() == data[-3:]
    assert volume_paths(tmp_path / "a.7z.004") == [tmp_path / n for n in names]


def test_stream_writer_copy_from_crosses_volumes(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 20)
    out = StreamWriter(tmp_path, "b.7z", 1024, start=1000)
    assert out.copy_from(src) == 5120 and out.tell() == 6120
    out.seek(0)
    out.write(b"x" * 1000)
    out.close()
    with VolumeReader(file_sources(sorted(tmp_path.glob("b.7z.*")))) as reader:
        assert reader.read() == b"x" * 1000 + src.read_bytes()


def test_one_reader_for_files_other_handles_and_holes(tmp_path: Path) -> None:
    """Plain files, handles without a file descriptor (as inside an ISO image) and a missing
    volume, read as one stream: the hole raises MissingVolume naming it, the rest reads."""
    data = random.Random(2).randbytes(3000)
    (tmp_path / "c.7z.001").write_bytes(data[:1000])
    sources = [
        *file_sources([tmp_path / "c.7z.001"]),
        VolumeSource("c.7z.002", 1000, None, None, "c.7z.002"),  # missing, of known size
        VolumeSource("c.7z.003", 1000, None, lambda: io.BytesIO(data[2000:]), "disc.iso:/c.7z.003"),
    ]
    with VolumeReader(sources) as reader:
        assert reader.read(1000) == data[:1000]
        with pytest.raises(MissingVolume) as missing:
            reader.read(10)
        assert missing.value.volume == "c.7z.002"
        assert reader.seek(-5, os.SEEK_END) == 2995 and reader.read() == data[-5:]
        reader.seek(2100)
        assert reader.read(50) == data[2100:2150] and reader.tell() == 2150
        with pytest.raises(ValueError):
            reader.seek(-1)
    with pytest.raises(MissingVolume, match="size is unknown"):
        VolumeReader([VolumeSource("c.7z.001", None)])
    short = [VolumeSource("c.7z.001", 2000, None, lambda: open(tmp_path / "c.7z.001", "rb"), "c.7z.001")]
    with VolumeReader(short) as reader, pytest.raises(InputUnreadable, match="shorter than expected"):
        reader.read()


def test_classify_by_extension_then_by_sample(tmp_path: Path) -> None:
    rnd = random.Random(3)
    noise, words = rnd.randbytes(200_000), b"the quick brown fox " * 10_000
    cases = {"a.JPG": noise, "b.heic": words, "c.bin": noise, "d.dat": words, "e.noext": noise, "tiny": b"x"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    got = {n: classify(tmp_path / n, len(d)) for n, d in cases.items()}
    # by name even when the content would compress; by sample otherwise
    assert got == {"a.JPG": COPY, "b.heic": COPY, "c.bin": COPY, "d.dat": LZMA2, "e.noext": COPY, "tiny": LZMA2}
    assert classify(tmp_path / "a.JPG", 1, "lzma2") == LZMA2 and classify(tmp_path / "d.dat", 1, "copy") == COPY


def test_scan_keeps_shapes_skips_partition_files_and_never_follows_links(tmp_path: Path) -> None:
    part = make_partition(tmp_path / "p")
    entries = {e.path: e for e in scan_partition(part)}
    assert ".icefloe-partition" not in entries and not any(p.startswith(".icefloe-trash") for p in entries)
    assert entries["link-to-folder"].kind == "symlink" and entries["link-to-folder"].target == "Photos"
    assert not any(p.startswith("link-to-folder/") for p in entries)
    assert entries["dangling-absolute"].target == "/nonexistent/elsewhere"
    assert entries["Documents/empty folder"].kind == "dir"
    assert entries["Documents/empty.txt"].size == 0
    deepest = max(entries, key=lambda p: p.count("/"))
    assert deepest.count("/") == 40 and deepest.endswith("bottom.txt")
    order = [e.path for e in scan_partition(part)]
    assert order.index("Documents") < order.index("Documents/notes.txt")
    # a trash folder deeper down is ordinary data
    (part / "Documents" / ".icefloe-trash").mkdir()
    (part / "Documents" / ".icefloe-trash" / "kept.txt").write_text("x")
    assert "Documents/.icefloe-trash/kept.txt" in {e.path for e in scan_partition(part)}


def item(path: str, kind: str = "file", **kw) -> mf.Item:
    return mf.Item(path, kind, kw.pop("size", 3), kw.pop("mtime_ns", 5), **kw)


def test_manifest_round_trip_and_size_bound() -> None:
    items = (
        item("a/ü b.txt", sha256="ab" * 32),
        item("a", "dir", size=0),
        item("l", "symlink", size=3, target="a/x"),
        item('quote"d\n', sha256="cd" * 32),
    )
    doc = mf.Manifest("s-1", "photos-a", "2024-05-01T12:30:00Z", "s-1.7z", True, "auto", None, items)
    doc = doc.with_volumes([mf.Volume("s-1.7z", 123, "ef" * 32)])
    data = doc.dumps()
    parsed = json.loads(data)
    assert parsed["version"] == mf.VERSION and parsed["format"] == "icefloe-manifest"
    assert parsed["totals"] == {"files": 2, "dirs": 1, "symlinks": 1, "bytes": 6}
    assert len(data.decode().splitlines()) > len(items)  # one entry per line
    assert mf.loads(data) == doc
    assert mf.size_bound(i if i.kind != "file" else mf.Item(i.path, i.kind, i.size, i.mtime_ns) for i in items) >= len(data)
    assert [e.path for e in doc.catalog_entries()] == [i.path for i in items]


@pytest.mark.parametrize(
    "text, needle",
    [
        ("{}", "not an icefloe manifest"),
        ('{"format": "icefloe-manifest", "version": 99}', "version 99"),
        ("not json", "not a readable icefloe manifest"),
    ],
)
def test_manifest_refuses_what_it_cannot_read(text: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        mf.loads(text)


def test_volume_plan_follows_the_disc_type() -> None:
    from icefloe.archive import VolumePlan, volume_plan
    from icefloe.config import ArchiveConfig
    from icefloe.disc import DISC_CAPACITY, volume_size_for
    from icefloe.errors import ConfigInvalid

    size, capacity = volume_plan(ArchiveConfig(disc="dvd+r"))
    assert isinstance(size, VolumePlan) and capacity is None
    assert size(5_000_000) == volume_size_for("dvd+r", 5_000_000) < DISC_CAPACITY["dvd+r"] - 5_000_000
    fixed, _ = volume_plan(ArchiveConfig(disc="bd-r", volume_size_mib=1000))
    assert fixed(10**6) == 1000 * 2**20
    too_big, _ = volume_plan(ArchiveConfig(disc="dvd+r", volume_size_mib=5000))
    with pytest.raises(ConfigInvalid, match=r"volume_size_mib = 5000 does not fit a dvd\+r"):
        too_big(10**6)
    assert volume_plan(ArchiveConfig(disc="dvd+r"), split=False) == (None, DISC_CAPACITY["dvd+r"])
    assert volume_plan(ArchiveConfig(disc="none")) == (None, None)
    assert volume_plan(ArchiveConfig(disc="none", volume_size_mib=64)) == (64 * 2**20, None)
