"""A rebuilt catalog starts from the newest catalog snapshot in cold storage.

An inventory knows which archives exist; the snapshot knows the rest: which sets were
cleared, which copies were confirmed, the manifests (so ``find`` answers at once), the disc
images and the active partition. S3 snapshots are readable at once; a vault snapshot is an
archive like the others and needs a retrieval job (hours), found through the inventory.
A damaged or half-written snapshot is passed over for the one before it; a wrong password
stops with one line.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from icefloe.catalog import Catalog
from icefloe.coldstore import Inventory
from icefloe.coldstore.snapshots import SnapshotStore, StoredSnapshot
from icefloe.errors import CatalogError, ChecksumMismatch, PasswordError, RetrievalPending
from icefloe.snapshot import is_snapshot_name, merge_snapshot, open_snapshot


@dataclass(frozen=True)
class SnapshotRebuild:
    name: str | None  # the snapshot merged; None when there was none to use
    created: str | None = None
    tables: dict[str, int] = field(default_factory=dict)  # rows added per table
    skipped: tuple[str, ...] = ()  # damaged snapshots passed over, newest first

    def summary(self) -> str:
        if self.name is None:
            return "no catalog snapshot found: rebuilt from the inventory alone"
        skipped = f" ({len(self.skipped)} damaged newer one(s) passed over)" if self.skipped else ""
        return (f"catalog snapshot {self.name} of {self.created}: added "
                f"{self.tables.get('archive_sets', 0)} sets, {self.tables.get('manifest_entries', 0)} "
                f"manifest entries{skipped}")


def _merge_file(catalog: Catalog, path: Path, password: str | None) -> tuple[dict, dict[str, int]]:
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".open-") as tmp:
        db, info = open_snapshot(path, password, Path(tmp))
        return info, merge_snapshot(catalog, db).tables


def merge_s3_snapshot(store: SnapshotStore, catalog: Catalog, *, work_dir: Path,
                      password: str | None) -> SnapshotRebuild:
    """Merge the newest usable snapshot of the bucket into ``catalog``."""
    folder = Path(work_dir) / "snapshots"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    skipped: list[str] = []
    for snap in store.newest_s3():
        path = folder / snap.name
        try:
            checked = store.fetch_s3(snap, path)
            info, tables = _merge_file(catalog, path, password)
        except (CatalogError, ChecksumMismatch):
            skipped.append(snap.name)
            continue
        except PasswordError:
            if checked:  # intact, so it is the password
                raise
            skipped.append(snap.name)  # unchecked: as likely cut short as locked
            continue
        return SnapshotRebuild(snap.name, info.get("created"), tables, tuple(skipped))
    return SnapshotRebuild(None, skipped=tuple(skipped))


def vault_snapshots(inventory: Inventory) -> list[StoredSnapshot]:
    """The vault's snapshot archives, newest first, from an inventory's descriptions."""
    found = [StoredSnapshot(item.parsed.name, item.remote_id, item.size, item.parsed.created)
             for item in inventory.items if item.parsed is not None and is_snapshot_name(item.parsed.name)]
    return sorted(found, key=lambda s: s.name, reverse=True)


def merge_vault_snapshot(coldstore, catalog: Catalog, inventory: Inventory, *, work_dir: Path,
                         password: str | None, wait_for_job, again: str) -> SnapshotRebuild:
    """Merge the newest vault snapshot, retrieving it first (a job, reused when it exists).

    ``wait_for_job(job_id)`` waits for a job, or is None to raise RetrievalPending when the
    retrieval is still running.
    """
    snaps = vault_snapshots(inventory)
    if not snaps:
        return SnapshotRebuild(None)
    newest = snaps[0]
    jobs = [j for j in coldstore.list_jobs()
            if j.kind != "inventory" and getattr(j, "target", None) == newest.remote_id
            and j.status in ("Succeeded", "InProgress")]
    job = next((j for j in reversed(jobs) if j.done), None) or (jobs[-1] if jobs else None)
    if job is None:
        job = coldstore.request_retrieval(newest.remote_id, "Standard", days=1)
    if not job.done:
        if wait_for_job is None:
            raise RetrievalPending(
                f"the inventory is in the catalog; catalog snapshot {newest.name} is being retrieved "
                f"(job {job.job_id[:16]}..., hours on AWS): run `{again}` again later to add which "
                "sets were cleared and their manifests, or add --wait"
            )
        job = wait_for_job(job.job_id)
    folder = Path(work_dir) / "snapshots"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / newest.name
    coldstore.fetch_job_output(job.job_id, path)
    info, tables = _merge_file(catalog, path, password)
    return SnapshotRebuild(newest.name, info.get("created"), tables)
