"""Burning an image with xorriso (or growisofs), then reading the image's sectors back.

A device is a drive such as ``/dev/sr0`` or ``stdio:/path/file``, which xorriso writes as if it
were a disc (how the tests burn). The medium ends up longer than the image (padding), so the
read-back covers exactly the image's own bytes and compares their SHA-256 with the image's.

xorriso reports trouble as text; ``classify`` maps it to errors a person can act on. Its
patterns come from xorriso 1.5 / libburn messages captured in tests/disc/test_burn.py.
"""

from __future__ import annotations

import errno
import hashlib
import re
import shutil
import subprocess
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from icefloe import units
from icefloe.disc.capacity import SECTOR
from icefloe.disc.stream import BLOCK
from icefloe.errors import (
    BurnMismatch,
    DeviceBusy,
    DeviceError,
    ExternalToolError,
    ExternalToolMissing,
    IcefloeError,
    InputNotFound,
    MediumTooSmall,
    NoMedium,
    UsageError,
)
from icefloe.progress import BytesOnly, NullProgress, Progress

TOOLS = ("xorriso", "growisofs")
APT_PACKAGE = {"xorriso": "xorriso", "growisofs": "growisofs"}


@dataclass(frozen=True)
class BurnResult:
    image: str
    device: str
    size: int
    image_sha256: str
    readback_sha256: str

    @property
    def ok(self) -> bool:
        return self.image_sha256 == self.readback_sha256


def device_path(device: str) -> Path:
    """The file to read for ``device``: the drive itself, or the file behind ``stdio:``."""
    return Path(device.removeprefix("stdio:"))


def check_device(device: str | None) -> str:
    if not device or device == "none":
        raise UsageError(
            "no burner is configured: pass --device /dev/sr0 (or stdio:/path/file to write a "
            "file), or set archive.burner"
        )
    return device


def burn_command(image: Path, device: str, tool: str) -> list[str]:
    if tool == "xorriso":
        return ["xorriso", "-as", "cdrecord", "-v", f"dev={device}", "blank=as_needed", str(image)]
    if tool == "growisofs":
        if device.startswith("stdio:"):
            raise UsageError("growisofs cannot write to stdio: targets; use --tool xorriso")
        return ["growisofs", "-dvd-compat", "-Z", f"{device}={image}"]
    raise UsageError(f"unknown burn tool {tool!r}: use one of {', '.join(TOOLS)}")


_XORRISO_PROGRESS = re.compile(r"UPDATE :\s*(\d+) of\s*(\d+) MB written")
_GROWISOFS_PROGRESS = re.compile(r"(\d+)/(\d+) \(\s*[\d.]+%\)")


def _fraction(line: str) -> float | None:
    match = _XORRISO_PROGRESS.search(line) or _GROWISOFS_PROGRESS.search(line)
    if not match or not int(match.group(2)):
        return None
    return min(int(match.group(1)) / int(match.group(2)), 1.0)


def burn(
    image_path: Path | str,
    device: str,
    *,
    tool: str = "xorriso",
    progress: Progress | None = None,
) -> None:
    """Write the image to ``device`` with ``tool``; raise a DeviceError subclass on trouble."""
    progress = progress or NullProgress()
    image_path = Path(image_path)
    device = check_device(device)
    command = burn_command(image_path, device, tool)
    if not image_path.is_file():
        raise InputNotFound(f"{image_path} does not exist")
    if shutil.which(command[0]) is None:
        raise ExternalToolMissing(
            f"{tool} is not installed, so nothing can be burned: apt-get install {APT_PACKAGE[tool]}"
        )
    size = image_path.stat().st_size
    tail: deque[str] = deque(maxlen=200)
    progress.on_queued(size, f"burn {image_path.name}")
    reported = 0
    try:
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, errors="replace",  # xorriso and growisofs print English only
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail.append(line.rstrip("\n"))
                fraction = _fraction(line)
                if fraction is not None and int(fraction * size) > reported:
                    progress.on_progress(int(fraction * size) - reported)
                    reported = int(fraction * size)
            returncode = proc.wait()
        if returncode != 0:
            raise classify("\n".join(tail), device, tool, returncode)
        if reported < size:
            progress.on_progress(size - reported)
    finally:
        progress.on_done()


_TOO_SMALL = (
    re.compile(r"image size (\d+)s exceeds free space on media (\d+)s", re.IGNORECASE),
    re.compile(r"(\d+) blocks are free, (\d+) to be written", re.IGNORECASE),  # growisofs, reversed
)


def classify(output: str, device: str, tool: str = "xorriso", returncode: int = 1) -> IcefloeError:
    """The error a burner's failure output means, with what to do about it."""
    low = output.lower()
    if any(s in low for s in ("cannot open busy device", "device or resource busy", "drive is busy")):
        return DeviceBusy(
            f"{device} is busy: another program or a desktop auto-mount holds it; unmount the "
            "disc or close that program, then burn again"
        )
    for i, pattern in enumerate(_TOO_SMALL):
        match = pattern.search(output)
        if match:
            need, free = int(match.group(1)), int(match.group(2))
            if i == 1:  # growisofs says "FREE blocks are free, NEED to be written"
                need, free = free, need
            return MediumTooSmall(
                f"the image needs {need} sectors ({units.size(need * SECTOR)}) but the disc in "
                f"{device} has {free} free ({units.size(free * SECTOR)}); insert a larger blank disc, "
                "or plan the images for the disc type you have (--disc)"
            )
    if any(s in low for s in ("media status : is not present", "no medium found",
                              "medium not present", "no media")):
        return NoMedium(f"there is no disc in {device}; insert a blank disc and burn again")
    if any(s in low for s in ("is written , is closed", "not recognized as recordable",
                              "disc status unsuitable for writing", "is not recognizable")):
        return NoMedium(
            f"the disc in {device} cannot be written (it is closed, full or not a recordable "
            "disc); insert a blank disc and burn again"
        )
    if any(s in low for s in ("cannot acquire drive", "rejected because", "not found",
                              "neither stdio-path nor its directory exist",
                              "no such file or directory", "failed to open device")):
        why = _problem_lines(output)[0] if _problem_lines(output) else "unknown drive"
        return DeviceError(
            f"cannot use {device} as a burner ({why}); check the device path (`xorriso "
            "-devices` lists drives), or write to a file with stdio:/path/file"
        )
    lines = "; ".join(_problem_lines(output)[-3:]) or "no message"
    return ExternalToolError(f"{tool} failed with exit code {returncode}: {lines}")


def _problem_lines(output: str) -> list[str]:
    marks = ("FAILURE", "SORRY", "FATAL", ":-(")
    lines = [ln.strip() for ln in output.splitlines() if any(m in ln for m in marks)]
    return [ln for ln in lines if "Job could not be performed" not in ln and "aborting" not in ln]


def read_back(device: str, image_size: int, *, progress: Progress | None = None) -> str:
    """SHA-256 of the first ``image_size`` bytes of ``device`` (the burned image's sectors)."""
    progress = progress or NullProgress()
    path = device_path(check_device(device))
    sha = hashlib.sha256()
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    got = 0
    progress.on_queued(image_size, f"read back {device}")
    try:
        with open(path, "rb", buffering=0) as disc:
            while got < image_size:
                n = disc.readinto(view[: min(BLOCK, image_size - got)])
                if not n:
                    raise DeviceError(
                        f"{device} returned only {got} of {image_size} bytes: the burn is "
                        "incomplete, or the drive needs the disc reloaded (eject and insert it, "
                        "then run `icefloe burn ISO --device DEV --verify-only`)"
                    )
                sha.update(view[:n])
                got += n
                progress.on_progress(n)
    except FileNotFoundError:
        raise DeviceError(f"cannot read {device}: {path} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ENOMEDIUM:
            raise NoMedium(f"there is no disc in {device} to read back; insert it and run again") from None
        if exc.errno == errno.EBUSY:
            raise DeviceBusy(f"{device} is busy; close the program using it and read back again") from None
        raise DeviceError(
            f"read error on {device} at byte {got}: {exc.strerror}; the disc may be bad, burn a "
            "new one"
        ) from None
    finally:
        progress.on_done()
    return sha.hexdigest()


def file_sha256(path: Path | str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        while n := handle.readinto(view):
            sha.update(view[:n])
    return sha.hexdigest()


def burn_and_verify(
    image_path: Path | str,
    device: str,
    *,
    tool: str = "xorriso",
    image_sha256: str | None = None,
    progress: Progress | None = None,
) -> BurnResult:
    """Burn, read back the image's sectors, and compare; ChecksumMismatch if they differ."""
    progress = progress or NullProgress()
    image_path = Path(image_path)
    if not image_path.is_file():
        raise InputNotFound(f"{image_path} does not exist")
    size = image_path.stat().st_size
    progress.on_queued(2 * size, f"burn {image_path.name}")  # one run: the burn, then the read-back
    phases = BytesOnly(progress)
    try:
        image_sha = image_sha256 or file_sha256(image_path)
        burn(image_path, device, tool=tool, progress=phases)
        result = verify_burn(image_path, device, image_sha256=image_sha, size=size, progress=phases)
    finally:
        progress.on_done()
    return result


def verify_burn(
    image_path: Path | str,
    device: str,
    *,
    image_sha256: str,
    size: int | None = None,
    progress: Progress | None = None,
) -> BurnResult:
    """Read back an already burned disc and compare it with the image's checksum."""
    image_path = Path(image_path)
    size = size if size is not None else image_path.stat().st_size
    readback = read_back(device, size, progress=progress)
    result = BurnResult(str(image_path), device, size, image_sha256, readback)
    if not result.ok:
        raise BurnMismatch(
            f"the disc in {device} reads back differently from {image_path.name} (SHA-256 "
            f"{readback} instead of {image_sha256}): the burn is bad; burn a new disc",
            result,
        )
    return result
