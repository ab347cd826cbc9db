"""What a clear removed (or would remove) and kept, as a small record, and how it settled.

The clear stages hand these between them and Prefect persists them, so a summary holds counts
in full but at most ``LIST_LIMIT`` paths: a partition of a million photos stays a small result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from icefloe import units
from icefloe.catalog import Catalog
from icefloe.clear.trash import TRASH_DIR, ClearPlan, KeptFile, StagedClear
from icefloe.errors import ClearIncomplete, IcefloeError, UsageError

LIST_LIMIT = 200  # paths listed in a summary (and so in an artifact); the counts are always whole


def _kept(kept: tuple[KeptFile, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((k.path, k.reason) for k in kept[:LIST_LIMIT])


@dataclass(frozen=True, slots=True)
class ClearSummary:
    """A clear's plan, or what its staging moved (then ``stamp`` names the trash folder)."""

    label: str
    partition: str
    sets: tuple[str, ...]
    files: int
    bytes: int
    paths: tuple[str, ...]  # the first LIST_LIMIT of ``files``
    kept: int
    kept_paths: tuple[tuple[str, str], ...]  # (path, why), the first LIST_LIMIT of ``kept``
    stamp: str | None = None

    @classmethod
    def of_plan(cls, plan: ClearPlan) -> ClearSummary:
        return cls(plan.label, plan.partition, tuple(plan.sets), len(plan.entries), plan.total_bytes,
                   tuple(plan.files[:LIST_LIMIT]), len(plan.kept), _kept(plan.kept))

    @classmethod
    def of_staged(cls, plan: ClearPlan, staged: StagedClear) -> ClearSummary:
        """What the staging really moved: a file that changed since the plan stays, and says why."""
        moved = set(staged.moved)
        return cls(plan.label, plan.partition, tuple(staged.sets), len(staged.moved),
                   sum(e.size for e in plan.entries if e.path in moved), tuple(staged.moved[:LIST_LIMIT]),
                   len(staged.kept), _kept(staged.kept), stamp=staged.stamp)

    def require_confirmation(self, confirm: bool) -> None:
        """A clear deletes: without ``confirm`` it stops here, saying how much it would delete."""
        if not confirm:
            raise UsageError(
                f"clearing {self.label} deletes {self.files} files ({units.exact_size(self.bytes)}) "
                f"from {self.partition}; run again with confirm=True, or dry_run=True to list them"
            )


def confirm_settled(catalog: Catalog, staged: ClearSummary, commit_error: str | None = None) -> None:
    """After the transaction around a staged clear: pass when it committed (every set cleared,
    the trash folder gone), else say what happened. ``commit_error`` is why a commit failed."""
    why = commit_error or "the commit did not finish"
    stamp_dir = Path(staged.partition) / TRASH_DIR / (staged.stamp or "")
    if staged.stamp and stamp_dir.exists():
        raise ClearIncomplete(
            f"clearing {staged.label} failed ({why}) and some files could not be put back; look in "
            f"{stamp_dir}, then run clear again"
        )
    if not all((s := catalog.get_archive_set(name)) is not None and s.cleared_at for name in staged.sets):
        raise IcefloeError(
            f"clearing {staged.label} failed after the files were moved ({why}); every file was put "
            "back and nothing was cleared: fix the cause, then run clear again"
        )


@dataclass(frozen=True, slots=True)
class ClearRun:
    """What a clear-partition run did: its summary, whether it cleared, the active partition
    after it and the catalog snapshot that recorded it."""

    summary: ClearSummary
    dry_run: bool
    cleared: bool
    active: str | None = None
    snapshot: str | None = None
