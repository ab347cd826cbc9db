"""The verified partition clear: every gate read from the catalog, then a staged delete.

A partition's files go only when every gate of DESIGN.md ("Nothing is lost") holds
(``gates``), read again right before anything moves. The delete is staged (``trash``): files
are renamed into a trash folder inside the partition, put back on rollback, and a crash is
recovered from the journal; only the commit, the last step, purges them and cannot be undone. ``PartitionClear`` gives the
steps a Prefect transaction wraps; ``clear_partition`` runs them all. See docs/clear.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from icefloe import units
from icefloe.catalog import Catalog
from icefloe.clear.gates import ARCHIVED, COPY_STORED, DISCS_MADE, Gate, check_gates, gate_error
from icefloe.clear.trash import (
    DEFAULT_SENTINEL,
    JOURNAL_VERSION,
    TRASH_DIR,
    ClearPlan,
    KeptFile,
    PlannedFile,
    Recovery,
    StagedClear,
    commit_staged,
    plan_clear,
    recover,
    rollback_staged,
    stage_files,
)
from icefloe.config import Settings
from icefloe.errors import ClearIncomplete, UsageError

__all__ = [
    "ARCHIVED", "COPY_STORED", "DEFAULT_SENTINEL", "DISCS_MADE", "JOURNAL_VERSION", "TRASH_DIR",
    "ClearIncomplete", "ClearPlan", "ClearResult", "Gate", "KeptFile", "PartitionClear",
    "PlannedFile", "Recovery", "StagedClear", "check_gates", "clear_partition", "gate_error",
    "plan_clear", "recover",
]


class PartitionClear:
    """The clear of one partition, in steps a Prefect transaction can wrap.

    ``stage`` (re-reads the gates) -> ``commit`` or ``rollback``. Each step is idempotent, so
    transaction hooks may run twice.
    """

    def __init__(
        self, catalog: Catalog, label: str, partition_path: Path, *,
        sentinel: str = DEFAULT_SENTINEL, burner_configured: bool, disc_configured: bool,
    ) -> None:
        self.catalog = catalog
        self.label = label
        self.path = Path(partition_path)
        self.sentinel = sentinel
        self.burner_configured = burner_configured
        self.disc_configured = disc_configured

    @classmethod
    def from_settings(cls, catalog: Catalog, settings: Settings, label: str) -> PartitionClear:
        part = settings.partition(label)
        return cls(
            catalog, label, part.path, sentinel=part.sentinel,
            burner_configured=settings.archive.burner != "none",
            disc_configured=settings.archive.disc != "none",
        )

    def gates(self) -> list[Gate]:
        return check_gates(self.catalog, self.label, burner_configured=self.burner_configured,
                           disc_configured=self.disc_configured)

    def require_gates(self) -> list[Gate]:
        gates = self.gates()
        error = gate_error(self.label, gates)
        if error is not None:
            raise error
        return gates

    def plan(self) -> ClearPlan:
        return plan_clear(self.path, self.catalog, self.label, self.sentinel)

    def stage(self, plan: ClearPlan) -> StagedClear:
        """Re-read the gates (they may have changed since the plan), then move the files."""
        if plan.label != self.label or Path(plan.partition) != self.path:
            raise UsageError(f"the plan is for {plan.label} at {plan.partition}, not {self.label}")
        self.require_gates()
        return stage_files(plan)

    def commit(self, staged: StagedClear) -> None:
        commit_staged(staged, self.catalog)

    def rollback(self, staged: StagedClear) -> tuple[str, ...]:
        return rollback_staged(staged)


@dataclass(frozen=True)
class ClearResult:
    label: str
    dry_run: bool
    plan: ClearPlan
    gates: tuple[Gate, ...]
    removed: tuple[str, ...] = ()
    kept: tuple[KeptFile, ...] = ()
    sets_cleared: tuple[str, ...] = ()


def clear_partition(
    catalog: Catalog, settings: Settings, label: str, *, confirm: bool, dry_run: bool = False
) -> ClearResult:
    """Gates, then (unless dry_run) stage, commit, and roll back on any failure.

    The caller makes the other partition active afterwards (``partitions.finish_handover``,
    also when this run found nothing left to clear: a crashed clear may still owe it).
    """
    clear = PartitionClear.from_settings(catalog, settings, label)
    if not dry_run and clear.path.is_dir():
        recover(clear.path, catalog)  # a clear a crash interrupted: finish or undo it first
    gates = tuple(clear.require_gates())
    plan = clear.plan()
    if dry_run or not plan.sets:  # nothing pending: a rerun after success changes nothing
        return ClearResult(label, dry_run, plan, gates, kept=plan.kept)
    if not confirm:
        raise UsageError(
            f"clearing {label} deletes {len(plan.entries)} files ({units.size(plan.total_bytes)}) from "
            f"{plan.partition}; pass --yes to clear, or --dry-run to list them"
        )
    staged = clear.stage(plan)
    try:
        clear.commit(staged)
    except BaseException as exc:
        left = clear.rollback(staged)
        if left:
            raise ClearIncomplete(
                f"clearing {label} failed ({exc}) and {len(left)} files could not be put back "
                f"(first: {left[0]}); look in {staged.stamp_dir}, then run clear again"
            ) from exc
        raise
    return ClearResult(label, False, plan, gates, staged.moved, staged.kept, plan.sets)
