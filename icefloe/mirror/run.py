"""Mirroring a partition: check, run rsync, judge the outcome, record it in the catalog."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from icefloe.catalog import CHECKSUM_MIRROR_DUE, MIRROR_CHECKSUM, MIRROR_OK, Catalog, MirrorRun, now_iso
from icefloe.config import Settings
from icefloe.errors import ConfigInvalid, IcefloeError, MirrorFailed, MirrorRefused
from icefloe.mirror.command import (
    MirrorOptions,
    MirrorTarget,
    build_command,
    check_source,
    is_empty,
    source_size,
)
from icefloe.mirror.output import Collector, Runner, SubprocessRunner, classify
from icefloe.progress import NullProgress, Progress

RESULT_VERSION = 1


@dataclass(frozen=True, slots=True)
class MirrorSummary:
    """The small record of a run (docs/mirror.md, "Run summary"), as the mirror task returns it."""

    label: str
    target: str
    ok: bool
    dry_run: bool
    exit_code: int
    files_transferred: int
    files_deleted: int
    bytes_sent: int
    literal_bytes: int
    transferred_size: int
    duration_s: float
    warnings: tuple[str, ...]
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {"version": RESULT_VERSION, **asdict(self), "warnings": list(self.warnings)}


@dataclass(frozen=True)
class MirrorResult:
    """One rsync run of one partition. ``error`` is what ``raise_for_status`` raises."""

    label: str
    target: str
    exit_code: int
    ok: bool
    dry_run: bool = False
    files_transferred: int = 0
    files_deleted: int = 0
    bytes_sent: int = 0
    literal_bytes: int = 0
    matched_bytes: int = 0
    total_size: int = 0
    transferred_size: int = 0  # the files' own bytes, sent (or, in a dry run, to send)
    duration_s: float = 0.0
    warnings: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()  # itemized lines, at most MAX_CHANGES
    changes_total: int = 0
    deletions_skipped: int = 0
    stderr_tail: tuple[str, ...] = ()
    error: IcefloeError | None = field(default=None, compare=False)

    @property
    def message(self) -> str | None:
        return self.error.message if self.error else None

    def raise_for_status(self) -> None:
        if self.error is not None:
            raise self.error

    def record(self) -> MirrorSummary:
        return MirrorSummary(
            self.label, self.target, self.ok, self.dry_run, self.exit_code, self.files_transferred,
            self.files_deleted, self.bytes_sent, self.literal_bytes, self.transferred_size,
            round(self.duration_s, 3), self.warnings, self.message,
        )

    def summary(self) -> dict[str, Any]:
        """The small, JSON-able record of a run (docs/mirror.md, "Run summary")."""
        return self.record().as_json()


def mirror_partition(
    source: Path,
    target: MirrorTarget,
    options: MirrorOptions,
    *,
    label: str,
    sentinel: str = ".icefloe-partition",
    dry_run: bool = False,
    allow_empty: bool = False,
    max_delete: int | None = None,
    progress: Progress | None = None,
    runner: Runner | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> MirrorResult:
    """Mirror one partition into ``target`` (already the partition's folder) and report.

    Raises ``MirrorRefused`` before rsync starts when the source is not the backup disk.
    Otherwise returns a result, also for a failed run: check ``ok`` or ``raise_for_status()``.

    An empty partition (nothing but its sentinel) is first compared in a dry run: if its
    mirror holds anything, the run is refused and the mirror left untouched; if the mirror is
    empty too, it runs (deletions still forbidden). ``allow_empty`` lifts that, and
    ``max_delete`` replaces ``options.max_delete``, for one deliberate run (after a clear).
    """
    check_source(source, sentinel, require_mount=options.require_mount, label=label)
    if not target.is_remote and not Path(target.path).parent.is_dir():
        raise MirrorFailed(
            f"the mirror folder {Path(target.path).parent} does not exist; create it "
            "(or mount the NAS that holds it) and run again"
        )
    if max_delete is not None:
        options = replace(options, max_delete=max_delete)
    runner = runner or SubprocessRunner()
    run = functools.partial(_rsync, source, target, label=label, runner=runner, clock=clock)
    if allow_empty or not is_empty(source, sentinel):
        return run(options, dry_run=dry_run, progress=progress or NullProgress())
    options = replace(options, max_delete=0)
    probe = run(options, dry_run=True, progress=NullProgress())
    if probe.exit_code == 25:
        refused = MirrorRefused(
            f"partition {label} ({source}) holds nothing but its sentinel file, so the mirror was "
            f"left untouched ({probe.deletions_skipped or 'some'} item(s) there would have been "
            "deleted); if it was emptied by mistake, restore it from the mirror, and if it was "
            f"cleared on purpose, run `icefloe mirror {label} --allow-empty` once to empty the mirror too"
        )
        return replace(probe, ok=False, dry_run=dry_run, error=refused)
    if dry_run or not probe.ok:
        return probe
    return run(options, dry_run=False, progress=progress or NullProgress())


def _rsync(
    source: Path,
    target: MirrorTarget,
    options: MirrorOptions,
    *,
    label: str,
    dry_run: bool,
    progress: Progress,
    runner: Runner,
    clock: Callable[[], float],
) -> MirrorResult:
    """One rsync run, its output parsed and its exit code judged."""
    argv = build_command(source, target, options, dry_run=dry_run)
    got = Collector(progress)
    started = clock()
    progress.on_queued(source_size(source), f"mirror {label}")
    try:
        code = runner.run(argv, got.stdout, got.stderr)
        got.close()
    finally:
        progress.on_done()
    warnings, error = classify(code, got, label=label, target=target, source=source, options=options)
    return MirrorResult(
        label=label,
        target=str(target),
        exit_code=code,
        ok=error is None,
        dry_run=dry_run,
        duration_s=clock() - started,
        warnings=warnings,
        changes=tuple(got.changes),
        changes_total=got.changes_total,
        deletions_skipped=got.deletions_skipped,
        stderr_tail=tuple(got.tail),
        error=error,
        **got.stats,
    )


def target_for(settings: Settings, label: str) -> MirrorTarget:
    if not settings.mirror.target:
        raise ConfigInvalid(
            'mirror.target is not set; add target = "user@host:/srv/mirror" (or a local folder) '
            "under [mirror] in the configuration"
        )
    return MirrorTarget.parse(settings.mirror.target).for_partition(label)


def record_run(
    catalog: Catalog, label: str, started_at: str, result: MirrorResult | None, error: IcefloeError | None,
    *, checksum: bool = False,
) -> None:
    """The run in the catalog, and the MIRROR_OK (and for a ``checksum`` run MIRROR_CHECKSUM)
    verifications the clear stage reads."""
    ok = result.ok if result is not None else False
    message = (result.message if result is not None else None) or (error.message if error else None)
    detail = message or (result.target if result is not None else None)
    catalog.record_mirror_run(
        MirrorRun(
            partition_label=label,
            started_at=started_at,
            finished_at=now_iso(),
            ok=ok,
            exit_code=result.exit_code if result is not None else None,
            files_transferred=result.files_transferred if result is not None else None,
            files_deleted=result.files_deleted if result is not None else None,
            bytes_sent=result.bytes_sent if result is not None else None,
            warnings="\n".join(result.warnings) if result is not None and result.warnings else None,
            detail=detail,
        )
    )
    catalog.verify(f"partition:{label}", MIRROR_OK, ok, detail)
    if checksum:
        catalog.verify(f"partition:{label}", MIRROR_CHECKSUM, ok, detail)
        if ok:
            catalog.set_state(CHECKSUM_MIRROR_DUE.format(label=label), "")


def run_mirror(
    settings: Settings,
    label: str,
    *,
    catalog: Catalog,
    dry_run: bool = False,
    allow_empty: bool = False,
    max_delete: int | None = None,
    progress: Progress | None = None,
    runner: Runner | None = None,
    check: bool = True,
    checksum: bool = False,
) -> MirrorResult:
    """Mirror the configured partition ``label`` and record the outcome (dry runs are not).

    ``checksum`` compares every byte (rsync --checksum); it is also used when a clear asked
    for it (``CHECKSUM_MIRROR_DUE``). The archive pipeline's mirror after consolidation is
    one, because the clear gate wants the mirror to hold the very bytes a clear removes.

    With ``check`` (the default) a failed run raises after it is recorded; without it the
    caller gets the result and calls ``raise_for_status()`` itself (after reporting it).
    A refusal before rsync starts always raises (and is recorded): there is no run to report.
    ``allow_empty`` and ``max_delete`` are as for ``mirror_partition``.
    """
    part = settings.partition(label)
    target = target_for(settings, label)
    started_at = now_iso()
    checksum = checksum or bool(catalog.get_state(CHECKSUM_MIRROR_DUE.format(label=label)))
    options = replace(MirrorOptions.from_config(settings.mirror), checksum=checksum)
    cleared = cleared_since_last_mirror(catalog, label)
    if cleared is not None:
        # A verified clear emptied the partition on purpose: let the mirror follow it, deleting
        # at most what the clear removed (plus the configured cap for anything since).
        allow_empty = True
        max_delete = max(max_delete or settings.mirror.max_delete, cleared + settings.mirror.max_delete)
    try:
        result = mirror_partition(
            part.path,
            target,
            options,
            label=label,
            sentinel=part.sentinel,
            dry_run=dry_run,
            allow_empty=allow_empty,
            max_delete=max_delete,
            progress=progress,
            runner=runner,
        )
    except IcefloeError as exc:
        if not dry_run:
            record_run(catalog, label, started_at, None, exc, checksum=checksum)
        raise
    except KeyboardInterrupt:
        # rsync was stopped part-way: the mirror is neither the old copy nor the new one.
        if not dry_run:
            stopped = MirrorFailed(f"mirror of {label} was interrupted; run it again to finish it")
            record_run(catalog, label, started_at, None, stopped, checksum=checksum)
        raise
    if not dry_run:
        record_run(catalog, label, started_at, result, None, checksum=checksum)
    if check:
        result.raise_for_status()
    return result


def cleared_since_last_mirror(catalog: Catalog, label: str) -> int | None:
    """Entries removed by clears the mirror has not followed yet, or None when there were none."""
    last_ok = next((run for run in catalog.mirror_runs(label) if run.ok), None)
    since = last_ok.finished_at if last_ok else ""
    sets = [s for s in catalog.archive_sets(label) if s.cleared_at and s.cleared_at > since]
    if not sets:
        return None
    return sum(len(catalog.manifest(s.name)) for s in sets)
