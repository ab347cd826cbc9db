"""Where a set is written, before a byte of it is: its name, its partial folder, and the room
the whole archive pipeline needs there (the archive, and its disc images with a disc type).

A set's name is reserved by making its partial folder (``mkdir`` is atomic), so two runs in one
second take the next second's name instead of colliding.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from icefloe import lifecycle, units
from icefloe.archive.scan import Entry
from icefloe.catalog import Catalog
from icefloe.errors import NotEnoughSpace, UsageError

MIB = 1024 * 1024
# What a killed consolidation leaves: its partial folder (see ``partial_dir``).
PARTIAL_RE = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9._-]{0,63}-\d{8}T\d{6}Z\.partial")


def set_name_for(label: str, now: datetime) -> str:
    return f"{label}-{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"


def partial_dir(out_dir: Path, set_name: str) -> Path:
    return out_dir / f".{set_name}.partial"


def reserve_set(
    out_dir: Path, label: str, now: datetime, catalog: Catalog | None = None, *, attempts: int = 60
) -> tuple[str, Path]:
    """A set name no other run holds, and its partial folder, made (atomically) to hold it.

    Two runs in the same second do not collide: a name taken on disk or in the catalog moves
    on to the next second, keeping the documented ``<label>-<UTC time>`` form.
    """
    for step in range(attempts):
        name = set_name_for(label, now + timedelta(seconds=step))
        if (out_dir / name).exists() or (
            catalog is not None and (catalog.get_archive_set(name) or lifecycle.get_plan(catalog, name))
        ):
            continue
        partial = partial_dir(out_dir, name)
        try:
            partial.mkdir(mode=0o700)  # owner-only, as the catalog: the archive is the data
        except FileExistsError:
            continue  # another run holds this name
        if (out_dir / name).exists():  # finished between the check and the mkdir
            partial.rmdir()
            continue
        return name, partial
    raise UsageError(
        f"{attempts} set names of {label} from {set_name_for(label, now)} on are taken in {out_dir}: "
        "another consolidation of it is running; wait for it, or remove old folders there"
    )


def _existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _check_space(needs: list[tuple[Path, int, str]], label: str) -> None:
    """Refuse before writing when a filesystem lacks room for everything the pipeline puts on
    it: ``needs`` lists (folder, bytes, what); folders on one filesystem add up."""
    disks: dict[int, tuple[Path, int, list[str]]] = {}
    for folder, nbytes, what in needs:
        probe = _existing(folder)
        where, total, whats = disks.get(os.stat(probe).st_dev, (probe, 0, []))
        disks[os.stat(probe).st_dev] = (where, total + nbytes, [*whats, f"{units.size(nbytes)} of {what}"])
    for where, total, whats in disks.values():
        free = shutil.disk_usage(where).free
        if free < total:
            raise NotEnoughSpace(
                f"{where} has {units.size(free)} free but consolidating {label} needs about "
                f"{units.size(total)} ({', '.join(whats)}): free some space there or set work_dir to a "
                "larger disk; nothing was written"
            )


def pipeline_needs(
    out_dir: Path, image_dir: Path | None, *, total_bytes: int, biggest_lz: int, items_bound: int,
    volume_size: int | None,
) -> list[tuple[Path, int, str]]:
    """What the archive pipeline writes, as ``_check_space`` needs: the archive (at most the
    data, plus LZMA2's worst case and the largest LZMA2 folder's temporary file), and, with a
    disc type, one image per disc holding a volume, the manifest and the restore kit."""
    archive = total_bytes + total_bytes // 100 + items_bound + 16 * MIB
    needs = [(out_dir, archive + biggest_lz, "archives")]
    if image_dir is not None:
        discs = 1 if not volume_size else max(1, -(-archive // volume_size))
        needs.append((image_dir, archive + discs * (items_bound + 4 * MIB) + 16 * MIB, "disc images"))
    return needs


def catalog_bytes(entries: list[Entry]) -> int:
    """About what recording these entries takes in the catalog (rows, index, journal)."""
    return sum(3 * (len(e.path.encode()) + 96) for e in entries) + MIB
