"""Consolidation round trips: what icefloe writes, stock 7-Zip tests and restores byte for byte."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import py7zr
import pytest

from archive_helpers import LONG_NAME, META_NAME, assert_same_tree, sevenzip
from icefloe import manifest as mf
from icefloe.archive import consolidate, record_consolidation, test_archive
from icefloe.catalog import TESTZIP, Catalog
from icefloe.progress import ProgressCounter

NOW = datetime(2024, 5, 1, 12, 30, 0, tzinfo=timezone.utc)
SET = "photos-a-20240501T123000Z"
PASSWORD = "Grandma's 1st password: ü & ✓"


class Recorder(ProgressCounter):
    def __init__(self) -> None:
        super().__init__(interval=0)
        self.queued = self.finished = 0

    def on_queued(self, total: int, label: str) -> None:
        self.queued += 1
        super().on_queued(total, label)

    def on_done(self) -> None:
        self.finished += 1


def test_plain_archive_restores_every_shape_with_7zip(partition: Path, tmp_path: Path) -> None:
    progress = Recorder()
    result = consolidate(partition, tmp_path / "out", label="photos-a", workers=1, now=NOW, progress=progress)

    assert result.set_name == SET
    assert result.directory == tmp_path / "out" / SET
    assert sorted(p.name for p in result.directory.iterdir()) == [f"{SET}.7z", f"{SET}.manifest.json"]
    assert not list((tmp_path / "out").glob(".*partial*"))
    (volume,) = result.volumes
    assert (volume.name, volume.volume, volume.volumes) == (f"{SET}.7z", 1, 1)
    assert volume.sha256 == hashlib.sha256(volume.path.read_bytes()).hexdigest()
    assert not result.encrypted
    # media stored, text compressed: both kinds of folder are there
    assert result.stored_bytes >= 650_000 and result.compressed_bytes >= 500_000
    assert progress.queued == progress.finished == 1
    assert progress.done == progress.total == 2 * result.total_bytes

    sevenzip("t", str(volume.path))
    listing = sevenzip("l", "-slt", str(volume.path)).stdout
    assert "Method = Copy" in listing and "LZMA2" in listing
    sevenzip("x", f"-o{tmp_path / 'restored'}", str(volume.path))
    assert_same_tree(partition, tmp_path / "restored")
    assert (tmp_path / "restored" / "Documents" / LONG_NAME).exists()
    assert (tmp_path / "restored" / "Documents" / META_NAME).read_bytes() == b"shell metacharacters\n"
    assert (tmp_path / "restored" / "Documents" / "empty folder").is_dir()
    # py7zr's own testzip agrees with icefloe's
    with py7zr.SevenZipFile(volume.path) as archive:
        assert archive.testzip() is None
        assert ".icefloe-partition" not in archive.getnames()


def test_manifest_inside_and_beside_match_the_files(partition: Path, tmp_path: Path) -> None:
    result = consolidate(partition, tmp_path / "out", label="photos-a", workers=1, now=NOW)
    sidecar = mf.read(result.manifest_path)
    assert result.manifest_sha256 == hashlib.sha256(result.manifest_path.read_bytes()).hexdigest()
    assert sidecar.volumes == (mf.Volume(result.volumes[0].name, result.volumes[0].size, result.volumes[0].sha256),)
    sevenzip("x", f"-o{tmp_path / 'x'}", str(result.volumes[0].path))
    inner = mf.read(tmp_path / "x" / ".icefloe" / f"{SET}.manifest.json")
    assert inner.items == sidecar.items and inner.volumes == ()
    items = {i.path: i for i in sidecar.items}
    assert ".icefloe-partition" not in items and not any(p.startswith(".icefloe-trash") for p in items)
    notes = partition / "Documents" / "notes.txt"
    assert items["Documents/notes.txt"].sha256 == hashlib.sha256(notes.read_bytes()).hexdigest()
    assert items["Documents/notes.txt"].mtime_ns == notes.stat().st_mtime_ns
    assert items["link-to-notes"] == mf.Item("link-to-notes", "symlink", 19, items["link-to-notes"].mtime_ns,
                                             None, "Documents/notes.txt")
    assert items["Documents/empty folder"].kind == "dir"
    assert items["Documents/empty.txt"].sha256 == hashlib.sha256(b"").hexdigest()
    for item in sidecar.items:
        if item.kind == "file":
            assert hashlib.sha256((partition / item.path).read_bytes()).hexdigest() == item.sha256
    assert result.file_count == sum(1 for i in sidecar.items if i.kind == "file")
    json.loads(result.manifest_path.read_text())  # plain JSON for any tool


def test_encrypted_archive_hides_names_and_data(partition: Path, tmp_path: Path) -> None:
    result = consolidate(partition, tmp_path / "out", label="photos-a", password=PASSWORD, workers=2, now=NOW)
    path = str(result.volumes[0].path)
    assert result.encrypted and result.manifest.encrypted
    blob = result.volumes[0].path.read_bytes()
    assert b"photo family" not in blob and "notes".encode("utf-16-le") not in blob  # neither data nor names

    for args in (["l", path], ["l", "-pwrong", path], ["t", "-pwrong", path]):
        proc = sevenzip(*args, check=False)
        assert proc.returncode != 0
        assert "notes.txt" not in proc.stdout + proc.stderr
    sevenzip("t", f"-p{PASSWORD}", path)
    listing = sevenzip("l", "-slt", f"-p{PASSWORD}", path).stdout
    blocks = [b for b in listing.split("\n\n") if "Path = " in b and "Attributes = D" not in b][1:]
    assert len(blocks) > 10
    for block in blocks:  # every stored member, not folders
        assert "Encrypted = +" in block and "7zAES" in block, block
    sevenzip("x", f"-p{PASSWORD}", f"-o{tmp_path / 'restored'}", path)
    assert_same_tree(partition, tmp_path / "restored")


def test_volumes_span_and_restore_from_the_first(partition: Path, tmp_path: Path) -> None:
    reserves: list[int] = []

    def sizer(reserve: int) -> int:
        reserves.append(reserve)
        return 256 * 1024

    result = consolidate(partition, tmp_path / "out", label="photos-a", password=PASSWORD,
                         volume_size=sizer, workers=2, now=NOW)
    assert reserves and reserves[0] >= result.manifest_path.stat().st_size
    names = [v.name for v in result.volumes]
    assert len(names) >= 3 and names[0] == f"{SET}.7z.001" and names[-1] == f"{SET}.7z.{len(names):03d}"
    assert all(v.size == 256 * 1024 for v in result.volumes[:-1])
    assert 0 < result.volumes[-1].size <= 256 * 1024
    assert [(v.volume, v.volumes) for v in result.volumes] == [(i + 1, len(names)) for i in range(len(names))]
    for v in result.volumes:
        assert v.sha256 == hashlib.sha256(v.path.read_bytes()).hexdigest()
    assert result.manifest_path.name == f"{SET}.manifest.7z"  # sealed: the set is encrypted
    assert [v.name for v in mf.read_sidecar(result.manifest_path, PASSWORD).volumes] == names

    sevenzip("t", f"-p{PASSWORD}", str(result.volumes[0].path))
    sevenzip("x", f"-p{PASSWORD}", f"-o{tmp_path / 'restored'}", str(result.volumes[0].path))
    assert_same_tree(partition, tmp_path / "restored")
    assert test_archive(result.volumes[0].path, PASSWORD) == [v.sha256 for v in result.volumes]


def test_compression_setting_stores_or_compresses_everything(partition: Path, tmp_path: Path) -> None:
    copy = consolidate(partition, tmp_path / "a", label="photos-a", compression="copy", workers=1, now=NOW)
    lz = consolidate(partition, tmp_path / "b", label="photos-a", compression="lzma2", workers=1, now=NOW)
    assert copy.compressed_bytes == 0 and lz.stored_bytes == 0
    assert copy.archive_bytes > copy.total_bytes  # nothing compressed: data plus the header
    assert "LZMA2" in sevenzip("l", "-slt", str(lz.volumes[0].path)).stdout
    for result, name in ((copy, "a"), (lz, "b")):
        sevenzip("x", f"-o{tmp_path / (name + 'x')}", str(result.volumes[0].path))
        assert_same_tree(partition, tmp_path / (name + "x"))


def test_record_consolidation_fills_the_catalog(partition: Path, tmp_path: Path) -> None:
    result = consolidate(partition, tmp_path / "out", label="photos-a", workers=1, volume_size=512 * 1024, now=NOW)
    with Catalog.open(tmp_path / "catalog.sqlite") as catalog:
        record_consolidation(catalog, result)
        record = catalog.get_archive_set(SET)
        assert record is not None
        assert (record.file_count, record.total_bytes, record.encrypted) == (result.file_count, result.total_bytes, False)
        assert record.manifest_sha256 == result.manifest_sha256
        archives = catalog.archives(set_name=SET)
        assert [a.name for a in archives] == [v.name for v in result.volumes]
        assert all(a.path and Path(a.path).exists() for a in archives)
        for a in archives:
            check = catalog.latest_verification(f"archive:{a.name}", TESTZIP)
            assert check is not None and check.ok
        entries = catalog.manifest(SET)
        assert {e.path for e in entries} == {i.path for i in result.manifest.items}


@pytest.mark.parametrize("workers", [1, 2])
def test_same_content_whatever_the_workers(partition: Path, tmp_path: Path, workers: int) -> None:
    result = consolidate(partition, tmp_path / "out", label="photos-a", workers=workers, now=NOW)
    with py7zr.SevenZipFile(result.volumes[0].path) as archive:
        names = set(archive.getnames())
    assert "Documents/notes.txt" in names and f".icefloe/{SET}.manifest.json" in names
    assert result.folders >= 3


def test_work_files_are_owner_only_like_the_catalog(partition: Path, tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)  # the usual umask, under which files came out 0644 in 0755 folders
    try:
        result = consolidate(partition, tmp_path / "out", label="photos-a", workers=2, volume_size=512 * 1024,
                             now=NOW, password="pw")
    finally:
        os.umask(old)
    assert len(result.volumes) > 1
    assert stat.S_IMODE(os.stat(tmp_path / "out").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(result.directory).st_mode) == 0o700
    made = list(result.directory.iterdir())
    assert {p.name for p in made} >= {v.name for v in result.volumes} | {result.manifest_path.name}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in made} == {p.name: 0o600 for p in made}
