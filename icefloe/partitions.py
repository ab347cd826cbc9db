"""The backup partitions: how full each one is, which one takes new data, and the switch.

Partitions are used in turn. New data goes to the active one; when it reaches
``pipeline.fill_threshold`` it is consolidated and archived, and the next partition becomes
active (``rotate``) so new photos keep landing somewhere while the uploads and discs take
their hours. A partition is switched to only when it holds nothing waiting to be cleared, so
it is back in use only after its previous contents were verified offsite and cleared. After a
clear, ``after_clear`` hands over if the cleared partition was still the active one
(``finish_handover`` does it once for each committed clear, also after a crash). The
active label lives in the catalog's meta table under ``active_partition``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from icefloe.catalog import Catalog
from icefloe.clear import check_gates
from icefloe.clear.trash import HANDOVER_KEY
from icefloe.config import PartitionConfig, Settings
from icefloe.errors import ConfigInvalid, GateNotMet, InputNotFound, UsageError
from icefloe.lifecycle import live_set

ACTIVE_KEY = "active_partition"
GIB = 1024**3


def data_bytes(path: Path) -> int:
    """Apparent size of everything under ``path`` (symlinks not followed, trash included)."""
    total, stack = 0, [Path(path)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_size
    return total


def fill_level(path: Path, capacity_bytes: int | None = None) -> float:
    """How full a partition is, 0.0 to 1.0 (more when over a configured capacity).

    With ``capacity_bytes`` it is the data under ``path`` over that capacity, which is what
    counts when several partitions share one filesystem. Without it, the filesystem's use as
    ``df`` shows it: used / (used + available to users).
    """
    path = Path(path)
    if not path.is_dir():
        raise InputNotFound(f"partition folder {path} does not exist; is the disk mounted?")
    if capacity_bytes is not None:
        if capacity_bytes <= 0:
            raise UsageError(f"capacity of {path} must be positive, not {capacity_bytes}")
        return data_bytes(path) / capacity_bytes
    usage = shutil.disk_usage(path)
    room = usage.used + usage.free
    return usage.used / room if room else 0.0


def capacity_bytes(part: PartitionConfig) -> int | None:
    """The configured capacity (``partitions[].capacity_gib``), or None to use the filesystem's."""
    gib = getattr(part, "capacity_gib", None)  # optional field; see docs/clear.md
    return int(gib * GIB) if gib else None


def is_mounted(part: PartitionConfig) -> bool:
    return (Path(part.path) / part.sentinel).is_file()


def mount_hint(part: PartitionConfig) -> str | None:
    """What to do about a partition that is not mounted; None when it is."""
    folder = Path(part.path)
    sentinel = folder / part.sentinel
    if not folder.is_dir():
        return (f"{folder} does not exist: mount the disk there, or for a new disk create the "
                f"folder and its sentinel ({sentinel})")
    if not sentinel.is_file():
        return (f"{part.sentinel} is missing in {folder}: mount the disk there, or if it is "
                f"mounted, create the sentinel ({sentinel})")
    return None


def partition_fill(part: PartitionConfig) -> float:
    return fill_level(Path(part.path), capacity_bytes(part))


def _labels(settings: Settings) -> list[str]:
    labels = [p.label for p in settings.partitions]
    if not labels:
        raise ConfigInvalid(
            "no partitions are configured; add [[partitions]] entries to icefloe.toml"
        )
    return labels


def active_partition(catalog: Catalog, settings: Settings) -> str:
    """The partition taking new data: the stored one, else the first configured."""
    labels = _labels(settings)
    stored = catalog.get_state(ACTIVE_KEY)
    # A label no longer configured (renamed in the file) falls back rather than failing status.
    return stored if stored in labels else labels[0]


def set_active(catalog: Catalog, settings: Settings, label: str) -> None:
    settings.partition(label)  # raises for an unknown label
    catalog.set_state(ACTIVE_KEY, label)


def pending_sets(catalog: Catalog, label: str) -> list[str]:
    """Archive sets of a partition not cleared yet: its data still waits for its gates."""
    return [s.name for s in catalog.archive_sets(label) if s.cleared_at is None]


def _why_not(catalog: Catalog, part: PartitionConfig) -> str | None:
    if not is_mounted(part):
        return f"{part.label} is not mounted ({part.sentinel} missing in {part.path})"
    waiting = pending_sets(catalog, part.label)
    if waiting:
        return f"{part.label} still holds {', '.join(waiting)} waiting to be cleared"
    return None


def rotate(catalog: Catalog, settings: Settings, full_label: str) -> str:
    """Make the partition after ``full_label`` active and return its label.

    Idempotent: when ``full_label`` is no longer active, the active label is returned
    unchanged. The next partition in configuration order that is mounted and holds no set
    waiting to be cleared is chosen; when none qualifies nothing changes and ``GateNotMet``
    says why, so new data never lands on a partition whose old data is not yet safe offsite.
    """
    labels = _labels(settings)
    settings.partition(full_label)
    if len(labels) < 2:
        raise UsageError(f"only {full_label} is configured; rotation needs a second partition")
    active = active_partition(catalog, settings)
    if active != full_label:
        return active
    start = labels.index(full_label)
    reasons = []
    for label in labels[start + 1 :] + labels[:start]:
        reason = _why_not(catalog, settings.partition(label))
        if reason is None:
            catalog.set_state(ACTIVE_KEY, label)
            return label
        reasons.append(reason)
    raise GateNotMet(
        f"{full_label} stays active: {'; '.join(reasons)}. Clear a partition once its archives "
        "are verified (icefloe clear LABEL --yes), then rotate again"
    )


def after_clear(catalog: Catalog, settings: Settings, cleared_label: str) -> str:
    """After ``cleared_label`` was cleared: hand over if it is still active; return the active.

    Normally the switch happened at the fill threshold and this changes nothing. When the other
    partitions still wait for their own clear, the freshly cleared one simply stays active.
    """
    active = active_partition(catalog, settings)
    if active != cleared_label or len(settings.partitions) < 2:
        return active
    try:
        return rotate(catalog, settings, cleared_label)
    except GateNotMet:
        return active


def finish_handover(catalog: Catalog, settings: Settings, cleared_label: str) -> str:
    """The switch a committed clear of ``cleared_label`` still owes (``after_clear``), once.

    A clear's commit records the handover before it marks its sets cleared, so a clear
    stopped after that point (a crash, a kill) still switches on its rerun, and a rerun that
    finds nothing left to clear switches only if a clear is owed its switch. Returns the
    active partition.
    """
    key = HANDOVER_KEY.format(label=cleared_label)
    if not catalog.get_state(key) or pending_sets(catalog, cleared_label):
        return active_partition(catalog, settings)
    active = after_clear(catalog, settings, cleared_label)
    catalog.set_state(key, "")
    return active


@dataclass(frozen=True)
class PartitionStatus:
    label: str
    path: str
    mounted: bool  # the sentinel is there
    active: bool
    fill: float | None  # None when not mounted
    full: bool  # fill reached pipeline.fill_threshold
    capacity_bytes: int | None
    pending_sets: tuple[str, ...]
    open_gates: int  # failing clear gates of the pending sets
    last_mirror_at: str | None
    last_mirror_ok: bool | None
    hint: str | None = None  # for a partition not mounted: how to mount it or create its sentinel


def status(catalog: Catalog, settings: Settings) -> list[PartitionStatus]:
    """One row per configured partition, for ``icefloe status`` and the pipeline's decisions."""
    active = active_partition(catalog, settings)
    rows = []
    for part in settings.partitions:
        mounted = is_mounted(part)
        fill = partition_fill(part) if mounted else None
        waiting = tuple(pending_sets(catalog, part.label))
        gates = check_gates(
            catalog, part.label,
            burner_configured=settings.archive.burner != "none",
            disc_configured=settings.archive.disc != "none",
        ) if waiting else []
        run = catalog.last_mirror_run(part.label)
        rows.append(PartitionStatus(
            label=part.label, path=str(part.path), mounted=mounted, active=part.label == active,
            fill=fill, full=fill is not None and fill >= settings.pipeline.fill_threshold,
            capacity_bytes=capacity_bytes(part), pending_sets=waiting,
            open_gates=sum(not g.ok for g in gates),
            last_mirror_at=run.finished_at if run else None, last_mirror_ok=run.ok if run else None,
            hint=mount_hint(part),
        ))
    return rows


@dataclass(frozen=True, slots=True)
class FillCheck:
    """The nightly fill check: the active partition after it, its fill level, the partition
    that handed over and goes to archiving (None when none does), and why, in a line."""

    active: str
    fill: float
    full: str | None
    note: str


def hand_over_when_full(catalog: Catalog, settings: Settings) -> FillCheck:
    """When the active partition is over ``pipeline.fill_threshold``, the next one becomes active.

    ``full`` names a partition only when it handed over and holds no live set: a partition that
    stays active (rotation refused) keeps taking data and is not archived, however many nights
    it stays full, and one already being archived is not archived twice.
    """
    label = active_partition(catalog, settings)
    part = settings.partition(label)
    level = fill_level(part.path, capacity_bytes(part))
    filled = f"{label} is {100 * level:.0f}% full"
    if level < settings.pipeline.fill_threshold:
        return FillCheck(label, level, None, f"active partition {filled}")
    try:
        active = rotate(catalog, settings, label)
    except (GateNotMet, UsageError) as exc:
        return FillCheck(label, level, None, f"{filled} but stays active, so it is not archived yet: {exc.message}")
    running = live_set(catalog, label)
    if running is not None:
        return FillCheck(active, level, None, f"{filled} and already being archived ({running.name}); "
                         f"{active} is active")
    return FillCheck(active, level, label, f"{filled} and goes to archiving; {active} is now active")
