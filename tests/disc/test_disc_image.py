"""Folder images: every awkward shape, read by xorriso, isoinfo and 7zz; damage is detected."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from disc_helpers import (
    DEEP,
    LONG_ASCII,
    LONG_UNICODE,
    SHELLY,
    UNICODE,
    RecordingProgress,
    run,
    sha256_file,
    tree_listing,
)

from icefloe.disc import build_image, plan_tree, read_sidecar, verify_image
from icefloe.disc.entries import scan_tree
from icefloe.errors import ChecksumMismatch, FileChanged, InputUnreadable, TooLarge


@pytest.fixture
def image(shapes: Path, tmp_path: Path):
    plan = plan_tree(shapes, "dvd+r")
    return build_image(plan, tmp_path / "out" / "shapes.iso")


def test_image_size_checksum_and_sidecar(image, tmp_path: Path) -> None:
    path = Path(image.path)
    assert path.stat().st_size == image.size == image.sectors * 2048
    assert sha256_file(path) == image.sha256
    assert read_sidecar(path) == image
    # Only the image and its sidecar: no temporary file left behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["shapes.iso", "shapes.iso.json"]


def test_verify_reads_every_file_back(image, shapes: Path) -> None:
    files = {rel for rel, (kind, _) in tree_listing(shapes).items() if kind == "file"}
    assert set(image.checksums) == files
    progress = RecordingProgress()
    verify_image(image.path, image.checksums, progress=progress)
    assert progress.done == sum((shapes / f).stat().st_size for f in files)
    assert progress.finished == 1


def test_xorriso_lists_original_names_and_links(image, shapes: Path) -> None:
    out = run("xorriso", "-indev", image.path, "-find", "/", "-exec", "lsdl").stdout
    for rel, (kind, extra) in tree_listing(shapes).items():
        quoted = "'/" + rel.replace("'", "'\"'\"'") + "'"
        assert quoted in out, rel
        if kind == "symlink":
            assert f"{quoted} -> '{extra}'" in out
    assert "'/link-relative' -> 'random.bin'" in out


def _isoinfo_names(image_path: str, flag: str) -> set[str]:
    """Full paths listed by `isoinfo <flag> -l`."""
    text = run("isoinfo", flag, "-l", "-i", image_path).stdout
    names, folder = set(), "/"
    for line in text.splitlines():
        if line.startswith("Directory listing of "):
            folder = line[len("Directory listing of "):]
            continue
        match = re.match(r"^[-dl][-rwxs]{9}.*?\]\s\s(.*?)\s?(?: -> .*)?$", line)
        if match and match.group(1) not in (".", ".."):
            names.add(folder + match.group(1))
    return names


def test_isoinfo_rock_ridge_and_joliet_names(image, shapes: Path) -> None:
    rock_ridge = _isoinfo_names(image.path, "-R")
    basenames = {p.rpartition("/")[2] for p in rock_ridge}
    for rel in tree_listing(shapes):
        assert rel.rpartition("/")[2] in basenames, rel
        if rel.count("/") < 7:
            # isoinfo does not follow Rock Ridge relocation (xorriso and Linux do), so the
            # deepest folders show under /.rr_moved there.
            assert "/" + rel in rock_ridge, rel
    joliet = _isoinfo_names(image.path, "-J")
    # isoinfo prints Joliet (UCS-2) in ASCII only, so check the ASCII names.
    assert "/" + "L" * 60 + ".jpg" in joliet  # shortened to 64, extension kept
    assert {"/same.txt", "/Same~2.TXT"} <= joliet or {"/Same.TXT", "/same~2.txt"} <= joliet
    assert "/" + "/".join(DEEP) + "/bottom.txt" in joliet
    assert "/empty-file" in joliet and "/empty dir" in joliet


def test_7zz_extracts_through_udf_byte_identical(image, shapes: Path, tmp_path: Path) -> None:
    dest = tmp_path / "x"
    dest.mkdir()
    run("7zz", "x", "-tudf", "-y", image.path, cwd=dest)
    want = {k: v for k, v in tree_listing(shapes).items() if v[0] != "symlink"}
    # Folders that only lead to a symlink are still there; symlinks are Rock Ridge only.
    assert tree_listing(dest) == want
    assert (dest / LONG_UNICODE).read_bytes() == b"long unicode name\n"
    assert (dest / UNICODE).read_bytes() == b"unicode name\n"


def test_shapes_names_are_what_the_issue_asks(shapes: Path) -> None:
    entries = {e.path: e for e in scan_tree(shapes)}
    assert len(LONG_ASCII) == len(LONG_UNICODE) == 200
    assert entries["link-to-dir"].kind == "symlink"  # never followed
    assert not any(p.startswith("link-to-dir/") for p in entries)
    assert entries[f"{SHELLY}"].kind == "dir"
    assert entries["empty dir"].kind == "dir" and entries["empty-file"].size == 0


def test_corrupted_image_is_detected(image) -> None:
    data = bytearray(Path(image.path).read_bytes())
    at = data.find(b"deep\n")
    assert at > 0
    data[at] ^= 0xFF
    Path(image.path).write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch, match="bottom.txt"):
        verify_image(image.path, image.checksums)


def test_truncated_image_is_detected(image) -> None:
    with open(image.path, "r+b") as handle:
        handle.truncate(image.size - 4096)
    with pytest.raises(ChecksumMismatch, match="truncated"):
        verify_image(image.path, image.checksums)


def test_missing_or_extra_file_is_detected(image) -> None:
    expected = dict(image.checksums)
    expected["not-there.txt"] = hashlib.sha256(b"").hexdigest()
    with pytest.raises(ChecksumMismatch, match="not-there.txt"):
        verify_image(image.path, expected)
    expected = dict(image.checksums)
    del expected["random.bin"]
    with pytest.raises(ChecksumMismatch, match="random.bin"):
        verify_image(image.path, expected)


def test_file_changed_during_write_leaves_nothing(shapes: Path, tmp_path: Path) -> None:
    plan = plan_tree(shapes, "dvd+r")
    (shapes / "random.bin").write_bytes(os.urandom(1000))
    out = tmp_path / "out"
    with pytest.raises(FileChanged, match="random.bin"):
        build_image(plan, out / "x.iso")
    assert list(out.iterdir()) == []


def test_a_plan_that_no_longer_fits_is_refused_before_writing(shapes: Path, tmp_path: Path) -> None:
    plan = plan_tree(shapes, "dvd+r")
    with pytest.raises(TooLarge, match="plan the discs again"):
        build_image(replace(plan, capacity_sectors=plan.sectors - 1), tmp_path / "x.iso")
    assert list(tmp_path.glob("*.iso*")) == []


def test_special_file_is_named_not_skipped(shapes: Path) -> None:
    os.mkfifo(shapes / "a-pipe")
    with pytest.raises(InputUnreadable, match="a-pipe"):
        plan_tree(shapes, "dvd+r")


def test_undecodable_name_is_named(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / os.fsdecode(b"bad-\xff.jpg")).write_bytes(b"x")
    with pytest.raises(InputUnreadable, match=r"bad-\\xff\.jpg.*rename"):
        plan_tree(root, "dvd+r")


def test_folder_larger_than_disc(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    for i in range(3):
        (root / f"f{i}").write_bytes(b"x" * 1_000_000)
    with pytest.raises(TooLarge, match="larger disc type"):
        plan_tree(root, "dvd+r", capacity=2_500_000)


def _7zz_sha256(image_path: str, name: str) -> str:
    """SHA-256 of one file as `7zz x -tudf -so` extracts it (hashed here: coreutils is slow)."""
    sha = hashlib.sha256()
    with subprocess.Popen(["7zz", "x", "-tudf", "-so", image_path, name],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            sha.update(chunk)
    assert proc.returncode == 0
    return sha.hexdigest()


def test_file_over_4_gib_on_bd(tmp_path: Path) -> None:
    """A sparse 4.5 GiB file: multi-extent ISO 9660, whole through UDF, 7zz and xorriso agree."""
    root = tmp_path / "big"
    root.mkdir()
    huge = root / "huge video.mov"
    size = 4 * 1024**3 + 512 * 1024**2
    with open(huge, "wb") as handle:
        handle.truncate(size - 5)
        handle.seek(size - 5)
        handle.write(b"tail!")
    (root / "small.txt").write_bytes(b"small\n")
    with pytest.raises(TooLarge, match="huge video.mov.*larger disc type"):
        plan_tree(root, "dvd+r")
    plan = plan_tree(root, "bd-r")
    image = build_image(plan, tmp_path / "big.iso")
    try:
        assert image.size > size
        # Zeros are written as holes: the test costs little disk.
        assert os.stat(image.path).st_blocks * 512 < 64 * 1024**2
        # The build hashed the source as it read it; verify reads it back through UDF.
        verify_image(image.path, image.checksums)
        lsdl = run("xorriso", "-indev", image.path, "-find", "/", "-exec", "lsdl").stdout
        assert re.search(rf"\s{size}\s.*'/huge video.mov'", lsdl)
        assert _7zz_sha256(image.path, "huge video.mov") == image.checksums["huge video.mov"]
        listing = run("isoinfo", "-R", "-l", "-i", image.path).stdout
        assert listing.count("huge video.mov") == 2  # two extents, one name
    finally:
        os.unlink(image.path)
