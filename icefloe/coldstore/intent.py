"""What both backends decide before sending a byte: which archive this is, its SHA-256 and
description, and whether the catalog already holds a copy of it; and what they record after.

The description is fixed when an upload starts (a vault never changes it, S3 metadata is
sent with CreateMultipartUpload), so the file's SHA-256 must be known first. An archive
icefloe made has it in the catalog; any other file costs one extra reading pass. The upload
hashes the file again as it reads it and refuses to finish if the two differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from icefloe.catalog import SERVER_CHECKSUM, Catalog, CopyRecord
from icefloe.config import ColdstoreConfig
from icefloe.errors import UsageError
from icefloe.coldstore.base import LocalFile, StoredArchive, UploadRequest
from icefloe.progress import Progress
from icefloe.coldstore.description import (
    Description,
    check_user_description,
    format_description,
    parse_description,
    utc_now,
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Intent:
    name: str  # the archive's name: the catalog subject is "archive:<name>"
    partition: str | None
    sha256: str
    description: str
    # The tree hash recorded with the SHA-256 when the archive was made. A vault upload then
    # checks the bytes it sent against it and skips hashing the whole file a third time.
    tree_hash: str | None = None


def local_key(path: Path) -> str:
    """How the catalog names a local file in its uploads table."""
    return str(Path(path).resolve())


def decide(catalog: Catalog, cfg: ColdstoreConfig, f: LocalFile, request: UploadRequest) -> Intent:
    """Name, partition and SHA-256 from the caller, else from the catalog, else from the file."""
    name, description, partition, sha256 = request.name, request.description, request.partition, request.sha256
    if description is not None:
        check_user_description(description)
    if sha256 is not None:
        sha256 = sha256.lower()
        if not _SHA256.match(sha256):
            raise UsageError(f"{sha256!r} is not a SHA-256 (64 hex digits)")
    record = _archive_record(catalog, f)
    tree = None
    held = _set_fields(catalog, record)
    if record is not None:
        name = name or record.name
        partition = partition or record.partition_label
        if sha256 in (None, record.sha256):
            tree = record.tree_hash
        sha256 = sha256 or record.sha256
    name = name or f.path.name
    if sha256 is None:
        sha256 = f.sha256()
    if description is None:
        folder = str(f.path.resolve().parent) if cfg.description_paths else None
        description = format_description(
            Description(
                name=name,
                size=f.size,
                sha256=sha256,
                created=utc_now(),
                partition=partition,
                folder=folder,
                **held,
            )
        )
    return Intent(name=name, partition=partition, sha256=sha256, description=description,
                  tree_hash=tree)


def resumed_intent(
    catalog: Catalog, f: LocalFile, name: str, description: str, sha256: str | None
) -> Intent:
    """The intent of an upload being resumed: its description is already on the service."""
    parsed = parse_description(description)
    record = _archive_record(catalog, f)
    sha = (parsed.sha256 if parsed else None) or sha256 or (record.sha256 if record else None)
    tree = record.tree_hash if record is not None and record.sha256 == sha else None
    return Intent(
        name=name,
        partition=(parsed.partition if parsed else None) or (record.partition_label if record else None),
        sha256=sha or f.sha256(),
        description=description,
        tree_hash=tree,
    )


def _set_fields(catalog: Catalog, record) -> dict:
    """What the description says about the archive's set (format version 2), when icefloe made it."""
    aset = catalog.get_archive_set(record.set_name) if record is not None else None
    if aset is None:
        return {}
    return {"set_files": aset.file_count, "set_bytes": aset.total_bytes, "encrypted": bool(aset.encrypted),
            "set_volumes": record.volumes}


def _archive_record(catalog: Catalog, f: LocalFile):
    here = local_key(f.path)
    for record in catalog.archives():
        if record.path and record.size == f.size:
            try:
                if str(Path(record.path).resolve()) == here:
                    return record
            except OSError:
                continue
    return None


def existing_copy(
    catalog: Catalog, backend: str, container: str, sha256: str, size: int
) -> CopyRecord | None:
    """A copy of the same bytes already stored in this container, so an upload is not repeated."""
    for copy in catalog.copies(backend=backend):
        if copy.container == container and copy.sha256 == sha256 and copy.size == size:
            return copy
    return None


def already_stored(store, f: LocalFile, intent: Intent, progress: Progress) -> StoredArchive | None:
    """The copy of these bytes the catalog records, once the service has been asked about it
    (``store.check_copy``). A copy found gone is marked deleted, so the file is sent again."""
    while True:
        copy = existing_copy(store.catalog, store.backend, store.container, intent.sha256, f.size)
        if copy is None:
            return None
        note = store.check_copy(copy)
        if note is not None:
            break
        store.catalog.mark_copy_deleted(copy.backend, copy.container, copy.remote_id)
    progress.on_queued(f.size, intent.name)
    progress.on_progress(f.size)
    progress.on_done()
    return replace(stored_from_copy(copy), remote_check=note)


def stored_from_copy(copy: CopyRecord) -> StoredArchive:
    return StoredArchive(
        backend=copy.backend,
        container=copy.container,
        remote_id=copy.remote_id,
        size=copy.size,
        sha256=copy.sha256 or "",
        description=copy.description,
        part_size=copy.part_size or 0,
        tree_hash=copy.tree_hash,
        already_stored=True,
    )


def record_stored(catalog: Catalog, stored: StoredArchive, intent: Intent, ok: bool, detail: str) -> None:
    """The copy and its server-checksum check, as the clear gates read them."""
    catalog.put_copy(
        CopyRecord(
            backend=stored.backend,
            container=stored.container,
            remote_id=stored.remote_id,
            description=stored.description,
            size=stored.size,
            archive_name=intent.name,
            sha256=stored.sha256,
            tree_hash=stored.tree_hash,
            part_size=stored.part_size or None,
        )
    )
    catalog.verify(f"archive:{intent.name}", SERVER_CHECKSUM, ok, detail)
