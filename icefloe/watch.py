"""What waits on the owner: a full partition nobody archived, a set whose clear waits too long.

These are catalog facts, not Prefect events, so the watch-partitions flow reads them once a
day and emits one event per concern; the automation "icefloe: needs attention"
(deployments/automations.yaml) turns each into a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from icefloe.catalog import Catalog
from icefloe.clear import check_gates
from icefloe.config import Settings
from icefloe.partitions import status

EVENT_PREFIX = "icefloe.attention."


@dataclass(frozen=True)
class Concern:
    kind: Literal["full-not-archived", "gates-waiting"]
    subject: str  # the partition's label, or the archive set's name
    partition: str
    message: str  # plain words: what, since when, what to do

    @property
    def event(self) -> str:
        return EVENT_PREFIX + self.kind


def concerns(catalog: Catalog, settings: Settings, now: datetime | None = None) -> list[Concern]:
    """Every concern of every configured partition, in the order of the configuration."""
    now = now or datetime.now(timezone.utc)
    wait = timedelta(days=settings.notify.gate_wait_days)
    found = []
    for row in status(catalog, settings):
        if row.full and not row.pending_sets:
            found.append(Concern(
                "full-not-archived", row.label, row.label,
                f"{row.label} is {row.fill * 100:.0f}% full (the threshold is "
                f"{settings.pipeline.fill_threshold * 100:.0f}%) and no archive of it has started. "
                f"Run the archive-partition deployment with label {row.label} (or `icefloe archive {row.label}`).",
            ))
        waiting = []
        for name in row.pending_sets:
            record = catalog.get_archive_set(name)
            if record is None or not record.created_at:
                continue
            since = datetime.fromisoformat(record.created_at)
            if now - since > wait:
                waiting.append((name, since))
        if not waiting:
            continue
        open_gates = [g for g in check_gates(catalog, row.label, burner_configured=settings.archive.burner != "none",
                                             disc_configured=settings.archive.disc != "none") if not g.ok]
        if not open_gates:
            continue  # every gate holds: the clear may run, it only has not been started
        gates = "; ".join(f"{g.kind} of {g.subject}: {g.detail}" for g in open_gates[:5])
        more = f" (and {len(open_gates) - 5} more)" if len(open_gates) > 5 else ""
        for name, since in waiting:
            days = (now - since).total_seconds() / 86400
            found.append(Concern(
                "gates-waiting", name, row.label,
                f"archive set {name} of {row.label} was made {days:.0f} days ago and its clear still waits "
                f"on {len(open_gates)} gate(s): {gates}{more}. `icefloe status` lists them; each names "
                "what to do (an inventory to reconcile, a disc to verify, a mirror to run).",
            ))
    return found
