"""Confirming stored copies against inventories: the hourly poll's decisions, in one place.

A copy is confirmed when an inventory (vault) or a listing (S3) shows it with the size and
checksum the catalog holds: the INVENTORY_SEEN check the clear gates read. The poll reads
every inventory job of the configured container that has not been read yet (a vault job
finishes hours later; an S3 listing is finished when it is requested), and asks for a new one
while copies there are still unconfirmed. It asks only about the configured vault or bucket:
copies left in a container no longer configured are reported, never polled for.

``poll`` is what the poll-inventory flow does, for `icefloe inventory reconcile` by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from icefloe.catalog import INVENTORY_SEEN, Catalog, CopyRecord
from icefloe.coldstore import parse_inventory, reconcile
from icefloe.coldstore.inventory import Reconciliation
from icefloe.errors import ChecksumMismatch, JobNotReady

UNREAD = ("InProgress", "Succeeded")  # a job whose output was fetched is "Fetched"


def is_confirmed(catalog: Catalog, copy: CopyRecord) -> bool:
    check = catalog.latest_verification(f"archive:{copy.archive_name}", INVENTORY_SEEN)
    return check is not None and check.ok


def unconfirmed(catalog: Catalog, backend: str, container: str) -> list[CopyRecord]:
    """Copies in this vault or bucket that no inventory has confirmed yet."""
    return [c for c in catalog.copies(backend=backend) if c.container == container and not is_confirmed(catalog, c)]


def unconfirmed_elsewhere(catalog: Catalog, backend: str, container: str) -> list[CopyRecord]:
    """Unconfirmed copies in containers no longer configured (after a backend switch)."""
    return [c for c in catalog.copies() if (c.backend, c.container) != (backend, container)
            and not is_confirmed(catalog, c)]


def unread_jobs(catalog: Catalog, backend: str, container: str) -> list[str]:
    """Inventory jobs of this container whose output has not been read, oldest first."""
    return [j.job_id for j in catalog.jobs(kind="inventory")
            if j.status in UNREAD and (j.backend, j.container) == (backend, container)]


@dataclass(frozen=True, slots=True)
class JobCounts:
    """What one inventory job said, in counts (all 0 while the job still runs)."""

    job: str
    ready: bool
    seen: int = 0
    pending: int = 0
    unknown: int = 0
    mismatched: int = 0
    missing: int = 0

    def describe(self) -> str:
        if not self.ready:
            return f"Inventory {self.job[:16]}: still running"
        return (f"Inventory {self.job[:16]}: {self.seen} confirmed, {self.mismatched} mismatched, "
                f"{self.missing} missing, {self.pending} pending, {self.unknown} unknown")


@dataclass(frozen=True)
class JobReading:
    """One inventory job read against the catalog; ``result`` is None while it still runs."""

    job_id: str
    result: Reconciliation | None = None

    @property
    def ready(self) -> bool:
        return self.result is not None

    def problems(self) -> list[str]:
        if self.result is None:
            return []
        found = [f"{c.archive_name}: {why}" for c, why in self.result.mismatched]
        return found + [f"{c.archive_name}: missing from the inventory" for c in self.result.missing]

    def counts(self) -> JobCounts:
        r = self.result
        if r is None:
            return JobCounts(self.job_id, ready=False)
        return JobCounts(self.job_id, True, seen=len(r.seen), pending=len(r.pending), unknown=len(r.unknown),
                         mismatched=len(r.mismatched), missing=len(r.missing))

    def summary(self) -> dict:
        """The counts as JSON for the CLI: ``job`` and ``ready``, then the counts when ready."""
        counts = asdict(self.counts())
        return counts if self.ready else {"job": self.job_id, "ready": False}

    def rows(self) -> list[dict[str, str]]:
        """One row per copy and unknown archive, for a table a person reads."""
        if self.result is None:
            return []
        r = self.result
        return (
            [{"archive": c.archive_name, "remote id": c.remote_id, "state": "confirmed", "why": ""} for c in r.seen]
            + [{"archive": c.archive_name, "remote id": c.remote_id, "state": "MISMATCH", "why": why}
               for c, why in r.mismatched]
            + [{"archive": c.archive_name, "remote id": c.remote_id, "state": "MISSING",
                "why": "older than the inventory"} for c in r.missing]
            + [{"archive": c.archive_name, "remote id": c.remote_id, "state": "pending",
                "why": "newer than the inventory"} for c in r.pending]
            + [{"archive": (i.parsed.name if i.parsed else "?"), "remote id": i.remote_id, "state": "unknown",
                "why": "not in the catalog"} for i in r.unknown]
        )

    def raise_on_problems(self) -> None:
        """Size or checksum mismatches are loud and never retried: the stored copy differs."""
        problems = self.problems()
        if problems:
            raise ChecksumMismatch("the inventory disagrees with the catalog: " + "; ".join(problems))


def read_job(store, catalog: Catalog, job_id: str, work_dir: Path) -> JobReading:
    """Fetch a finished inventory job and reconcile it (recording INVENTORY_SEEN checks)."""
    dest = Path(work_dir) / "inventories" / f"{job_id[:40].replace(':', '-')}.json"
    try:
        fetched = store.fetch_job_output(job_id, dest)
    except JobNotReady:
        return JobReading(job_id)
    return JobReading(job_id, reconcile(parse_inventory(Path(fetched.path)), catalog))


@dataclass(frozen=True, slots=True)
class InventoryPoll:
    """What the poll-inventory flow did: the jobs it reconciled, those still running, the
    inventory it requested, and how many copies sit in a container no longer configured."""

    reconciled: tuple[JobCounts, ...]
    running: tuple[str, ...]
    requested: str | None
    elsewhere: int


@dataclass
class PollResult:
    readings: list[JobReading] = field(default_factory=list)
    requested: str | None = None
    unconfirmed: int = 0  # copies in the configured container still unconfirmed afterwards
    elsewhere: int = 0  # unconfirmed copies in containers no longer configured

    @property
    def running(self) -> list[str]:
        return [r.job_id for r in self.readings if not r.ready]


def poll(store, catalog: Catalog, work_dir: Path) -> PollResult:
    """Read every unread inventory job; when none still runs and copies wait, request one and
    read it at once (an S3 listing is finished when requested; a vault job reads as running)."""
    backend, container = store.backend, store.container
    result = PollResult()
    for job_id in unread_jobs(catalog, backend, container):
        result.readings.append(read_job(store, catalog, job_id, work_dir))
    if not result.running and unconfirmed(catalog, backend, container):
        result.requested = store.request_inventory().job_id
        result.readings.append(read_job(store, catalog, result.requested, work_dir))
    result.unconfirmed = len(unconfirmed(catalog, backend, container))
    result.elsewhere = len(unconfirmed_elsewhere(catalog, backend, container))
    return result
