"""Write a disc image from a plan, and verify an image by reading every file back through UDF.

Writing (``stream.py``): pycdlib lays the image out and produces its metadata, then the image
is written front to back in one pass with its SHA-256 computed on the way, and each file's
too unless one is recorded for it. The image is written under a temporary name, fsynced
and renamed; a sidecar ``<image>.json`` (docs/disc.md) records its checksums.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from icefloe import units
from icefloe.disc.assemble import extents, laid_out, measure
from icefloe.disc.capacity import SECTOR
from icefloe.disc.entries import FILE, DiscPlan
from icefloe.disc.recovery import with_recovery
from icefloe.disc.stream import EMPTY_SHA256, MetadataWriter, hash_extents, write_image
from icefloe.errors import ChecksumMismatch, InputUnreadable, NotEnoughSpace, TooLarge
from icefloe.fsutil import atomic_output, atomic_write_bytes, remove_leftovers
from icefloe.progress import NullProgress, Progress

SIDECAR_FORMAT = "icefloe-disc-image"
SIDECAR_VERSION = 1
SPACE_MARGIN = 16 * 1024 * 1024
# What a killed image write leaves beside the image: atomic_output's temporary files, and
# the folder its PAR2 recovery data is made in, and its label page's.
PART_RE = re.compile(r"\..+\.iso(\.json|\.label\.html)?\.[A-Za-z0-9_]+\.part")


@dataclass(frozen=True)
class ImageInfo:
    """A written image: where it is, its size and checksum, and each file's checksum.

    ``files`` pairs each file's path in the image's UDF tree (the real name, unless UDF had
    to shorten it) with its SHA-256: the one recorded for it (``DiscEntry.sha256``), else
    that of the data written for it. ``verify_image`` reads each file back against it.
    """

    path: str
    size: int
    sectors: int
    sha256: str
    files: tuple[tuple[str, str], ...]
    set_name: str = ""
    disc_index: int = 1
    disc_count: int = 1
    disc_type: str = ""

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def checksums(self) -> dict[str, str]:
        return dict(self.files)


def sidecar_path(image_path: Path | str) -> Path:
    return Path(f"{image_path}.json")


def remove_image_leftovers(folder: Path) -> list[Path]:
    """Remove the temporary image files killed runs left in ``folder`` (none a live run writes)."""
    return remove_leftovers(folder, PART_RE)


def check_space(folder: Path, nbytes: int) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    free = shutil.disk_usage(folder).free
    if free < nbytes + SPACE_MARGIN:
        raise NotEnoughSpace(
            f"{folder} has {units.size(free)} free but the image needs {units.size(nbytes)}; free some "
            "space or write the image elsewhere (--out)"
        )


def build_image(
    plan: DiscPlan,
    out_path: Path,
    *,
    volume_label: str | None = None,
    progress: Progress | None = None,
) -> ImageInfo:
    """Write the image of ``plan`` to ``out_path`` (atomically) plus its sidecar JSON.

    A plan with ``redundancy`` gets its PAR2 recovery files first (disc/recovery.py), made in
    a temporary folder beside the image and removed once the image is written.
    Raises NotEnoughSpace before writing and FileChanged if a source changed meanwhile. A
    file's recorded checksum is not computed again: verify the image (``verify_image``),
    which refuses a file whose data differs from it.
    """
    out_path = Path(out_path)
    if plan.redundancy <= 0:
        return _build(plan, out_path, volume_label, progress)
    check_space(out_path.parent, plan.capacity_sectors * SECTOR)
    staging = out_path.parent / f".{out_path.name}.par2.part"
    shutil.rmtree(staging, ignore_errors=True)  # a killed run's; rebuilt from the sources
    try:
        protected = with_recovery(plan, staging, measure)
        return _build(protected, out_path, volume_label, progress)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build(
    plan: DiscPlan, out_path: Path, volume_label: str | None, progress: Progress | None
) -> ImageInfo:
    progress = progress or NullProgress()
    check_space(out_path.parent, plan.size)
    label = volume_label or (
        f"{plan.set_name}_{plan.index}of{plan.count}" if plan.count > 1 else plan.set_name
    )
    iso, udf_paths = laid_out(plan.entries, label)
    try:
        placed = extents(iso)
        sectors = int(iso.pvd.space_size)
        if sectors > plan.capacity_sectors:  # the plan was made for other entries
            raise TooLarge(
                f"{out_path.name} would need {units.size(sectors * SECTOR)}, more than a "
                f"{plan.disc_type} holds; plan the discs again"
            )
        progress.on_queued(plan.size, out_path.name)
        try:
            with atomic_output(out_path, mode=0o600) as handle:  # owner-only, as the catalog
                metadata = _metadata(iso, out_path.name)
                if extents(iso, settle=False) != placed:
                    raise RuntimeError("pycdlib moved file data while writing the metadata")
                fd = handle.fileno()
                image_sha, shas = write_image(fd, sectors * SECTOR, metadata, placed, progress.on_progress)
                size = os.fstat(fd).st_size
        finally:
            progress.on_done()
    finally:
        iso.close()
    by_path = {entry.path: sha for (_, entry), sha in zip(placed, shas, strict=True)}
    files = tuple(
        (udf_paths[e.path].lstrip("/"), by_path.get(e.path, EMPTY_SHA256))
        for e in plan.entries if e.kind == FILE
    )
    info = ImageInfo(
        str(out_path), size, sectors, image_sha, files,
        plan.set_name, plan.index, plan.count, plan.disc_type,
    )
    write_sidecar(info, plan)
    return info


def _metadata(iso: pycdlib.PyCdlib, name: str) -> list[tuple[int, bytes]]:
    """Everything pycdlib writes except the files' data, which ``write_image`` copies faster:
    (offset, bytes) in image order.

    pycdlib copies each inode's data in its write loop; with the inode list emptied for the
    call it writes only descriptors, directory records and UDF entries.
    """
    inodes = iso.inodes
    iso.inodes = []
    writer = MetadataWriter()
    try:
        iso.write_fp(writer)
    except PyCdlibException as exc:
        raise InputUnreadable(f"cannot write {name}: {exc}") from None
    finally:
        iso.inodes = inodes
    return writer.pieces()


def write_sidecar(info: ImageInfo, plan: DiscPlan | None = None) -> Path:
    doc = {
        "format": SIDECAR_FORMAT,
        "version": SIDECAR_VERSION,
        "image": info.name,
        "set": info.set_name,
        "disc_index": info.disc_index,
        "disc_count": info.disc_count,
        "disc_type": info.disc_type,
        "sectors": info.sectors,
        "size": info.size,
        "sha256": info.sha256,
        "volumes": list(plan.volumes) if plan else [],
        "files": [{"path": path, "sha256": sha} for path, sha in info.files],
    }
    path = sidecar_path(info.path)
    atomic_write_bytes(path, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode(), mode=0o600)
    return path


def read_sidecar(image_path: Path | str) -> ImageInfo:
    """The ImageInfo recorded beside an image; InputNotFound-like errors when it is missing."""
    path = sidecar_path(image_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputUnreadable(
            f"{path} is missing, so there is nothing to check {Path(image_path).name} against; "
            "build the image again with icefloe"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputUnreadable(f"{path} is not a readable image sidecar: {exc}") from None
    if doc.get("format") != SIDECAR_FORMAT or doc.get("version", 0) > SIDECAR_VERSION:
        raise InputUnreadable(
            f"{path}: format {doc.get('format')!r} version {doc.get('version')!r} is not one "
            "this icefloe reads; upgrade icefloe"
        )
    return ImageInfo(
        str(image_path), int(doc["size"]), int(doc["sectors"]), doc["sha256"],
        tuple((f["path"], f["sha256"]) for f in doc["files"]),
        doc.get("set", ""), int(doc.get("disc_index", 1)), int(doc.get("disc_count", 1)),
        doc.get("disc_type", ""),
    )


def verify_image(
    image_path: Path | str,
    expected: Mapping[str, str],
    *,
    progress: Progress | None = None,
) -> None:
    """Read every file of the image through its UDF tree and compare SHA-256s.

    ``expected`` maps UDF paths (no leading slash) to checksums; a file missing, extra or
    different raises ChecksumMismatch naming it.
    """
    progress = progress or NullProgress()
    image_path = Path(image_path)
    iso = pycdlib.PyCdlib()
    with open(image_path, "rb") as handle:
        declared, have = _declared_size(handle), os.fstat(handle.fileno()).st_size
        if declared and have < declared:
            raise ChecksumMismatch(
                f"{image_path.name} is truncated ({have} of {declared} bytes); build it again"
            )
        try:
            iso.open_fp(handle)
        except OSError as exc:
            raise InputUnreadable(f"cannot read {image_path}: {exc.strerror}") from None
        except Exception as exc:  # noqa: BLE001 - a damaged image breaks the parser anywhere
            raise ChecksumMismatch(
                f"{image_path.name} is not a readable disc image ({exc}); build it again"
            ) from None
        try:
            need = int(iso.pvd.space_size) * SECTOR
            have = os.fstat(handle.fileno()).st_size
            if have < need:
                raise ChecksumMismatch(
                    f"{image_path.name} is truncated ({have} of {need} bytes); build it again"
                )
            present = _udf_files(iso)
            extra = sorted(set(present) - set(expected))
            if extra:
                raise ChecksumMismatch(f"{image_path.name} holds an unexpected file {extra[0]!r}")
            missing = [path for path in expected if path not in present]
            if missing:
                raise ChecksumMismatch(f"{image_path.name} lacks {missing[0]!r}; build it again")
            progress.on_queued(sum(present[p][1] for p in expected), image_path.name)
            try:
                shas = hash_extents(handle.fileno(), [present[p] for p in expected], progress.on_progress)
            except EOFError as exc:
                raise ChecksumMismatch(f"{image_path.name} is truncated ({exc}); build it again") from None
            for (path, want), got in zip(expected.items(), shas, strict=True):
                if got != want:
                    raise ChecksumMismatch(
                        f"{path} reads back from {image_path.name} with SHA-256 {got}, expected "
                        f"{want}: the image, or the file it was written from, is damaged; build "
                        "it again, and if that fails the same way, make the archive again"
                    )
        except (PyCdlibException, struct.error, ValueError) as exc:
            raise ChecksumMismatch(f"{image_path.name} is damaged ({exc}); build it again") from None
        finally:
            iso.close()
            progress.on_done()


def _declared_size(handle: BinaryIO) -> int:
    """The size the primary volume descriptor (sector 16) declares, or 0 if there is none."""
    pvd = os.pread(handle.fileno(), SECTOR, 16 * SECTOR)
    if len(pvd) < 84 or pvd[:6] != b"\x01CD001":
        return 0
    return struct.unpack_from("<I", pvd, 80)[0] * SECTOR


def _udf_files(iso: pycdlib.PyCdlib) -> dict[str, tuple[int, int]]:
    """Each file of the UDF tree: (byte offset of its data in the image, its length)."""
    out: dict[str, tuple[int, int]] = {}
    for folder, _dirs, files in iso.walk(udf_path="/"):
        for name in files:
            path = f"{folder.rstrip('/')}/{name}"
            record = iso.get_record(udf_path=path)
            size = int(record.info_len)
            if size and record.inode is None:
                raise ValueError(f"{path} has no data")
            start = int(record.inode.orig_extent_loc) * SECTOR if size else 0
            out[path.lstrip("/")] = (start, size)
    return out
