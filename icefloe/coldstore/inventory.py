"""Inventories as typed records, and reconciling them with the catalog.

Two sources, one shape: a vault's inventory-retrieval output (JSON, as AWS writes it), and
icefloe's S3 listing (ListObjectsV2 + HEAD per object, written in the same shape with a few
more fields; docs/description.md, "S3 listing"). Reconciling confirms each catalog copy
against what the service says it holds, which is one of the gates a partition's clearing
reads (DESIGN.md, "Nothing is lost").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from icefloe.catalog import INVENTORY_SEEN, Catalog, CopyRecord
from icefloe.errors import UsageError
from icefloe.coldstore.base import parse_time
from icefloe.coldstore.description import Description, parse_description

LISTING_FORMAT = "icefloe-s3-listing"
LISTING_VERSION = 1


@dataclass(frozen=True)
class InventoryItem:
    remote_id: str  # archive id or object key
    description: str
    size: int
    created: str
    tree_hash: str | None = None  # vault
    sha256: str | None = None  # s3 (from icefloe's metadata), else from the description
    storage_class: str | None = None  # s3
    parsed: Description | None = None  # the description, when icefloe wrote it


@dataclass(frozen=True)
class Inventory:
    backend: str  # "glacier" or "s3"
    container: str
    date: str  # when the service took it: archives newer than this may be missing
    items: tuple[InventoryItem, ...]

    def by_id(self) -> dict[str, InventoryItem]:
        return {item.remote_id: item for item in self.items}


@dataclass(frozen=True)
class Reconciliation:
    seen: tuple[CopyRecord, ...]  # in the inventory, size and checksum agreeing
    mismatched: tuple[tuple[CopyRecord, str], ...]  # in it, but differing (why)
    missing: tuple[CopyRecord, ...]  # older than the inventory, yet not in it
    pending: tuple[CopyRecord, ...]  # newer than the inventory: wait for the next one
    unknown: tuple[InventoryItem, ...]  # in the inventory, not in the catalog


def parse_inventory(source: bytes | str | Path) -> Inventory:
    """An inventory file (vault JSON or icefloe's S3 listing) as records."""
    if isinstance(source, Path):
        try:
            source = source.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the inventory {source}: {exc.strerror}") from None
    try:
        doc = json.loads(source)
    except ValueError:
        raise UsageError("the inventory is not JSON (request it with Format JSON)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("ArchiveList"), list):
        raise UsageError("the inventory has no ArchiveList: it is not a vault inventory")
    if doc.get("Format") == LISTING_FORMAT:
        backend, container = "s3", str(doc.get("Bucket", ""))
    else:
        backend, container = "glacier", str(doc.get("VaultARN", "")).rsplit("/", 1)[-1]
    items = []
    for entry in doc["ArchiveList"]:
        description = entry.get("ArchiveDescription") or ""
        parsed = parse_description(description)
        items.append(
            InventoryItem(
                remote_id=entry["ArchiveId"],
                description=description,
                size=int(entry.get("Size", 0)),
                created=entry.get("CreationDate", ""),
                tree_hash=entry.get("SHA256TreeHash") or None,
                sha256=entry.get("SHA256") or (parsed.sha256 if parsed else None),
                storage_class=entry.get("StorageClass"),
                parsed=parsed,
            )
        )
    return Inventory(backend, container, str(doc.get("InventoryDate", "")), tuple(items))


def latest_inventory(catalog: Catalog, backend: str, container: str) -> Inventory | None:
    """The newest inventory of this container whose output the catalog says was fetched
    (by the inventory poll, `catalog rebuild` or `icefloe jobs ID --output`), by the date
    the service took it; None when there is none still readable."""
    best: Inventory | None = None
    for job in catalog.jobs(kind="inventory"):
        if job.backend != backend or job.container != container or not job.output_path:
            continue
        try:
            inventory = parse_inventory(Path(job.output_path))
        except UsageError:
            continue  # moved or deleted since: not evidence either way
        taken = _when(inventory.date)
        if taken is not None and (best is None or taken > (_when(best.date) or taken)):
            best = inventory
    return best


def listing_document(bucket: str, prefix: str, date: str, entries: list[dict]) -> dict:
    return {
        "Format": LISTING_FORMAT,
        "Version": LISTING_VERSION,
        "Bucket": bucket,
        "Prefix": prefix,
        "InventoryDate": date,
        "ArchiveList": entries,
    }


def _when(text: str | None) -> datetime | None:
    try:
        return parse_time(text) if text else None
    except ValueError:
        return None


def reconcile(inventory: Inventory, catalog: Catalog, *, record: bool = True) -> Reconciliation:
    """Compare the catalog's copies in this container with the inventory.

    With ``record``, each copy seen (or found wrong, or missing) gets an INVENTORY_SEEN
    verification for its archive; pending ones get nothing until a later inventory.
    """
    held = inventory.by_id()
    taken = _when(inventory.date)
    seen, mismatched, missing, pending = [], [], [], []
    ours = set()
    for copy in catalog.copies(backend=inventory.backend):
        if copy.container != inventory.container:
            continue
        ours.add(copy.remote_id)
        item = held.get(copy.remote_id)
        if item is None:
            created = _when(copy.created_at)
            if taken is None or created is None or created >= taken:
                pending.append(copy)
            else:
                missing.append(copy)
                _note(catalog, record, copy, False, f"not in the {inventory.date} inventory")
            continue
        why = _difference(copy, item)
        if why:
            mismatched.append((copy, why))
            _note(catalog, record, copy, False, why)
        else:
            seen.append(copy)
            _note(catalog, record, copy, True, f"in the {inventory.date} inventory")
    unknown = tuple(item for item in inventory.items if item.remote_id not in ours)
    return Reconciliation(tuple(seen), tuple(mismatched), tuple(missing), tuple(pending), unknown)


def _difference(copy: CopyRecord, item: InventoryItem) -> str | None:
    if item.size != copy.size:
        return f"inventory size {item.size}, catalog {copy.size}"
    if copy.tree_hash and item.tree_hash and item.tree_hash != copy.tree_hash:
        return f"inventory tree hash {item.tree_hash}, catalog {copy.tree_hash}"
    if copy.sha256 and item.sha256 and item.sha256 != copy.sha256:
        return f"inventory SHA-256 {item.sha256}, catalog {copy.sha256}"
    return None


def _note(catalog: Catalog, record: bool, copy: CopyRecord, ok: bool, detail: str) -> None:
    if record and copy.archive_name:
        where = f"{copy.backend} {copy.container} {copy.remote_id[:16]}"
        catalog.verify(f"archive:{copy.archive_name}", INVENTORY_SEEN, ok, f"{where}: {detail}")


def copies_from_inventory(inventory: Inventory) -> list[CopyRecord]:
    """Catalog copies rebuilt from the descriptions icefloe wrote (others are skipped)."""
    out = []
    for item in inventory.items:
        if item.parsed is None:
            continue
        out.append(
            CopyRecord(
                backend=inventory.backend,
                container=inventory.container,
                remote_id=item.remote_id,
                description=item.description,
                size=item.size,
                archive_name=item.parsed.name,
                sha256=item.parsed.sha256,
                tree_hash=item.tree_hash,
                created_at=item.created,
            )
        )
    return out
