"""Which files go on which disc, checked against the disc's exact capacity before writing.

A set's archive volumes are dealt onto discs in order, as many per disc as fit; every disc
also carries the companions (the manifest sidecar), RESTORE.txt and SHA256SUMS.txt, so each
disc describes the whole set. Sizes are exact: pycdlib lays out each disc (without reading
any data) and reports its size in sectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from icefloe import units
from icefloe.disc.assemble import measure
from icefloe.disc.capacity import DEFAULT_REDUNDANCY, SECTOR, capacity_sectors, smallest_fitting
from icefloe.disc.entries import FILE, DiscEntry, DiscPlan, regular_file, scan_tree
from icefloe.disc.recovery import par2_name, reserve_sectors
from icefloe.errors import InputUnreadable, TooLarge, UsageError
from icefloe.restorekit import RESTORE_NAME, SUMS_NAME, restore_text, sha256sums_text

Extra = tuple[str, "bytes | Path"]


def plan_tree(
    root: Path, disc_type: str, *, capacity: int | None = None, name: str | None = None,
    checksums: Mapping[str, str] | None = None,
) -> DiscPlan:
    """One disc holding the folder tree under ``root`` as it is (no restore kit).

    ``checksums`` maps disc paths to SHA-256s known beforehand; the image builder takes them
    instead of computing them, and ``verify_image`` holds the files to them.
    """
    cap = capacity_sectors(disc_type, capacity)
    entries = scan_tree(root)
    if checksums:
        entries = [replace(e, sha256=checksums.get(e.path)) if e.kind == FILE else e for e in entries]
    name = name or Path(root).resolve().name or "disc"
    files = [e for e in entries if e.kind == FILE]
    if files:
        biggest = max(files, key=lambda e: e.size)
        if measure([replace(biggest, path=biggest.name)]) > cap:
            raise TooLarge(_too_large_one(biggest.path, biggest.size, disc_type, cap, folder=True))
    sectors = measure(entries, name)
    if sectors > cap:
        total = sum(e.size for e in files)
        fit = smallest_fitting(total)
        hint = f"use a larger disc type (--disc {fit})" if fit else "split it into several folders"
        raise TooLarge(
            f"{root} needs {units.size(sectors * SECTOR)} but a {disc_type} holds "
            f"{units.size(cap * SECTOR)}; {hint}, or consolidate it into archive volumes first"
        )
    return DiscPlan(name, 1, 1, disc_type, cap, sectors, tuple(entries))


def plan_discs(
    files: Sequence[Path],
    disc_type: str,
    extra: Sequence[Extra] = (),
    *,
    set_name: str | None = None,
    capacity: int | None = None,
    checksums: Mapping[str, str] | None = None,
    encrypted: bool | None = None,
    created: str | None = None,
    redundancy: float = DEFAULT_REDUNDANCY,
) -> list[DiscPlan]:
    """Plan the discs of a set: ``files`` (archive volumes, in order) dealt onto discs.

    ``extra`` are (name, bytes or path) companions every disc carries, such as the manifest
    sidecar. ``checksums`` maps file names to known SHA-256s (from the catalog); the image
    builder then refuses a file whose data differs. ``capacity`` overrides the disc's size in
    bytes (tests). Each disc keeps room for PAR2 recovery data of at least ``redundancy`` of
    its data (written with the image), so a disc that cannot hold it gets fewer volumes.
    Raises TooLarge naming a volume that cannot fit one disc.
    """
    cap = capacity_sectors(disc_type, capacity)
    if not files:
        raise UsageError("there are no archive volumes to put on discs")
    checksums = checksums or {}
    volumes = [regular_file(Path(f), Path(f).name, checksums.get(Path(f).name)) for f in files]
    companions = [_companion(name, source, checksums.get(name)) for name, source in extra]
    _check_unique([e.path for e in volumes + companions])
    # Every file's checksum goes into SHA256SUMS.txt, and the image builder holds the data
    # written to it, so what is burned is what the sums say.
    volumes = [_with_sha256(v) for v in volumes]
    companions = [_with_sha256(c) for c in companions]
    set_name = set_name or _set_name_from(volumes[0].path)
    created = created or datetime.now(UTC).strftime("%Y-%m-%d")
    sums = [(e.path, e.sha256 or "") for e in volumes + companions]
    sums_entry = DiscEntry(SUMS_NAME, data=(text := sha256sums_text(sums).encode()), size=len(text),
                           sha256=hashlib.sha256(text).hexdigest())
    total = sum(v.size for v in volumes)

    def kit(index: int, groups: list[list[DiscEntry]]) -> list[DiscEntry]:
        body = restore_text(
            set_name=set_name, disc_index=index, disc_count=len(groups),
            discs=[[v.path for v in g] for g in groups], companions=[c.path for c in companions],
            encrypted=encrypted, total_bytes=total, created=created,
            par2_name=par2_name(set_name, index, len(groups)) if redundancy > 0 else None,
            redundancy=redundancy,
        ).encode("ascii")
        restore = DiscEntry(RESTORE_NAME, data=body, size=len(body), sha256=hashlib.sha256(body).hexdigest())
        return [restore, sums_entry, *companions]

    # The longest RESTORE.txt lists one volume per disc; estimate with it, then check exactly.
    worst_kit = kit(1, [[v] for v in volumes])

    def needs(entries: list[DiscEntry]) -> int:
        return measure(entries) + reserve_sectors(entries, redundancy)

    for v in volumes:
        if needs([*worst_kit, v]) > cap:
            room = cap - needs(worst_kit)
            raise TooLarge(_too_large_one(v.path, v.size, disc_type, room))
    groups: list[list[DiscEntry]] = [[]]
    for v in volumes:
        if groups[-1] and needs([*worst_kit, *groups[-1], v]) > cap:
            groups.append([])
        groups[-1].append(v)
    while True:
        plans = []
        for i, group in enumerate(groups, start=1):
            entries = (*kit(i, groups), *group)
            plans.append(DiscPlan(
                set_name, i, len(groups), disc_type, cap, measure(entries, set_name), entries,
                tuple(v.path for v in group), redundancy,
            ))
        over = next((p for p in plans if p.sectors + reserve_sectors(list(p.entries), redundancy) > cap), None)
        if over is None:
            return plans
        # The exact kit outgrew the estimate: push this disc's last volume to the next disc.
        group = groups[over.index - 1]
        if len(group) == 1:
            raise TooLarge(_too_large_one(group[0].path, group[0].size, disc_type, cap))
        moved = group.pop()
        if over.index == len(groups):
            groups.append([])
        groups[over.index].insert(0, moved)


def _too_large_one(name: str, size: int, disc_type: str, room: int, folder: bool = False) -> str:
    fit = smallest_fitting(size)
    bigger = f"use a larger disc type (--disc {fit})" if fit else "no disc type is large enough"
    split = (
        "consolidate the folder into archive volumes instead"
        if folder
        else "let icefloe split the archive into volumes (archive.volume_size_mib)"
    )
    return (
        f"{name} is {units.size(size)}, more than one {disc_type} holds ({units.size(room * SECTOR)}); "
        f"{bigger}, or {split}"
    )


def _companion(name: str, source: bytes | Path, sha256: str | None) -> DiscEntry:
    if "/" in name or not name:
        raise UsageError(f"{name!r} is not a plain file name")
    if isinstance(source, bytes):
        return DiscEntry(name, data=source, size=len(source), sha256=hashlib.sha256(source).hexdigest())
    return regular_file(Path(source), name, sha256)


def _check_unique(names: list[str]) -> None:
    seen: set[str] = {RESTORE_NAME, SUMS_NAME}
    for name in names:
        if name in seen:
            raise UsageError(f"two files on the disc would be named {name!r}; rename one")
        seen.add(name)


def _set_name_from(volume: str) -> str:
    head, dot7z, _ = volume.rpartition(".7z")
    return head if dot7z and head else volume.rpartition(".")[0] or volume


def _with_sha256(entry: DiscEntry) -> DiscEntry:
    if entry.sha256 or entry.source is None:
        return entry
    return replace(entry, sha256=_file_sha256(entry.source))


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1024 * 1024):
                sha.update(chunk)
    except OSError as exc:
        raise InputUnreadable(f"cannot read {path}: {exc.strerror}") from None
    return sha.hexdigest()
