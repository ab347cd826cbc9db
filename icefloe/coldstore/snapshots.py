"""Where catalog snapshots live in cold storage, and how the newest one comes back.

- **S3**: objects ``catalog/icefloe-catalog-<stamp>.7z`` in the bucket, storage class
  ``STANDARD`` (readable at once, no minimum storage time), with a SHA-256 checksum the
  service verifies. The newest ``KEEP`` stay; older ones are deleted.
- **Glacier vault**: an archive per snapshot whose description (docs/description.md) names
  it ``icefloe-catalog-<stamp>.7z``. Reading one back takes a retrieval job (hours), found
  through the inventory like every other archive. The newest ``KEEP`` the catalog knows of
  stay; older ones are deleted.

Snapshots are never archives of a set: the inventory reconciliation and the clear gates do
not count them, and a rebuild recognises them by name (``icefloe.snapshot.is_snapshot_name``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from icefloe.catalog import Catalog
from icefloe.coldstore.awserrors import Backoff, Where, call
from icefloe.coldstore.description import Description, format_description, utc_now
from icefloe.config import ColdstoreConfig, Settings
from icefloe.errors import ChecksumMismatch
from icefloe.fsutil import atomic_write_bytes
from icefloe.snapshot import SnapshotFile, is_snapshot_name, write_snapshot

T = TypeVar("T")

S3_PREFIX = "catalog/"
S3_STORAGE_CLASS = "STANDARD"
KEEP = 8  # snapshots kept: a few bad days (a corrupt catalog uploaded) can still be undone
RECORD_KEY = "snapshots:{backend}:{container}"  # meta: JSON list of the stored ones, oldest first


@dataclass(frozen=True)
class StoredSnapshot:
    name: str
    remote_id: str  # S3 key or vault archive id
    size: int
    created: str


class SnapshotStore:
    """The snapshots of one vault or bucket (``coldstore`` settings), through boto3."""

    def __init__(self, cfg: ColdstoreConfig, client=None, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.backend = cfg.backend
        self.container = cfg.bucket if cfg.backend == "s3" else cfg.vault
        self.where = Where(self.backend, self.container, cfg.region)
        if client is None:
            from icefloe.coldstore import make_client  # the package imports its modules first

            client = make_client(self.backend, cfg, total_attempts=1)
        self.client = client
        self.sleep = sleep

    def _call(self, fn: Callable[[], T], operation: str) -> T:
        return call(fn, self.where, operation, Backoff(), sleep=self.sleep)

    def _recorded(self, catalog: Catalog) -> list[dict]:
        text = catalog.get_state(RECORD_KEY.format(backend=self.backend, container=self.container))
        try:
            return list(json.loads(text)) if text else []
        except ValueError:
            return []

    def store(self, snap: SnapshotFile, catalog: Catalog) -> StoredSnapshot:
        """Upload one sealed snapshot, then drop all but the newest ``KEEP``.

        It is recorded in the catalog's meta only once the service acknowledged it, so a
        crash in between leaves at most one extra snapshot, which a later pruning removes.
        """
        data = snap.path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if self.backend == "s3":
            key = S3_PREFIX + snap.name
            self._call(lambda: self.client.put_object(
                Bucket=self.container, Key=key, Body=data, StorageClass=S3_STORAGE_CLASS,
                ChecksumAlgorithm="SHA256", ChecksumSHA256=base64.b64encode(bytes.fromhex(sha)).decode(),
                Metadata={"icefloe-sha256": sha},
            ), "PutObject (catalog snapshot)")
            stored = StoredSnapshot(snap.name, key, len(data), snap.created)
        else:
            description = format_description(Description(name=snap.name, size=len(data), sha256=sha,
                                                          created=utc_now()))
            reply = self._call(lambda: self.client.upload_archive(
                vaultName=self.container, archiveDescription=description, body=data,
            ), "UploadArchive (catalog snapshot)")
            stored = StoredSnapshot(snap.name, reply["archiveId"], len(data), snap.created)
        items = self._recorded(catalog) + [vars(stored)]
        for old in items[:-KEEP]:
            self.delete(old["remote_id"])
        catalog.set_state(RECORD_KEY.format(backend=self.backend, container=self.container),
                          json.dumps(items[-KEEP:]))
        return stored

    def delete(self, remote_id: str) -> None:
        if self.backend == "s3":
            self._call(lambda: self.client.delete_object(Bucket=self.container, Key=remote_id),
                       "DeleteObject (old catalog snapshot)")
        else:
            self._call(lambda: self.client.delete_archive(vaultName=self.container, archiveId=remote_id),
                       "DeleteArchive (old catalog snapshot)")

    def newest_s3(self) -> list[StoredSnapshot]:
        """The bucket's snapshots, newest first (a listing: no catalog needed)."""
        found: list[StoredSnapshot] = []
        params: dict = {"Bucket": self.container, "Prefix": S3_PREFIX}
        while True:
            page = self._call(lambda: self.client.list_objects_v2(**params), "ListObjectsV2 (catalog snapshots)")
            for item in page.get("Contents", []):
                name = item["Key"][len(S3_PREFIX):]
                if is_snapshot_name(name):
                    found.append(StoredSnapshot(name, item["Key"], item["Size"], item["LastModified"].isoformat()))
            if not page.get("IsTruncated"):
                break
            params["ContinuationToken"] = page["NextContinuationToken"]
        return sorted(found, key=lambda s: s.name, reverse=True)

    def fetch_s3(self, snap: StoredSnapshot, dest: Path) -> bool:
        """Download one snapshot to ``dest``, checked against the SHA-256 it was stored with.

        Returns whether it was checked: False for an object without icefloe's checksum, which
        therefore may be damaged in a way only opening it shows.
        """
        def get() -> tuple[bytes, dict]:
            reply = self.client.get_object(Bucket=self.container, Key=snap.remote_id, ChecksumMode="ENABLED")
            return reply["Body"].read(), reply.get("Metadata", {})

        data, meta = self._call(get, "GetObject (catalog snapshot)")
        want = meta.get("icefloe-sha256")
        if want and hashlib.sha256(data).hexdigest() != want:
            raise ChecksumMismatch(f"catalog snapshot {snap.name} arrived damaged; run the rebuild again")
        atomic_write_bytes(dest, data, mode=0o600)
        return bool(want)


def backup_catalog(settings: Settings, catalog: Catalog, password: str | None,
                   store: SnapshotStore | None = None) -> StoredSnapshot:
    """Seal the catalog now and keep it in cold storage (after every archive and clear).

    ``password`` is the archive password (None only with ``archive.encrypt = false``). The
    sealed file also stays in ``<work_dir>/snapshots`` (the newest one only).
    """
    folder = settings.work_dir / "snapshots"
    snap = write_snapshot(catalog, folder, password)
    stored = (store or SnapshotStore(settings.coldstore)).store(snap, catalog)
    for old in folder.iterdir():
        if old.name != snap.name and is_snapshot_name(old.name):
            old.unlink(missing_ok=True)
    return stored
