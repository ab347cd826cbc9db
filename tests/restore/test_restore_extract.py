"""Extraction with the manifest check: what comes back, and what happens when it cannot."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import py7zr
import pytest
from helpers import snapshot
from restore_helpers import MIB, PASSWORD, archive, make_partition

from icefloe.catalog import Catalog
from icefloe.errors import ChecksumMismatch, PasswordError, UsageError
from icefloe.restore import MissingVolume, extract_set, file_source
from icefloe.restore.place import STAGING, safe_relpath
from icefloe.restore.sources import fill_holes
from icefloe.volumestream import VolumeSource


@pytest.fixture
def local_set(tmp_path: Path):
    """(original snapshot, consolidation) of photos-a in 1 MiB encrypted volumes."""
    part = make_partition(tmp_path / "photos-a")
    original = snapshot(part)
    with Catalog.open(tmp_path / "catalog.sqlite") as catalog:
        result = archive(part, tmp_path / "archives", catalog, volume_size=MIB)
    assert len(result.volumes) >= 4
    return original, result


def sources(result, skip: set[int] = frozenset()) -> list[VolumeSource]:
    out = []
    for v in result.volumes:
        if v.volume in skip:
            out.append(VolumeSource(v.name, None, v.sha256, None, v.name))
        else:
            out.append(file_source(v.path, v.sha256))
    return fill_holes(out)


def folder_of(result, member: str) -> tuple[int, int]:
    """(stream offset, packed size) of the 7z folder holding ``member``."""
    from icefloe.restore.sevenzip import layout
    from icefloe.volumestream import VolumeReader

    reader = VolumeReader(sources(result))
    with py7zr.SevenZipFile(reader, password=PASSWORD) as archive7z:
        folders, _ = layout(archive7z)
    reader.close()
    folder = next(f for f in folders if any(m.name == member for m in f.members))
    return folder.offset, folder.packsize


def flip(result, offset: int) -> str:
    """Flip the byte at stream ``offset``; returns the name of the volume it is in."""
    for v in result.volumes:
        if offset < v.size:
            with open(v.path, "r+b") as handle:
                handle.seek(offset)
                byte = handle.read(1)
                handle.seek(offset)
                handle.write(bytes([byte[0] ^ 0x5A]))
            return v.name
        offset -= v.size
    raise AssertionError("offset past the end")


def test_a_wrong_password_is_named_and_nothing_is_written(local_set, tmp_path: Path) -> None:
    _, result = local_set
    with pytest.raises(PasswordError, match=rf"password is wrong for {result.set_name}\.7z"):
        extract_set(sources(result), tmp_path / "out", password="not it")
    with pytest.raises(PasswordError, match="is encrypted"):
        extract_set(sources(result), tmp_path / "out", password=None)
    assert not (tmp_path / "out").exists()


def test_a_missing_volume_is_named_and_the_files_that_verify_are_kept(local_set, tmp_path: Path) -> None:
    original, result = local_set
    out = tmp_path / "out"
    # Volume 2 lies inside the one stored (Copy) folder that holds the media: the files of
    # that folder from IMG_0001.jpg on are lost; the compressed folder and the rest come back.
    report = extract_set(sources(result, skip={2}), out, password=PASSWORD)
    missing = result.volumes[1].name
    media = {"photos/2019/07/IMG_0001.jpg", "photos/2019/07/IMG_0002.jpg", "photos/2020/clip.mp4"}
    assert report.volume_problems == (f"volume {missing} is missing",)
    assert {p.path for p in report.problems} == media
    assert all(p.kind == "missing" and missing in p.detail for p in report.problems)
    restored = snapshot(out)
    assert restored == {k: v for k, v in original.items() if k not in media}
    assert not list(out.glob(STAGING + "*"))
    with pytest.raises(MissingVolume, match=missing) as caught:
        report.raise_for_problems()
    assert f"the {report.files} verified files are in {out}" in caught.value.message


def test_without_the_last_volume_nothing_can_be_read_and_the_error_says_which(local_set, tmp_path: Path) -> None:
    _, result = local_set
    last = result.volumes[-1]
    with pytest.raises(MissingVolume, match=last.name):
        extract_set(sources(result, skip={last.volume}), tmp_path / "out", password=PASSWORD)
    assert not (tmp_path / "out").exists()


def test_a_damaged_archive_is_named_and_the_other_files_are_kept(local_set, tmp_path: Path) -> None:
    original, result = local_set
    offset, size = folder_of(result, "documents/notes.txt")
    damaged_volume = flip(result, offset + size // 2)
    out = tmp_path / "out"
    report = extract_set(sources(result), out, password=PASSWORD)
    bad = {p.path for p in report.problems}
    assert "documents/notes.txt" in bad and all(p.kind == "damaged" for p in report.problems)
    assert report.volume_problems == (f"volume {damaged_volume} differs from its recorded SHA-256",)
    restored = snapshot(out)
    for path in ("photos/2019/07/IMG_0001.jpg", "photos/2020/clip.mp4", "latest.jpg", "empty dir"):
        assert restored[path] == original[path]
    assert not (out / "documents" / "notes.txt").exists()  # never a file that did not verify
    with pytest.raises(ChecksumMismatch, match=damaged_volume):
        report.raise_for_problems()


def test_existing_files_are_kept_unless_overwrite_and_identical_ones_count(local_set, tmp_path: Path) -> None:
    original, result = local_set
    out = tmp_path / "out"
    (out / "documents").mkdir(parents=True)
    (out / "documents" / "notes.txt").write_bytes(b"my newer notes\n")
    report = extract_set(sources(result), out, password=PASSWORD)
    assert [(p.path, p.kind) for p in report.problems] == [("documents/notes.txt", "conflict")]
    assert (out / "documents" / "notes.txt").read_bytes() == b"my newer notes\n"
    with pytest.raises(UsageError, match="--overwrite"):
        report.raise_for_problems()
    again = extract_set(sources(result), out, password=PASSWORD, overwrite=True)
    assert again.ok and again.unchanged == again.files - 1
    assert snapshot(out) == original


def test_a_glob_restores_only_what_it_selects(local_set, tmp_path: Path) -> None:
    original, result = local_set
    out = tmp_path / "out"
    report = extract_set(sources(result), out, password=PASSWORD, select="photos/2019")
    assert report.ok and report.files == 2 and report.skipped > 0
    files = {k for k, v in snapshot(out).items() if v[0] == "file"}
    assert files == {"photos/2019/07/IMG_0001.jpg", "photos/2019/07/IMG_0002.jpg"}
    assert snapshot(out)["photos/2019/07/IMG_0002.jpg"] == original["photos/2019/07/IMG_0002.jpg"]


def test_nothing_is_written_through_a_symlink_in_the_target(local_set, tmp_path: Path) -> None:
    _, result = local_set
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "photos")
    report = extract_set(sources(result), out, password=PASSWORD)
    assert {p.path for p in report.problems if p.kind == "conflict"} >= {"photos/2020/clip.mp4"}
    assert list(elsewhere.iterdir()) == []


def test_unsafe_archive_paths_are_refused() -> None:
    for name in ("../x", "/etc/passwd", "a/../../b", "", "."):
        assert safe_relpath(name) is None
    assert str(safe_relpath("a/b c/d.jpg")) == "a/b c/d.jpg"


def test_an_archive_7zip_made_is_restored_against_its_crcs(tmp_path: Path) -> None:
    """No icefloe manifest: every file is still checked (7z CRC) and placed with its mtime."""
    part = make_partition(tmp_path / "photos-a")
    (part / ".icefloe-partition").unlink()
    original = snapshot(part)
    subprocess.run(["7zz", "a", "-v700k", "-mhe=on", f"-p{PASSWORD}", "-snl", str(tmp_path / "x.7z"), "."],
                   cwd=part, check=True, capture_output=True)
    volumes = sorted(tmp_path.glob("x.7z.*"))
    assert len(volumes) > 2
    report = extract_set([file_source(v) for v in volumes], tmp_path / "out", password=PASSWORD)
    assert report.ok and report.manifest_source == "none" and "7z CRCs only" in report.summary()
    got = snapshot(tmp_path / "out")
    assert {k: v[:2] + v[3:] for k, v in got.items() if v[0] == "file"} == {
        k: v[:2] + v[3:] for k, v in original.items() if v[0] == "file"
    }
    # 7-Zip keeps 100 ns of the mtime.
    assert all(abs(got[k][2] - v[2]) < 100 for k, v in original.items() if v[0] == "file")
    assert got["latest.jpg"][:2] == original["latest.jpg"][:2]
    shutil.rmtree(part)


def test_a_damaged_header_names_the_volume_and_writes_nothing(local_set, tmp_path: Path) -> None:
    _, result = local_set
    last = result.volumes[-1]
    flip(result, sum(v.size for v in result.volumes) - 40)  # inside the encrypted header
    with pytest.raises(ChecksumMismatch, match=rf"volume {last.name} differs from its recorded SHA-256"):
        extract_set(sources(result), tmp_path / "out", password=PASSWORD)
    unknown = [file_source(v.path) for v in result.volumes]  # nothing to tell damage from a bad password
    with pytest.raises(PasswordError, match="or its header is damaged"):
        extract_set(unknown, tmp_path / "out", password=PASSWORD)
    assert not (tmp_path / "out").exists()


def test_a_byte_damaged_in_a_stored_folder_loses_only_the_file_it_is_in(local_set, tmp_path: Path) -> None:
    original, result = local_set
    offset, _ = folder_of(result, "photos/2019/07/IMG_0002.jpg")  # the encrypted Copy folder
    flip(result, offset + 100_000)  # inside its first file, IMG_0001.jpg (3 MiB)
    report = extract_set(sources(result), tmp_path / "out", password=PASSWORD)
    assert [(p.path, p.kind) for p in report.problems] == [("photos/2019/07/IMG_0001.jpg", "damaged")]
    restored = snapshot(tmp_path / "out")
    assert restored == {k: v for k, v in original.items() if k != "photos/2019/07/IMG_0001.jpg"}


KILLED_EXTRACT = """
import os, signal, sys, threading
from pathlib import Path
from icefloe.restore import extract_set, file_source
from icefloe.restore.place import Placer

placed = threading.Event()
real_place_file = Placer.place_file
def place_file(self, *args, **kwargs):
    result = real_place_file(self, *args, **kwargs)
    placed.set()
    return result
Placer.place_file = place_file

class DieMidway:  # SIGKILL once this many bytes are written and a file is in place: no cleanup runs
    done = 0
    def on_queued(self, total, label): pass
    def on_progress(self, n):
        self.done += n
        if self.done >= int(sys.argv[3]):
            placed.wait(60)
            os.kill(os.getpid(), signal.SIGKILL)
    def on_done(self): pass

extract_set([file_source(Path(p)) for p in sys.argv[4:]], Path(sys.argv[1]), password=sys.argv[2],
            progress=DieMidway(), workers=1)
"""


def test_an_extraction_killed_midway_leaves_only_verified_files_and_the_rerun_completes(
        local_set, tmp_path: Path) -> None:
    original, result = local_set
    out = tmp_path / "out"
    volumes = [str(v.path) for v in result.volumes]
    # The stored folder comes first: IMG_0001.jpg (3 MiB) is placed, IMG_0002.jpg is being written.
    past_first = original["photos/2019/07/IMG_0001.jpg"][1] + 1
    killed = subprocess.run([sys.executable, "-c", KILLED_EXTRACT, str(out), PASSWORD, str(past_first), *volumes],
                            capture_output=True, text=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    leftovers = list(out.glob(STAGING + "*"))
    assert len(leftovers) == 1 and any(p.is_file() for p in leftovers[0].iterdir())  # a file cut short
    first = {k: v for k, v in snapshot(out).items() if v[0] == "file"}
    assert set(first) == {"photos/2019/07/IMG_0001.jpg"}
    assert all(original[k] == v for k, v in first.items())  # what is in place is whole and verified
    past = time.time() - 60  # the rerun comes later than a live writer's first seconds
    os.utime(leftovers[0], (past, past))

    report = extract_set(sources(result), out, password=PASSWORD)
    assert report.ok and report.unchanged == len(first)
    assert snapshot(out) == original  # nothing lost, nothing twice, nothing extra
    assert not list(out.glob(STAGING + "*"))  # the killed run's staging folder is gone too
