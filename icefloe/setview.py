"""One archive set as `icefloe sets show` describes it, read from the catalog alone.

What it holds (files, their total size and date range), its volumes and whether a local copy
is still in work_dir, its discs (the name printed on the sleeve label and burned as the ISO
volume id, and the last disc check), its cold-storage copies with their checks (server
checksum, inventory or HEAD confirmation), and how far its clear has come.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from icefloe.catalog import (
    BURNED_READBACK,
    IMAGE_VERIFIED,
    INVENTORY_SEEN,
    SERVER_CHECKSUM,
    TESTZIP,
    Catalog,
    ManifestEntry,
    Verification,
)
from icefloe.disc.capacity import SECTOR
from icefloe.disc.names import volume_ident
from icefloe.errors import InputNotFound
from icefloe.lifecycle import get_plan, state_of


@dataclass(frozen=True)
class Check:
    """The latest check of one kind, or none (``ok`` None: never checked)."""

    kind: str
    ok: bool | None
    at: str | None = None
    detail: str | None = None

    @classmethod
    def latest(cls, catalog: Catalog, subject: str, kind: str) -> Check:
        found: Verification | None = catalog.latest_verification(subject, kind)
        return cls(kind, None) if found is None else cls(kind, found.ok, found.at, found.detail)


@dataclass(frozen=True)
class VolumeView:
    name: str
    size: int
    path: str | None
    local: bool  # the file is still there (icefloe clean removes it after the clear)
    testzip: Check


@dataclass(frozen=True)
class CopyView:
    archive: str
    backend: str
    container: str
    remote_id: str
    size: int
    stored_at: str
    server_checksum: Check
    confirmed: Check  # a reconciled inventory (vault, S3 listing) or a HEAD (S3)


@dataclass(frozen=True)
class DiscView:
    image: str
    label: str  # as the sleeve label prints it: "<set>, disc N of M"
    volume_id: str  # the ISO volume identifier burned on the disc
    disc_type: str
    size: int
    path: str | None
    local: bool
    verified: Check
    burned: Check
    last_check_at: str | None
    last_check_ok: bool | None
    last_check_detail: str | None


@dataclass(frozen=True)
class SetView:
    name: str
    partition: str
    state: str
    created_at: str
    encrypted: bool
    files: int
    total_bytes: int
    oldest: str | None  # the files' modification dates (YYYY-MM-DD), from the manifest
    newest: str | None
    volumes: tuple[VolumeView, ...]
    discs: tuple[DiscView, ...]
    copies: tuple[CopyView, ...]
    cleared_at: str | None
    abandoned_at: str | None


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d")


def file_entries(catalog: Catalog, name: str) -> list[ManifestEntry]:
    return [e for e in catalog.manifest(name) if e.kind == "file"]


def _volume_id(image_path: str | None, set_name: str, index: int, count: int) -> str:
    """The ISO volume identifier: read from the image while it is here, else made again as
    disc/image.py makes it."""
    if image_path and Path(image_path).is_file():
        try:
            with open(image_path, "rb") as handle:
                handle.seek(16 * SECTOR + 40)  # the primary volume descriptor's volume identifier
                text = handle.read(32).decode("ascii", "replace").strip()
            if text and all(c.isalnum() or c == "_" for c in text):
                return text
        except OSError:
            pass  # not readable: made again below
    return volume_ident(f"{set_name}_{index}of{count}" if count > 1 else set_name)


def describe(catalog: Catalog, name: str) -> SetView:
    """Everything the catalog records about set ``name``."""
    state = state_of(catalog, name)  # an unknown name: one line naming `icefloe sets`
    aset, plan = catalog.get_archive_set(name), get_plan(catalog, name)
    if aset is None:
        if plan is None:  # pragma: no cover - state_of refused it already
            raise InputNotFound(f"there is no archive set {name!r} in the catalog")
        return SetView(name, plan.partition_label, state, plan.planned_at, False, 0, 0, None, None,
                       (), (), (), None, plan.abandoned_at)
    files = file_entries(catalog, name)
    archives = sorted(catalog.archives(set_name=name), key=lambda a: a.volume)
    volumes = tuple(
        VolumeView(a.name, a.size, a.path, bool(a.path) and Path(a.path).is_file(),
                   Check.latest(catalog, f"archive:{a.name}", TESTZIP))
        for a in archives
    )
    copies = tuple(
        CopyView(a.name, c.backend, c.container, c.remote_id, c.size, c.created_at,
                 Check.latest(catalog, f"archive:{a.name}", SERVER_CHECKSUM),
                 Check.latest(catalog, f"archive:{a.name}", INVENTORY_SEEN))
        for a in archives for c in catalog.copies(a.name)
    )
    discs = []
    for image in sorted(catalog.images(name), key=lambda i: i.disc_index):
        checks = catalog.disc_checks(image.name.removesuffix(".iso"))
        last = checks[-1] if checks else None
        discs.append(DiscView(
            image.name, f"{name}, disc {image.disc_index} of {image.disc_count}",
            _volume_id(image.path, name, image.disc_index, image.disc_count), image.disc_type, image.size, image.path,
            bool(image.path) and Path(image.path).is_file(),
            Check.latest(catalog, f"image:{image.name}", IMAGE_VERIFIED),
            Check.latest(catalog, f"image:{image.name}", BURNED_READBACK),
            last.checked_at if last else None, last.ok if last else None, last.detail if last else None,
        ))
    return SetView(
        name, aset.partition_label, state, aset.created_at, aset.encrypted, aset.file_count, aset.total_bytes,
        _day(min(e.mtime_ns for e in files)) if files else None,
        _day(max(e.mtime_ns for e in files)) if files else None,
        volumes, tuple(discs), copies, aset.cleared_at, plan.abandoned_at if plan else None,
    )
