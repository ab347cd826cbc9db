"""The archive pipeline's records: what a run would archive, the set a consolidation left, and
what a whole archive run did. Small, frozen and picklable: Prefect persists them as results.

``archive_partition_set`` is the consolidation stage: the partition's live set taken up from
its last recorded step, or a new one consolidated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from icefloe.archive.consolidation import Consolidation, consolidate
from icefloe.archive.scan import scan_partition
from icefloe.archive.sizing import volume_plan
from icefloe.catalog import Catalog
from icefloe.config import Settings
from icefloe.lifecycle import CarriedSet, begin_consolidation, carried_set
from icefloe.passwords import check_for_archiving
from icefloe.progress import Progress

if TYPE_CHECKING:
    from icefloe.confirmation import JobCounts


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    """What an archive run of a partition would do (a dry run): nothing is changed."""

    partition: str
    files: int
    bytes: int
    stored_as_is_bytes: int  # photos and videos, stored without compression
    disc: str
    burner: str
    backend: str
    container: str


def plan_archive(settings: Settings, label: str) -> ArchivePlan:
    """Scan partition ``label`` as a consolidation would, and say where its set would go."""
    part = settings.partition(label)
    entries = scan_partition(part.path, sentinel=part.sentinel, compression=settings.archive.compression)
    files = [e for e in entries if e.kind == "file"]
    store = settings.coldstore
    return ArchivePlan(
        partition=label,
        files=len(files),
        bytes=sum(e.size for e in files),
        stored_as_is_bytes=sum(e.size for e in files if getattr(e, "method", "") == "copy"),
        disc=settings.archive.disc,
        burner=settings.archive.burner,
        backend=store.backend,
        container=store.vault if store.backend == "glacier" else store.bucket,
    )


@dataclass(frozen=True, slots=True)
class ArchivedSet:
    """A consolidated (or carried forward) archive set, tested and recorded in the catalog."""

    set_name: str
    directory: str
    volumes: tuple[str, ...]  # paths, in volume order
    manifest_path: str
    manifest_sha256: str
    file_count: int
    total_bytes: int
    archive_bytes: int
    encrypted: bool

    @classmethod
    def of(cls, result: Consolidation | CarriedSet) -> ArchivedSet:
        return cls(result.set_name, str(result.directory), tuple(str(v.path) for v in result.volumes),
                   str(result.manifest_path), result.manifest_sha256, result.file_count,
                   result.total_bytes, result.archive_bytes, result.encrypted)


@dataclass(frozen=True, slots=True)
class ArchiveRun:
    """What an archive-partition run did, for the CLI and the run's result."""

    set_name: str
    file_count: int
    volumes: tuple[str, ...]
    images: tuple[str, ...]
    stored: tuple[str, ...]  # archive ids or object keys, one per volume
    inventory: JobCounts
    snapshot: str | None


@dataclass(frozen=True, slots=True)
class Consolidated:
    """What the consolidation stage did: the set, whether it was carried forward (then its
    step), and the never-finished sets it removed first."""

    result: Consolidation | CarriedSet
    carried_from: str | None
    unfinished_removed: tuple[str, ...]


def archive_partition_set(catalog: Catalog, settings: Settings, label: str, *, password: str | None,
                          progress: Progress | None = None, out_dir: Path | None = None,
                          workers: int | None = None, split: bool = True) -> Consolidated:
    """Partition ``label``'s live set carried forward from the step it reached, or, when it has
    none, a new set consolidated, tested and recorded. The catalog is the truth: a set whose
    consolidation never finished is removed and made again. ``password`` must be the one the
    last set was made with (or ``archive.new_password`` says it changes). ``workers`` and
    ``split`` (disc-sized volumes) default to the settings' (``archive.sizing.volume_plan``)."""
    check_for_archiving(catalog, password, new_password=settings.archive.new_password)
    live, unfinished = begin_consolidation(catalog, label)
    if live is not None:
        carried = carried_set(catalog, live)
        return Consolidated(carried, carried.state, tuple(unfinished))
    part = settings.partition_folder(label)
    volume_size, disc_capacity = volume_plan(settings.archive, split=split)
    made = consolidate(
        part.path,
        out_dir or settings.work_dir / "archives",
        label=label,
        password=password,
        volume_size=volume_size,
        disc_capacity=disc_capacity,
        compression=settings.archive.compression,
        lzma_preset=settings.archive.lzma_preset,
        workers=workers or settings.archive.workers,
        sentinel=part.sentinel,
        progress=progress,
        catalog=catalog,
        image_dir=settings.work_dir / "discs" if settings.archive.disc != "none" else None,
    )
    return Consolidated(made, None, tuple(unfinished))
