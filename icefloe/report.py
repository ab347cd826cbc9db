"""Answers people ask of the catalog: "is this file backed up, and where?" (the household's
shareable page is icefloe/household)."""

from __future__ import annotations

from dataclasses import dataclass

from icefloe.catalog import (
    BURNED_READBACK,
    IMAGE_VERIFIED,
    INVENTORY_SEEN,
    SERVER_CHECKSUM,
    TESTZIP,
    Catalog,
)


@dataclass(frozen=True)
class Location:
    """Where one file is kept, and how far each copy has been checked."""

    path: str
    size: int
    sha256: str | None
    partition: str
    set_name: str
    archives: tuple[str, ...]
    cold_copies: tuple[str, ...]  # "backend:container:remote_id"
    discs: tuple[str, ...]
    checks: tuple[str, ...]  # "testzip ok", "image_verified missing", ...
    cleared: bool


def _state(catalog: Catalog, subject: str, kind: str) -> str:
    check = catalog.latest_verification(subject, kind)
    word = "missing" if check is None else ("ok" if check.ok else "FAILED")
    return f"{kind} {word}"


def find(catalog: Catalog, pattern: str) -> list[Location]:
    """Every archived file whose path matches ``pattern`` (a glob, or a plain substring)."""
    out = []
    for set_name, entry in catalog.find(pattern):
        if entry.kind == "dir":
            continue  # a folder is no file to restore; the files in it match on their own
        archive_set = catalog.get_archive_set(set_name)
        archives = catalog.archives(set_name=set_name)
        copies = [c for a in archives for c in catalog.copies(a.name)]
        images = catalog.images(set_name)
        checks = []
        for archive in archives:
            subject = f"archive:{archive.name}"
            for kind in (TESTZIP, SERVER_CHECKSUM, INVENTORY_SEEN):
                checks.append(f"{archive.name}: {_state(catalog, subject, kind)}")
        for image in images:
            for kind in (IMAGE_VERIFIED, BURNED_READBACK):
                checks.append(f"{image.name}: {_state(catalog, f'image:{image.name}', kind)}")
        out.append(
            Location(
                path=entry.path,
                size=entry.size,
                sha256=entry.sha256,
                partition=archive_set.partition_label if archive_set else "?",
                set_name=set_name,
                archives=tuple(a.name for a in archives),
                cold_copies=tuple(f"{c.backend}:{c.container}:{c.remote_id}" for c in copies),
                discs=tuple(f"{i.name} (disc {i.disc_index} of {i.disc_count})" for i in images),
                checks=tuple(checks),
                cleared=bool(archive_set and archive_set.cleared_at),
            )
        )
    return out

