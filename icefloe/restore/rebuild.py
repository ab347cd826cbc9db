"""Rebuilding the catalog from cold storage alone, after the house (and the catalog) is gone.

What is left is the AWS credentials, the vault or bucket name and the archive password. The
vault's inventory (or, for S3, a listing of the bucket with each object's metadata) lists
every archive with the description icefloe wrote when it uploaded it (docs/description.md):
name, size, SHA-256, partition. From those the catalog gets back its archive sets, archives
(volume numbers from the names) and cold-storage copies, each copy confirmed against the
inventory (INVENTORY_SEEN), which is all a restore needs. Records the catalog already has
are kept as they are, so rebuilding into a catalog that survived is harmless.

A set's file count, bytes, encryption and number of volumes come from the descriptions too
(format version 2). Archives uploaded by an icefloe that wrote version 1 do not say: such a
set is recorded with zeros, and the catalog notes which of its fields are unknown
(``unknown_fields``) until a restore reads its manifest. Not recovered: the manifests (they
are inside the archives; a restore puts them back), disc images, burns, mirror runs and the
other checks.

A vault inventory takes about four hours: without ``wait`` the job is requested (or an
existing one reused) and RetrievalPending says to run the command again later.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from icefloe.catalog import ArchiveRecord, ArchiveSet, Catalog
from icefloe.coldstore import (
    Description,
    Inventory,
    InventoryItem,
    RemoteJob,
    copies_from_inventory,
    parse_inventory,
    reconcile,
)
from icefloe.errors import RetrievalPending
from icefloe.restore.options import RestoreOptions
from icefloe.restore.retrieval import wait_for_job
from icefloe.restore.sources import split_volume_name
from icefloe.snapshot import is_snapshot_name

_SET_LABEL = re.compile(r"^(?P<label>.+)-\d{8}T\d{6}Z$")  # icefloe.archive.set_name_for
UNKNOWN_PARTITION = "unknown"
# The catalog's meta key naming a rebuilt set's fields that no description told.
UNKNOWN_KEY = "rebuilt_unknown:{}"
SET_FIELDS = ("file_count", "total_bytes", "encrypted")


@dataclass(frozen=True)
class RebuildResult:
    backend: str
    container: str
    job_id: str
    inventory_date: str
    inventory_path: str
    items: int  # archives in the inventory
    foreign: int  # of which icefloe did not write the description (skipped)
    sets: int  # sets added to the catalog
    archives: int  # archives added
    copies: int  # copies added
    confirmed: int  # copies confirmed by the inventory
    unknown: tuple[str, ...] = ()  # sets added whose files, bytes and encryption no description told

    def summary(self) -> str:
        text = (f"{self.backend} {self.container}: inventory of {self.inventory_date or 'now'} lists "
                f"{self.items} archives ({self.foreign} not icefloe's); added {self.sets} sets, "
                f"{self.archives} archives, {self.copies} copies; {self.confirmed} copies confirmed")
        if self.unknown:
            text += (f"; {len(self.unknown)} sets were uploaded by an older icefloe, so their file "
                     "count, size and encryption stay unknown until they are restored")
        return text


def unknown_fields(catalog: Catalog, set_name: str) -> tuple[str, ...]:
    """The set's fields a rebuild could not recover (shown as 0/False), until its manifest is known."""
    noted = catalog.get_state(UNKNOWN_KEY.format(set_name))
    if not noted or catalog.manifest(set_name):
        return ()
    return tuple(noted.split(","))


def inventory_job(store, *, fresh: bool = False) -> RemoteJob:
    """The newest finished inventory job the service still holds, else one running, else a new one."""
    if store.backend == "glacier" and not fresh:
        jobs = [j for j in store.list_jobs() if j.kind == "inventory" and j.status in ("Succeeded", "InProgress")]
        done = [j for j in jobs if j.done]
        if done:
            return done[-1]
        if jobs:
            return jobs[-1]
    return store.request_inventory()


def _file_name(store, job_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", job_id)[:48]
    return f"{store.backend}-{store.container}-{safe}.json"


def rebuild_catalog(
    store,
    catalog: Catalog,
    *,
    work_dir: Path,
    wait: bool = False,
    fresh: bool = False,
    options: RestoreOptions | None = None,
    again: str = "icefloe catalog rebuild",
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RebuildResult:
    """Recreate the catalog's sets, archives and copies from an inventory (vault) or listing (s3)."""
    options = options or RestoreOptions()
    job = inventory_job(store, fresh=fresh)
    if not job.done:
        if not wait:
            raise RetrievalPending(
                f"inventory job {job.job_id[:16]}... is running (about 4 hours on AWS); run `{again}` "
                "again later to use it, or add --wait"
            )
        job = wait_for_job(store, job.job_id, options=options, sleep=sleep, clock=clock)
    dest = Path(work_dir) / "inventory" / _file_name(store, job.job_id)
    store.fetch_job_output(job.job_id, dest)
    inventory = parse_inventory(dest)
    return apply_inventory(catalog, inventory, job_id=job.job_id, path=str(dest))


def partition_of(set_name: str, described: str | None) -> str:
    if described:
        return described
    match = _SET_LABEL.match(set_name)
    return match["label"] if match else UNKNOWN_PARTITION


def apply_inventory(catalog: Catalog, inventory: Inventory, *, job_id: str = "", path: str = "") -> RebuildResult:
    """Add to the catalog what the inventory's icefloe descriptions say; keep what it has."""
    ours = [(item, item.parsed) for item in inventory.items if item.parsed is not None]
    # Catalog snapshots are icefloe's too, but no set's archives (icefloe.restore.fromsnapshot).
    snapshots = {item.remote_id for item, desc in ours if is_snapshot_name(desc.name)}
    ours = [(item, desc) for item, desc in ours if item.remote_id not in snapshots]
    groups: dict[str, list[tuple[int, InventoryItem, Description]]] = {}
    for item, desc in ours:
        parsed = split_volume_name(desc.name)
        if parsed is not None:  # a volume; anything else icefloe uploaded is kept as a copy only
            groups.setdefault(parsed[0], []).append((parsed[1], item, desc))
    sets = archives = 0
    unknown: list[str] = []
    for set_name, members in sorted(groups.items()):
        first = min((desc for _, _, desc in members), key=lambda d: d.created)
        told = next((desc for _, _, desc in members if desc.knows_set), None)
        volumes = told.set_volumes if told else max(index for index, _, _ in members)
        if catalog.get_archive_set(set_name) is None:
            catalog.put_archive_set(ArchiveSet(
                name=set_name, partition_label=partition_of(set_name, first.partition),
                file_count=told.set_files if told else 0, total_bytes=told.set_bytes if told else 0,
                encrypted=bool(told.encrypted) if told else False, created_at=first.created,
            ))
            if told is None:
                catalog.set_state(UNKNOWN_KEY.format(set_name), ",".join(SET_FIELDS))
                unknown.append(set_name)
            sets += 1
        for index, item, desc in members:
            if catalog.get_archive(desc.name) is not None:
                continue
            catalog.put_archive(ArchiveRecord(
                name=desc.name, set_name=set_name, partition_label=partition_of(set_name, desc.partition),
                size=item.size, sha256=desc.sha256, volume=index, volumes=volumes,
                tree_hash=item.tree_hash, created_at=desc.created,
            ))
            archives += 1
    known = {(c.backend, c.container, c.remote_id) for c in catalog.copies(include_deleted=True)}
    copies = 0
    for copy in copies_from_inventory(inventory):
        if copy.remote_id in snapshots:
            continue
        if (copy.backend, copy.container, copy.remote_id) not in known:
            catalog.put_copy(copy)
            copies += 1
    seen = reconcile(inventory, catalog)
    return RebuildResult(
        backend=inventory.backend, container=inventory.container, job_id=job_id,
        inventory_date=inventory.date, inventory_path=path, items=len(inventory.items),
        foreign=len(inventory.items) - len(ours) - len(snapshots), sets=sets, archives=archives, copies=copies,
        confirmed=len(seen.seen), unknown=tuple(unknown),
    )
