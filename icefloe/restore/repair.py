"""Repairing damaged volumes from the PAR2 recovery data on the discs, before extraction.

Each disc carries a PAR2 recovery set over its own files (docs/disc.md). A volume whose data
does not match its SHA-256 (or cannot be read to the end) is copied off its disc as far as it
reads, unreadable stretches as zeros, together with that disc's other protected files and its
.par2 files, into a temporary folder; ``par2 repair`` (par2cmdline) mends the copy there. The
disc holding the volume is tried first, then every other disc whose recovery set names it.
A repaired volume is read from the copy; the discs are never written. The temporary folder is
removed when the restore ends, and a killed restore's is removed by the next one.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from icefloe.restore.sources import DiscFile, folder_files, iso_root_files
from icefloe.volumestream import VolumeSource, file_source

CHUNK = 1024 * 1024
SECTOR = 2048
PAR2_SUFFIX = ".par2"
SUMS_NAME = "SHA256SUMS.txt"


@dataclass
class Repairs:
    """What the check found: the volumes to read (repaired ones from copies), and notes."""

    sources: list[VolumeSource]
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)


def staging_for(target: Path) -> Path:
    """The temporary folder beside ``target`` that repaired copies are made in."""
    target = Path(target).absolute()
    return target.parent / f".{target.name}.repair.part"


def disc_listing(paths: Sequence[Path]) -> list[tuple[Path, list[DiscFile]]]:
    out = []
    for path in map(Path, paths):
        files = folder_files(path) if path.is_dir() else iso_root_files(path)
        out.append((path, files))
    return out


def check_and_repair(sources: Sequence[VolumeSource], paths: Sequence[Path], staging: Path) -> Repairs:
    """Each present volume checked against its SHA-256; damaged ones repaired into ``staging``
    from the recovery data on the discs at ``paths``."""
    result = Repairs(list(sources))
    discs: list[tuple[Path, list[DiscFile]]] | None = None
    for i, src in enumerate(sources):
        if not src.present or not src.sha256 or _intact(src):
            continue
        discs = discs if discs is not None else disc_listing(paths)
        fixed = _repair(src, discs, staging)
        if fixed is None:
            result.unrepaired.append(
                f"volume {src.name} is damaged and the recovery data on the discs could not repair it"
            )
            continue
        copy, disc = fixed
        result.sources[i] = file_source(copy, src.sha256, src.name)
        result.repaired.append(f"volume {src.name} was damaged and repaired from the recovery data on {disc}")
    return result


def _intact(src: VolumeSource) -> bool:
    sha = hashlib.sha256()
    try:
        with src.opener() as handle:  # type: ignore[misc]
            while chunk := handle.read(CHUNK):
                sha.update(chunk)
    except Exception:  # noqa: BLE001 - any read failure means the volume needs repair
        return False
    return sha.hexdigest() == src.sha256


def _repair(
    src: VolumeSource, discs: Sequence[tuple[Path, list[DiscFile]]], staging: Path
) -> tuple[Path, str] | None:
    # The disc holding the volume first, then the others.
    ordered = sorted(discs, key=lambda d: src.name not in {f.name for f in d[1]})
    for disc, files in ordered:
        for index in _indexes_naming(files, src.name):
            folder = staging / f"try-{len(list(staging.glob('try-*'))) if staging.exists() else 0}"
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            for item in files:
                copy_readable(item, folder / item.name)
            if src.name not in {f.name for f in files}:
                holder = next((f for _, fs in discs for f in fs if f.name == src.name), None)
                if holder is not None:
                    copy_readable(holder, folder / src.name)
            if _par2_repair(folder, index.name) and _sha256(folder / src.name) == src.sha256:
                return folder / src.name, str(disc)
    return None


def _indexes_naming(files: list[DiscFile], name: str) -> list[DiscFile]:
    """The disc's PAR2 index files (not the recovery volumes) whose set names ``name``."""
    out = []
    needle = name.encode("utf-8")
    for item in files:
        if not item.name.endswith(PAR2_SUFFIX) or ".vol" in item.name:
            continue
        try:
            with item.opener() as handle:
                if needle in handle.read():
                    out.append(item)
        except Exception:  # noqa: BLE001,S112 - a damaged index: the recovery file repeats it
            continue
    return out


def copy_readable(item: DiscFile, to: Path) -> None:
    """Copy what reads; a stretch that does not becomes zeros (par2 finds and mends it)."""
    with open(to, "wb") as out:
        try:
            handle = item.opener()
        except Exception:  # noqa: BLE001 - nothing readable: par2 rebuilds it whole if it can
            return
        with handle:
            pos = 0
            while pos < item.size:
                want = min(CHUNK, item.size - pos)
                try:
                    handle.seek(pos)
                    data = handle.read(want)
                except OSError:
                    data = b""
                if not data:
                    data = b"\0" * min(want, SECTOR)
                out.write(data)
                pos += len(data)


def _par2_repair(folder: Path, index: str) -> bool:
    tool = shutil.which("par2")
    if tool is None:
        return False
    done = subprocess.run(
        [tool, "repair", "-q", "-q", index], cwd=folder, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, check=False,
    )
    return done.returncode == 0


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()
