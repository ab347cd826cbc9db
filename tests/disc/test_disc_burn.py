"""Burning with real xorriso into stdio: files, read-back, and what xorriso's failures mean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from disc_helpers import RecordingProgress, sha256_file

from icefloe.disc import (
    BurnMismatch,
    DeviceBusy,
    MediumTooSmall,
    NoMedium,
    build_image,
    burn,
    burn_and_verify,
    classify,
    plan_tree,
    read_back,
    verify_burn,
)
from icefloe.errors import (
    DeviceError,
    ExternalToolError,
    ExternalToolMissing,
    UsageError,
)


@pytest.fixture
def image(shapes: Path, tmp_path: Path):
    return build_image(plan_tree(shapes, "dvd+r"), tmp_path / "shapes.iso")


def test_burn_to_a_file_and_read_back(image, tmp_path: Path) -> None:
    target = tmp_path / "burned.img"
    progress = RecordingProgress()
    result = burn_and_verify(image.path, f"stdio:{target}", progress=progress)
    assert result.ok and result.readback_sha256 == image.sha256 == sha256_file(Path(image.path))
    # The medium is longer than the image (padding); only the image's sectors were compared.
    assert target.stat().st_size > image.size
    assert progress.queued == [(2 * image.size, "burn shapes.iso")]
    assert progress.done == 2 * image.size and progress.finished == 1
    # A second burn onto the same "medium" works the same way.
    assert burn_and_verify(image.path, f"stdio:{target}", image_sha256=image.sha256).ok


def test_a_bad_burn_is_caught_by_the_read_back(image, tmp_path: Path) -> None:
    target = tmp_path / "burned.img"
    burn(image.path, f"stdio:{target}")
    with open(target, "r+b") as disc:
        disc.seek(image.size // 2)
        byte = disc.read(1)
        disc.seek(image.size // 2)
        disc.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(BurnMismatch, match="burn a new disc") as caught:
        verify_burn(image.path, f"stdio:{target}", image_sha256=image.sha256)
    assert not caught.value.result.ok


def test_read_back_of_a_short_medium(tmp_path: Path) -> None:
    short = tmp_path / "short.img"
    short.write_bytes(b"x" * 4096)
    with pytest.raises(DeviceError, match="returned only 4096 of 8192 bytes"):
        read_back(f"stdio:{short}", 8192)
    with pytest.raises(DeviceError, match="does not exist"):
        read_back(f"stdio:{tmp_path / 'none.img'}", 8192)


def test_missing_drive_with_real_xorriso(image) -> None:
    with pytest.raises(DeviceError, match=r"cannot use /dev/sr9 as a burner .*not found"):
        burn(image.path, "/dev/sr9")
    with pytest.raises(DeviceError, match="not MMC"):
        burn(image.path, "/dev/null")


def test_burner_missing(image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ExternalToolMissing, match="apt-get install xorriso"):
        burn(image.path, f"stdio:{tmp_path / 'x.img'}")
    with pytest.raises(ExternalToolMissing, match="apt-get install growisofs"):
        burn(image.path, "/dev/sr0", tool="growisofs")


def test_bad_requests(image, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no burner is configured"):
        burn(image.path, "none")
    with pytest.raises(UsageError, match="growisofs cannot write to stdio"):
        burn(image.path, f"stdio:{tmp_path / 'x.img'}", tool="growisofs")
    with pytest.raises(UsageError, match="unknown burn tool"):
        burn(image.path, "/dev/sr0", tool="cdrecord")


# Output captured from xorriso 1.5.4 (here), and from libburn's sources and users' reports for
# the cases that need a real drive.
TOO_SMALL = """\
xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project.
Drive current: -outdev 'stdio:/tmp/proto/small/c.img'
Media current: stdio file, overwriteable
Media status : is blank
Media summary: 0 sessions, 0 data blocks, 0 data,     0 free
xorriso : NOTE : -blank as_needed: no need for action detected
xorriso : FAILURE : Image size 154048s exceeds free space on media 32s
xorriso : NOTE : Gave up -outdev ''
xorriso : FAILURE : -as cdrecord: Job could not be performed properly.
xorriso : aborting : -abort_on 'FAILURE' encountered 'FAILURE'
"""
NOT_FOUND = """\
libburn : FAILURE : File object '/dev/sr9' not found
libburn : FAILURE : Cannot access '/dev/sr9' as SG_IO CDROM drive
xorriso : FAILURE : Cannot acquire drive '/dev/sr9'
xorriso : FAILURE : -as cdrecord: Job could not be performed properly.
"""
NO_DIR = """\
libburn : SORRY : Neither stdio-path nor its directory exist
xorriso : FAILURE : Cannot acquire drive 'stdio:/nonexistent-dir/x.img'
"""
BUSY = """\
libburn : SORRY : Cannot open busy device '/dev/sr0'
xorriso : FAILURE : Cannot acquire drive '/dev/sr0'
"""
EMPTY_TRAY = """\
xorriso : NOTE : Disc status unsuitable for writing
Drive current: -outdev '/dev/sr0'
Media current: is not recognizable
Media status : is not present
"""
CLOSED = """\
Media current: DVD+R
Media status : is written , is closed
xorriso : FAILURE : Disc status unsuitable for writing
"""
WRITE_FAILED = """\
libburn : SORRY : Failed to open device (a pseudo-drive) : Is a directory
xorriso : FAILURE : libburn indicates failure with writing.
"""
GROWISOFS_SMALL = ":-( /dev/sr0: 2295104 blocks are free, 2359573 to be written!\n"
GROWISOFS_EMPTY = ":-( unable to open64(\"/dev/sr0\",O_RDONLY): No medium found\n"
OTHER = "xorriso : FAILURE : Something new went wrong\n"


@pytest.mark.parametrize(
    ("output", "kind", "words"),
    [
        (TOO_SMALL, MediumTooSmall, r"needs 154048 sectors \(300\.9 MiB\) but the disc in DEV has 32 free"),
        (GROWISOFS_SMALL, MediumTooSmall, "needs 2359573 sectors.*has 2295104 free"),
        (NOT_FOUND, DeviceError, "cannot use DEV as a burner.*not found.*xorriso -devices"),
        (NO_DIR, DeviceError, "Neither stdio-path nor its directory exist"),
        (BUSY, DeviceBusy, "busy.*unmount"),
        (EMPTY_TRAY, NoMedium, "there is no disc in DEV"),
        (GROWISOFS_EMPTY, NoMedium, "there is no disc in DEV"),
        (CLOSED, NoMedium, "cannot be written.*insert a blank disc"),
        (WRITE_FAILED, DeviceError, "cannot use DEV as a burner.*Is a directory"),
        (OTHER, ExternalToolError, "exit code 5: .*Something new went wrong"),
    ],
)
def test_xorriso_messages_become_clear_errors(output: str, kind: type, words: str) -> None:
    error = classify(output, "DEV", returncode=5)
    assert type(error) is kind
    assert re.search(words, error.message), error.message


def test_a_busy_drive_is_retried_and_the_rest_are_not() -> None:
    assert classify(BUSY, "DEV").retryable
    assert not classify(TOO_SMALL, "DEV").retryable
    assert not classify(EMPTY_TRAY, "DEV").retryable
