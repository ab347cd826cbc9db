"""The S3 backend: objects with storage class DEEP_ARCHIVE or GLACIER, uploaded by s3transfer.

s3transfer (boto3's managed transfer) does the multipart work: part size, concurrency,
bandwidth limit, per-part SHA-256 checksums, botocore's retries, and aborting the upload when
it fails in-process. icefloe adds three things around it, through botocore's documented
event hooks rather than by re-implementing it:

- **one read**: s3transfer reads the file object sequentially (it holds at most
  ``max_in_memory_upload_chunks`` parts), and the reader hashes the whole file as it goes;
- **a record and a resume** (:mod:`icefloe.coldstore.s3resume`): the upload id and each
  acknowledged part go into the catalog as they happen, and a rerun after a crash or kill
  sends only the parts S3 lacks. In-process failures make s3transfer abort the upload; a
  rerun then starts afresh.

Object metadata carries the description and the SHA-256; HEAD confirms them afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from icefloe.catalog import Catalog, CopyRecord, PartReceipt
from icefloe.config import ColdstoreConfig
from icefloe.errors import ChecksumMismatch, FileChanged, UsageError
from icefloe.progress import Progress
from icefloe.treehash import MIB
from icefloe.coldstore import awserrors
from icefloe.coldstore.awserrors import Backoff, RemoteNotFound, Where
from icefloe.coldstore.base import (
    S3_MAX_PART,
    S3_MAX_PARTS,
    S3_MIN_PART,
    ColdStore,
    LocalFile,
    OpenUpload,
    StoredArchive,
    open_local,
    plan_part_size,
    progress_or_null,
)
from icefloe.coldstore.intent import Intent, already_stored, decide, record_stored
from icefloe.coldstore.s3jobs import META_DESCRIPTION, META_SHA256, S3Jobs
from icefloe.coldstore.s3resume import HashingReader, S3Resume, Transfer, hex_to_b64

_BIG_PART = 64 * MIB


class S3Store(S3Resume, S3Jobs, ColdStore):
    backend = "s3"

    def __init__(
        self,
        cfg: ColdstoreConfig,
        catalog: Catalog,
        client,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(cfg, catalog)
        self.client = client
        self.container = cfg.bucket
        self.prefix = cfg.prefix
        self.where = Where("s3", cfg.bucket, cfg.region)
        self.backoff = Backoff(attempts=3)  # botocore already retried each call
        self._sleep = sleep
        self._active: dict[str, Transfer] = {}
        self._register_hooks(client.meta.events)

    def _call(self, operation: str, method: str, **params):
        fn = getattr(self.client, method)
        return awserrors.call(
            lambda: fn(Bucket=self.container, **params), self.where, operation, self.backoff,
            sleep=self._sleep,
        )

    def key_for(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def check_container(self) -> None:
        try:
            self._call("HeadBucket", "head_bucket")
        except RemoteNotFound:
            raise awserrors.translate(
                _no_such_bucket(), self.where, "HeadBucket"
            ) from None

    # -- upload ----------------------------------------------------------------------------

    def upload(
        self,
        path: Path,
        *,
        name: str | None = None,
        description: str | None = None,
        partition: str | None = None,
        sha256: str | None = None,
        part_size: int | None = None,
        concurrency: int | None = None,
        progress: Progress | None = None,
        force: bool = False,
    ) -> StoredArchive:
        progress = progress_or_null(progress)
        concurrency = concurrency or self.cfg.concurrency
        if concurrency < 1:
            raise UsageError(f"concurrency must be at least 1, not {concurrency}")
        with open_local(Path(path)) as f:
            part = plan_part_size(
                f.size, part_size or self.cfg.part_size,
                min_part=S3_MIN_PART, max_part=S3_MAX_PART, max_parts=S3_MAX_PARTS,
            )
            transfer = self._find_resumable(f, progress)
            if transfer is None:
                intent = decide(self.catalog, self.cfg, f, name=name, description=description,
                                partition=partition, sha256=sha256)
                stored = None if force else already_stored(self, f, intent, progress)
                if stored is not None:
                    return stored
                key = self.key_for(intent.name)
                adopted = None if force else self._adopt_existing(key, f, intent)
                if adopted is not None:
                    return adopted
                transfer = Transfer(key, f, intent, part, progress)
            return self._transfer(transfer, concurrency)

    def _transfer(self, t: Transfer, concurrency: int) -> StoredArchive:
        from s3transfer.manager import TransferConfig, TransferManager
        from s3transfer.subscribers import BaseSubscriber

        progress = t.progress

        class _Progress(BaseSubscriber):
            def on_progress(self, future, bytes_transferred, **kwargs):
                progress.on_progress(bytes_transferred)

        in_memory = concurrency if t.part_size <= _BIG_PART or concurrency == 1 else concurrency - 1
        config = TransferConfig(
            multipart_threshold=t.part_size,
            multipart_chunksize=t.part_size,
            max_request_concurrency=concurrency,
            max_in_memory_upload_chunks=in_memory,
            max_bandwidth=self.cfg.bandwidth_bps or None,
        )
        extra = {
            "StorageClass": self.cfg.storage_class,
            "ChecksumAlgorithm": "SHA256",
            "Metadata": {META_DESCRIPTION: t.intent.description, META_SHA256: t.intent.sha256},
        }
        t.reader = HashingReader(t.f)
        progress.on_queued(t.f.size, t.intent.name)
        if t.key in self._active:
            raise UsageError(f"{t.key} is already being uploaded by this process")
        self._active[t.key] = t
        manager = TransferManager(self.client, config)
        try:
            future = manager.upload(t.reader, self.container, t.key, extra_args=extra,
                                    subscribers=[_Progress()])
            future.result()
        except BaseException as exc:
            manager.shutdown(cancel=True)
            if t.upload_id:  # s3transfer aborts a failed multipart upload; so does the record
                self.catalog.finish_upload(t.upload_id, "aborted")
            if isinstance(exc, Exception):
                raise awserrors.translate(exc, self.where, "upload") from exc
            raise
        else:
            manager.shutdown()
        finally:
            self._active.pop(t.key, None)
            progress.on_done()
        try:
            self._check_source(t)  # for https, where the body was hashed while it was sent
        except FileChanged:
            # The object now holds bytes that match neither record: take it away again.
            self._call("DeleteObject", "delete_object", Key=t.key)
            if t.upload_id:
                self.catalog.finish_upload(t.upload_id, "aborted")
            raise
        if t.upload_id:
            self.catalog.finish_upload(t.upload_id, "completed", t.key)
        return self._confirm_upload(t)

    def _confirm_upload(self, t: Transfer) -> StoredArchive:
        head = self.head(t.key)
        parts = self.catalog.parts(t.upload_id) if t.upload_id else []
        expected = _expected_checksum(t.intent.sha256, parts)
        problems = []
        if head.size != t.f.size:
            problems.append(f"size {head.size}, not {t.f.size}")
        if head.sha256 != t.intent.sha256:
            problems.append(f"metadata SHA-256 {head.sha256}, not {t.intent.sha256}")
        if head.checksum_sha256 is not None and not _same_checksum(head.checksum_sha256, expected):
            problems.append(f"checksum {head.checksum_sha256}, not {expected}")
        ok = not problems
        stored = StoredArchive(
            backend=self.backend, container=self.container, remote_id=t.key, size=t.f.size,
            sha256=t.intent.sha256, description=t.intent.description,
            part_size=t.part_size if t.upload_id else 0,
            server_checksum=head.checksum_sha256, parts_sent=t.sent or (0 if t.upload_id else 1),
            parts_reused=t.reused,
        )
        how = f"checksum {head.checksum_sha256}" if head.checksum_sha256 else "size and metadata"
        detail = f"s3 {self.container}/{t.key}: " + (
            f"{how} confirmed by HEAD" if ok else "; ".join(problems)
        )
        record_stored(self.catalog, stored, t.intent, ok, detail)
        if not ok:
            raise ChecksumMismatch(
                f"s3://{self.container}/{t.key} does not match the local file ({'; '.join(problems)});"
                " upload it again"
            )
        return stored

    def check_copy(self, copy: CopyRecord) -> str | None:
        try:
            head = self.head(copy.remote_id)
        except RemoteNotFound:
            return None
        if head.size != copy.size or (copy.sha256 and head.sha256 != copy.sha256):
            return None  # replaced by other bytes: this copy is gone too
        return "confirmed by HEAD"

    def _adopt_existing(self, key: str, f: LocalFile, intent: Intent) -> StoredArchive | None:
        """An object already at ``key``: the same bytes are recorded, different ones refused."""
        try:
            head = self.head(key)
        except RemoteNotFound:
            return None
        if head.sha256 != intent.sha256 or head.size != f.size:
            raise UsageError(
                f"s3://{self.container}/{key} already holds a different object "
                f"({head.size} bytes, SHA-256 {head.sha256}); nothing was uploaded: give the "
                "archive another name, or delete that object first"
            )
        stored = StoredArchive(
            backend=self.backend, container=self.container, remote_id=key, size=f.size,
            sha256=intent.sha256, description=head.description or intent.description,
            part_size=0, server_checksum=head.checksum_sha256, already_stored=True,
        )
        record_stored(self.catalog, stored, intent, True,
                      f"s3 {self.container}/{key}: already stored; size and metadata match")
        return stored

    # -- open uploads ----------------------------------------------------------------------

    def list_uploads(self) -> list[OpenUpload]:
        known = {u.upload_id: u for u in self.catalog.uploads(state=None)}
        found: list[OpenUpload] = []
        params: dict = {"Prefix": self.prefix}
        while True:
            page = self._call("ListMultipartUploads", "list_multipart_uploads", **params)
            for item in page.get("Uploads", []):
                record = known.get(item["UploadId"])
                initiated = item["Initiated"]
                started = initiated.isoformat() if hasattr(initiated, "isoformat") else str(initiated)
                if record is not None and record.started_at:
                    # Ours: the catalog's clock (moto's stand-in reports a fixed 2010 date).
                    started = record.started_at
                found.append(
                    OpenUpload(
                        backend=self.backend, container=self.container, upload_id=item["UploadId"],
                        started_at=started,
                        key=item["Key"],
                        part_size=record.part_size if record else None,
                        local_path=record.local_path if record else None,
                        parts_done=len(self.catalog.parts(record.upload_id)) if record else None,
                    )
                )
            if not page.get("IsTruncated"):
                return sorted(found, key=lambda u: u.started())
            params = {"Prefix": self.prefix, "KeyMarker": page.get("NextKeyMarker"),
                      "UploadIdMarker": page.get("NextUploadIdMarker")}

    def abort_upload(self, upload_id: str) -> OpenUpload:
        match = [u for u in self.list_uploads() if u.upload_id == upload_id]
        if not match:
            raise UsageError(
                f"bucket {self.container!r} has no open upload {upload_id!r} under "
                f"{self.prefix!r} (see `icefloe uploads list`)"
            )
        self._abort(match[0].key or "", upload_id)
        return match[0]


def _expected_checksum(sha256_hex: str, parts: list[PartReceipt]) -> str:
    """S3's ChecksumSHA256: of the bytes for one request; for a multipart upload the SHA-256
    of the parts' SHA-256 digests, then "-" and the part count."""
    if not parts:
        return hex_to_b64(sha256_hex)
    joined = b"".join(bytes.fromhex(p.checksum) for p in sorted(parts, key=lambda p: p.part_number))
    return f"{base64.b64encode(hashlib.sha256(joined).digest()).decode()}-{len(parts)}"


def _same_checksum(answered: str, expected: str) -> bool:
    """Equal digests; the "-N" part count is compared only when the service sends one."""
    digest, _, count = answered.partition("-")
    want_digest, _, want_count = expected.partition("-")
    return digest == want_digest and (not count or count == want_count)


def _no_such_bucket():
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "NoSuchBucket", "Message": ""}}, "HeadBucket")


