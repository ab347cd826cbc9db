"""An archive set's lifecycle, read from the catalog:

    planned -> consolidated -> tested -> imaged -> stored -> confirmed -> cleared
                                                        (or, from any step, abandoned)

Only two facts are recorded for it (table ``set_plans``): that a set was *planned* (its name
reserved and its folder chosen, before the consolidation writes anything) and that it was
*abandoned*. Every other step is derived from facts the stages record already: the set and
its volumes (consolidated), their testzip (tested), verified disc images (imaged), copies
with a matching server checksum (stored), inventory or HEAD confirmations (confirmed), and
``cleared_at``. ``imaged`` is skipped when a set has no disc images.

Every way of running the archive first calls ``begin_consolidation`` with the partition's
lease held: a set whose consolidation never finished is removed (its files and its plan) and
consolidated again; a finished one is carried forward, never rebuilt.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from icefloe.catalog import (
    IMAGE_VERIFIED,
    INVENTORY_SEEN,
    SERVER_CHECKSUM,
    TESTZIP,
    ArchiveSet,
    Catalog,
    now_iso,
)
from icefloe.errors import InputNotFound, UsageError
from icefloe.fsutil import remove_leftovers

PLANNED, CONSOLIDATED, TESTED, IMAGED = "planned", "consolidated", "tested", "imaged"
STORED, CONFIRMED, CLEARED, ABANDONED = "stored", "confirmed", "cleared", "abandoned"
STATES = (PLANNED, CONSOLIDATED, TESTED, IMAGED, STORED, CONFIRMED, CLEARED, ABANDONED)


@dataclass(frozen=True)
class SetPlan:
    name: str
    partition_label: str
    directory: str  # the folder the set's folder is made in
    planned_at: str
    abandoned_at: str | None = None
    abandon_reason: str | None = None


@dataclass(frozen=True)
class SetStatus:
    """One set as `icefloe sets` lists it."""

    name: str
    partition_label: str
    state: str
    since: str  # when it was planned (or made, for a set older than plans)
    files: int
    total_bytes: int
    volumes: int
    images: int
    copies: int


def _plans(catalog: Catalog, where: str = "1=1", args: tuple = ()) -> list[SetPlan]:
    with catalog.transaction() as conn:
        rows = conn.execute(f"SELECT * FROM set_plans WHERE {where} ORDER BY planned_at, name", args).fetchall()
    return [SetPlan(**{k: r[k] for k in r.keys()}) for r in rows]


def get_plan(catalog: Catalog, name: str) -> SetPlan | None:
    found = _plans(catalog, "name=?", (name,))
    return found[0] if found else None


def record_plan(catalog: Catalog, name: str, label: str, directory: Path) -> None:
    """The set ``name`` is about to be consolidated into ``directory``: the first fact."""
    with catalog.transaction() as conn:
        conn.execute(
            "INSERT INTO set_plans (name, partition_label, directory, planned_at) VALUES (?, ?, ?, ?)",
            (name, label, str(directory), now_iso()),
        )


def forget_plan(catalog: Catalog, name: str) -> None:
    """A consolidation that failed cleanly (its folder removed) leaves no plan behind."""
    with catalog.transaction() as conn:
        conn.execute("DELETE FROM set_plans WHERE name=? AND abandoned_at IS NULL", (name,))


def is_abandoned(catalog: Catalog, name: str) -> bool:
    plan = get_plan(catalog, name)
    return plan is not None and plan.abandoned_at is not None


def _all_ok(catalog: Catalog, subjects: list[str], kind: str) -> bool:
    checks = [catalog.latest_verification(s, kind) for s in subjects]
    return bool(subjects) and all(c is not None and c.ok for c in checks)


def state_of(catalog: Catalog, name: str) -> str:
    """The furthest step the set has reached, from what the catalog records."""
    plan, aset = get_plan(catalog, name), catalog.get_archive_set(name)
    if plan is not None and plan.abandoned_at:
        return ABANDONED
    if aset is None:
        if plan is None:
            raise InputNotFound(f"there is no archive set {name!r} in the catalog (see `icefloe sets`)")
        return PLANNED
    if aset.cleared_at:
        return CLEARED
    archives = catalog.archives(set_name=name)
    subjects = [f"archive:{a.name}" for a in archives]
    if not _all_ok(catalog, subjects, TESTZIP):
        return CONSOLIDATED
    state = TESTED
    images = catalog.images(name)
    count = max((i.disc_count for i in images), default=0)
    if images and len({i.disc_index for i in images}) >= count and _all_ok(
        catalog, [f"image:{i.name}" for i in images], IMAGE_VERIFIED
    ):
        state = IMAGED
    stored = all(catalog.copies(a.name) for a in archives) and _all_ok(catalog, subjects, SERVER_CHECKSUM)
    if stored:
        state = CONFIRMED if _all_ok(catalog, subjects, INVENTORY_SEEN) else STORED
    return state


def set_statuses(catalog: Catalog, label: str | None = None) -> list[SetStatus]:
    """Every set (planned ones included) with its state, oldest first."""
    made = {s.name: s for s in catalog.archive_sets(label)}
    plans = {p.name: p for p in (_plans(catalog, "partition_label=?", (label,)) if label else _plans(catalog))}
    out = []
    for name in set(made) | set(plans):
        aset, plan = made.get(name), plans.get(name)
        archives = catalog.archives(set_name=name)
        out.append(SetStatus(
            name=name,
            partition_label=(aset.partition_label if aset else plan.partition_label),  # type: ignore[union-attr]
            state=state_of(catalog, name),
            since=plan.planned_at if plan else (aset.created_at if aset else ""),
            files=aset.file_count if aset else 0,
            total_bytes=aset.total_bytes if aset else 0,
            volumes=len(archives),
            images=len(catalog.images(name)),
            copies=sum(len(catalog.copies(a.name)) for a in archives),
        ))
    return sorted(out, key=lambda s: (s.since, s.name))


def live_set(catalog: Catalog, label: str) -> ArchiveSet | None:
    """The partition's newest consolidated set that is neither cleared nor abandoned."""
    live = [s for s in catalog.archive_sets(label) if not s.cleared_at and not is_abandoned(catalog, s.name)]
    return live[-1] if live else None


def remove_unfinished(catalog: Catalog, label: str) -> list[str]:
    """Remove every set of ``label`` whose consolidation never finished: its folders (partial
    or complete but unrecorded) and its plan. Call it with the partition's lease held, so no
    live consolidation is among them. Returns their names."""
    from icefloe.archive.workspace import partial_dir

    removed = []
    for plan in _plans(catalog, "partition_label=? AND abandoned_at IS NULL", (label,)):
        if catalog.get_archive_set(plan.name) is not None:
            continue
        folder = Path(plan.directory)
        # A worker process can outlive its killed parent for a moment: a partial folder still
        # locked stays, and a later run's leftover sweep removes it.
        remove_leftovers(folder, re.compile(re.escape(partial_dir(folder, plan.name).name)), grace_s=0)
        shutil.rmtree(folder / plan.name, ignore_errors=True)  # renamed, never recorded
        with catalog.transaction() as conn:
            conn.execute("DELETE FROM set_plans WHERE name=?", (plan.name,))
        removed.append(plan.name)
    return removed


def begin_consolidation(catalog: Catalog, label: str) -> tuple[ArchiveSet | None, list[str]]:
    """(the live set to carry forward, or None to consolidate; the unfinished sets removed)."""
    removed = remove_unfinished(catalog, label)
    return live_set(catalog, label), removed


def gated_sets(catalog: Catalog, pending: list[ArchiveSet]) -> list[ArchiveSet]:
    """The sets a clear is gated on: the abandoned ones are ignored, unless nothing else is
    pending (then they still guard their files: an abandoned set never opens a clear)."""
    kept = [s for s in pending if not is_abandoned(catalog, s.name)]
    return kept or pending


def abandon(catalog: Catalog, name: str, reason: str = "abandoned by hand") -> SetPlan:
    """Record that set ``name`` is given up: no stage carries it forward, no gate waits on it."""
    state = state_of(catalog, name)
    if state == ABANDONED:
        raise UsageError(f"set {name} is abandoned already")
    if state == CLEARED:
        raise UsageError(f"set {name} is cleared: its partition was emptied behind it, keep it")
    aset = catalog.get_archive_set(name)
    stamp = now_iso()
    with catalog.transaction() as conn:
        if conn.execute("SELECT 1 FROM set_plans WHERE name=?", (name,)).fetchone() is None:
            folder = Path(aset.manifest_path).parent.parent if aset and aset.manifest_path else Path(".")
            conn.execute(
                "INSERT INTO set_plans (name, partition_label, directory, planned_at) VALUES (?, ?, ?, ?)",
                (name, aset.partition_label if aset else "", str(folder), aset.created_at if aset else stamp),
            )
        conn.execute("UPDATE set_plans SET abandoned_at=?, abandon_reason=? WHERE name=?", (stamp, reason, name))
    plan = get_plan(catalog, name)
    assert plan is not None
    return plan


@dataclass(frozen=True)
class CarriedSet:
    """A finished set taken up again from the catalog, shaped as a fresh ``Consolidation``
    for the callers that report one (nothing was rebuilt)."""

    set_name: str
    partition_label: str
    directory: Path
    volumes: tuple  # of icefloe.archive.ArchiveVolume
    manifest_path: Path
    manifest_sha256: str
    file_count: int
    total_bytes: int
    encrypted: bool
    state: str
    leftovers_removed: tuple[str, ...] = ()
    seconds: float = 0.0
    carried: bool = True

    @property
    def archive_bytes(self) -> int:
        return sum(v.size for v in self.volumes)


def carried_set(catalog: Catalog, aset: ArchiveSet, removed: list[str] = ()) -> CarriedSet:  # type: ignore[assignment]
    from icefloe.archive.consolidation import ArchiveVolume

    archives = sorted(catalog.archives(set_name=aset.name), key=lambda a: a.volume)
    volumes = tuple(ArchiveVolume(a.name, Path(a.path or a.name), a.size, a.sha256, a.volume, a.volumes)
                    for a in archives)
    manifest = Path(aset.manifest_path or "")
    return CarriedSet(
        set_name=aset.name, partition_label=aset.partition_label,
        directory=manifest.parent if aset.manifest_path else Path(volumes[0].path).parent,
        volumes=volumes, manifest_path=manifest, manifest_sha256=aset.manifest_sha256 or "",
        file_count=aset.file_count, total_bytes=aset.total_bytes, encrypted=aset.encrypted,
        state=state_of(catalog, aset.name), leftovers_removed=tuple(removed),
    )


def release_remote(catalog: Catalog, store, name: str, *, delete_remote: bool = False) -> tuple[list[str], list[str]]:
    """For an abandoned set: abort its open uploads and, with ``delete_remote``, delete its
    copies from ``store`` (a ColdStore; copies kept elsewhere are left). Returns (upload ids
    aborted, remote ids deleted)."""
    archives = catalog.archives(set_name=name)
    paths = {a.path for a in archives if a.path}
    aborted = []
    for upload in catalog.uploads("open"):
        if upload.local_path not in paths:
            continue
        try:
            store.abort_upload(upload.upload_id)
        except UsageError:  # the service holds it no more (it dropped an idle upload)
            catalog.finish_upload(upload.upload_id, "aborted")
        aborted.append(upload.upload_id)
    deleted = []
    for archive in archives if delete_remote else ():
        for copy in catalog.copies(archive.name):
            if (copy.backend, copy.container) != (store.backend, store.container):
                continue
            if copy.backend == "s3":
                store._call("DeleteObject", "delete_object", Key=copy.remote_id)
            else:
                store._call("DeleteArchive", "delete_archive", archiveId=copy.remote_id)
            catalog.mark_copy_deleted(copy.backend, copy.container, copy.remote_id)
            deleted.append(copy.remote_id)
    return aborted, deleted
