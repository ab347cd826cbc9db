"""Whole restores: archive sets from cold storage, or from discs, into a folder, verified.

From cold storage (after :func:`~icefloe.restore.retrieval.plan_restore` and, once the cost
was accepted, :func:`~icefloe.restore.retrieval.start_retrievals`): wait for each volume's
job (or stop with RetrievalPending when not waiting), download it, extract the set and
check every file against the manifest. The downloaded volumes are removed once the set
restored without a problem (``keep_downloads`` keeps them); after a problem they stay, so
the next run does not pay for another retrieval.

From discs: gather the volumes from mounted discs or ISO files and extract the same way.

Either way, a set the catalog knows without its manifest (a rebuilt catalog) learns it from
the archive, so ``icefloe find`` works again for what was restored.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from icefloe import manifest as mf
from icefloe.catalog import Catalog
from icefloe.errors import InputNotFound, RetrievalPending
from icefloe.progress import NullProgress, Progress
from icefloe.restore.download import Downloaded
from icefloe.restore.extract import ExtractReport, extract_set
from icefloe.restore.options import RestoreOptions
from icefloe.restore.repair import check_and_repair, staging_for
from icefloe.restore.retrieval import (
    RestorePlan,
    download_path,
    fetch_volume,
    pending_message,
    refresh,
    volume_need,
    wait_for_job,
)
from icefloe.restore.sources import fill_holes, gather_discs
from icefloe.volumestream import VolumeSource, file_source

ProgressFor = Callable[[str], Progress]


def _null(_label: str) -> Progress:
    return NullProgress()


@dataclass(frozen=True)
class SetRestore:
    set_name: str
    report: ExtractReport
    downloaded: tuple[Downloaded, ...] = ()

    def to_json(self) -> dict:
        return {
            "set": self.set_name,
            **self.report.to_json(),
            "downloaded": [
                {"path": d.path, "size": d.size, "ranges": d.ranges, "fetched": d.fetched,
                 "resumed": d.resumed, "refetched": d.refetched} for d in self.downloaded
            ],
        }


def learn_manifest(catalog: Catalog, set_name: str, manifest: mf.Manifest | None) -> bool:
    """Give a set the catalog knows without entries (a rebuilt catalog) its manifest."""
    aset = catalog.get_archive_set(set_name)
    if manifest is None or aset is None or manifest.set_name != set_name or catalog.manifest(set_name):
        return False
    catalog.put_archive_set(
        replace(aset, file_count=manifest.file_count, total_bytes=manifest.total_bytes,
                encrypted=manifest.encrypted),
        manifest.catalog_entries(),
    )
    return True


@dataclass(frozen=True, slots=True)
class RestoreRun:
    """What a restore run did: the volumes still being retrieved (a run without ``wait``
    stops there), or each set's extraction report."""

    pending: tuple[str, ...]
    restored: tuple[ExtractReport, ...]


def download_volume(store, catalog: Catalog, archive: str, *, download_dir: Path, options: RestoreOptions,
                    progress: Progress | None = None) -> tuple[str, Downloaded | None]:
    """One retrieved volume of the catalog's archive ``archive``, downloaded (ranged, verified,
    resumable) unless a verified copy is already local: its path, and what the download did
    (None when nothing was fetched)."""
    record = catalog.get_archive(archive)
    if record is None:
        raise InputNotFound(f"the catalog has no archive {archive!r}")
    need = volume_need(store, catalog, record, download_dir)
    got = fetch_volume(store, need, download_dir=download_dir, options=options, progress=progress)
    return (got.path if got is not None else need.local or ""), got


def extract_downloaded(catalog: Catalog, set_name: str, volumes: Sequence[str], to: Path, *,
                       password: str | None, download_dir: Path, keep_downloads: bool,
                       select: str | None = None, overwrite: bool = False,
                       progress: Progress | None = None) -> ExtractReport:
    """Extract a set from its volume files into ``to``, each volume checked against the
    catalog's SHA-256 and every file against the manifest, which the catalog learns when it
    lacked it. After a clean restore the volumes downloaded into ``download_dir`` are removed
    (unless ``keep_downloads``); after a problem they stay, so no retrieval is paid twice.
    The report comes without its manifest, small enough to keep as a run's result."""
    records = {a.name: a for a in catalog.archives(set_name=set_name)}
    sources = [file_source(Path(p), records[Path(p).name].sha256 if Path(p).name in records else None)
               for p in volumes]
    report = extract_set(sources, to, password=password, set_name=set_name, select=select,
                         overwrite=overwrite, progress=progress)
    learn_manifest(catalog, set_name, report.manifest)
    if report.ok and not keep_downloads:
        for path in map(Path, volumes):
            if path.is_relative_to(download_dir):
                path.unlink(missing_ok=True)
    return replace(report, manifest=None)


def target_for(to: Path, set_name: str, *, per_set: bool) -> Path:
    """A partition's sets each go into their own folder; one set goes straight into ``to``."""
    return Path(to) / set_name if per_set else Path(to)


def restore_from_coldstore(
    store,
    catalog: Catalog,
    plan: RestorePlan,
    to: Path,
    *,
    download_dir: Path,
    password: str | None,
    options: RestoreOptions,
    wait: bool,
    per_set: bool = False,
    select: str | None = None,
    overwrite: bool = False,
    again: str = "icefloe restore",
    progress_for: ProgressFor = _null,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[SetRestore]:
    """Download and extract every set of ``plan`` (whose retrievals were started).

    Without ``wait`` raises RetrievalPending (saying to run ``again``) while any job runs.
    """
    if not wait:
        plan = refresh(store, plan)
        if plan.pending:
            raise RetrievalPending(pending_message(plan, again))
    results = []
    for set_name in plan.sets:
        downloads: list[Downloaded] = []
        sources: list[VolumeSource] = []
        for need in plan.of_set(set_name):
            if need.local is None:
                assert need.job_id is not None
                if need.job_status != "Succeeded":
                    wait_for_job(store, need.job_id, options=options, sleep=sleep, clock=clock)
                got = fetch_volume(store, need, download_dir=download_dir, options=options,
                                   progress=progress_for(f"download {need.archive}"))
                assert got is not None
                downloads.append(got)
                sources.append(file_source(Path(got.path), need.sha256, need.archive))
            else:
                sources.append(file_source(Path(need.local), need.sha256, need.archive))
        report = extract_set(
            sources, target_for(to, set_name, per_set=per_set), password=password, set_name=set_name,
            select=select, overwrite=overwrite, progress=progress_for(f"extract {set_name}"),
        )
        learn_manifest(catalog, set_name, report.manifest)
        if report.ok and not options.keep_downloads:
            for need in plan.of_set(set_name):
                if need.local is None:
                    download_path(download_dir, need).unlink(missing_ok=True)
        results.append(SetRestore(set_name, report, tuple(downloads)))
    return results


def restore_from_discs(
    paths: Sequence[Path],
    to: Path,
    *,
    password: str | None,
    catalog: Catalog | None = None,
    select: str | None = None,
    overwrite: bool = False,
    progress_for: ProgressFor = _null,
) -> list[SetRestore]:
    """Restore every set found on the discs (mounted folders or ISO files) into ``to``
    (one set: straight into it; several: a folder per set).

    Each volume is checked against its SHA-256 first; a damaged one is repaired from the
    discs' PAR2 recovery data into a temporary copy (:mod:`icefloe.restore.repair`), and the
    report names it. What cannot be repaired is extracted as far as it goes, as before.
    """
    sets = gather_discs(paths, password=password)
    staging = staging_for(Path(to))
    shutil.rmtree(staging, ignore_errors=True)  # a killed restore's copies
    try:
        return [_restore_disc_set(found, paths, to, staging, len(sets) > 1, password=password,
                                  catalog=catalog, select=select, overwrite=overwrite,
                                  progress_for=progress_for) for found in sets]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _restore_disc_set(
    found, paths: Sequence[Path], to: Path, staging: Path, per_set: bool, *, password: str | None,
    catalog: Catalog | None, select: str | None, overwrite: bool, progress_for: ProgressFor,
) -> SetRestore:
    fixes = check_and_repair(fill_holes(found.volumes), paths, staging / found.name)
    report = extract_set(
        fixes.sources, target_for(to, found.name, per_set=per_set),
        password=password, set_name=found.name, sidecar=found.sidecar, select=select,
        overwrite=overwrite, progress=progress_for(f"extract {found.name}"),
    )
    report = replace(report, repaired=tuple(fixes.repaired),
                     volume_problems=(*fixes.unrepaired, *report.volume_problems))
    if found.sidecar_problem and report.manifest_source != "archive":
        # Only then does it matter: the manifest inside the archive is the one used.
        report = replace(report, volume_problems=(*report.volume_problems, found.sidecar_problem))
    if catalog is not None:
        learn_manifest(catalog, found.name, report.manifest)
    return SetRestore(found.name, report)
