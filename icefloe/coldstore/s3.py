"""The S3 backend: objects with storage class DEEP_ARCHIVE or GLACIER.

icefloe drives the multipart steps itself, through the same part pump as the vault
(:mod:`icefloe.coldstore.pump`): CreateMultipartUpload (with the storage class, CRC32
part checksums and icefloe's metadata), then UploadPart for each part with its CRC32 (S3
refuses a part whose bytes do not match it), then CompleteMultipartUpload listing every
part's ETag and checksum; HEAD's composite checksum must equal the one the parts make. The
file's SHA-256 is computed once, as it is read, and the upload is not completed unless it
equals the archive's: each byte is hashed by SHA-256 once, not twice (an upload an older
icefloe opened with SHA-256 part checksums goes on with them). A file of one part goes in
one PutObject carrying its SHA-256.

A failure (a transient error, Ctrl-C, a killed task) leaves the upload open on S3 and
recorded in the catalog with every acknowledged part; the next try sends only the parts S3
lacks (:mod:`icefloe.coldstore.s3resume`).

Object metadata carries the description and the SHA-256; HEAD confirms them afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable

from icefloe.catalog import Catalog, CopyRecord, PartReceipt, UploadRecord
from icefloe.config import ColdstoreConfig
from icefloe.errors import ChecksumMismatch, FileChanged, UsageError
from icefloe.progress import Progress
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
    UploadRequest,
    differs_error,
    plan_part_size,
)
from icefloe.coldstore.intent import Intent, already_stored, decide, local_key, record_stored, resumed_intent
from icefloe.coldstore.pump import Budget, Part, PartLog, send_body, send_parts, shared_budget
from icefloe.coldstore.s3jobs import META_DESCRIPTION, META_SHA256, S3Jobs
from icefloe.coldstore.s3resume import (
    PART_CHECKSUM,
    S3Resume,
    composite_checksum,
    held_receipt,
    hex_to_b64,
    name_of,
    part_digest,
)
from icefloe.coldstore.throttle import signal_transferring


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
        for op in ("UploadPart", "PutObject"):
            # After the signer (also a request-created handler): only the send is progress.
            client.meta.events.register_last(f"request-created.s3.{op}", signal_transferring)

    def _call(self, operation: str, method: str, **params):
        fn = getattr(self.client, method)
        return awserrors.call(
            lambda: fn(Bucket=self.container, **params), self.where, operation, self.backoff,
            sleep=self._sleep,
        )

    def _send(self, request, operation: str, data, progress: Progress, pace):
        return send_body(request, data, progress, pace, where=self.where, operation=operation,
                         backoff=self.backoff, sleep=self._sleep)

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

    def _upload(self, f: LocalFile, request: UploadRequest, progress: Progress) -> StoredArchive:
        part = plan_part_size(f.size, request.part_size, min_part=S3_MIN_PART, max_part=S3_MAX_PART,
                              max_parts=S3_MAX_PARTS)
        records = self._recorded_uploads(f)
        if records and not request.force:  # the metadata an interrupted upload already sent
            newest = records[-1]
            intent = resumed_intent(self.catalog, f, name_of(newest.key, self.prefix),
                                    newest.description, request.sha256)
        else:
            intent = decide(self.catalog, self.cfg, f, request)
        stored = None if request.force else already_stored(self, f, intent, progress)
        if stored is not None:
            return stored
        budget = self._budget(request.concurrency, max(request.part_size, S3_MIN_PART))
        for record in reversed(records):  # newest first; older ones wait for the cleanup
            held = self._held_parts(record)
            if held is None:
                continue
            intent = resumed_intent(self.catalog, f, name_of(record.key, self.prefix),
                                    record.description, request.sha256)
            return self._multipart(f, intent, record.key, record.part_size, budget, progress,
                                   record.upload_id, held)
        if records:
            intent = decide(self.catalog, self.cfg, f, request)
        key = self.key_for(intent.name)
        adopted = None if request.force else self._adopt_existing(key, f, intent)
        if adopted is not None:
            return adopted
        if f.size <= part:
            return self._single(f, intent, key, budget, progress)
        return self._multipart(f, intent, key, part, budget, progress, None, ({}, PART_CHECKSUM))

    def _budget(self, concurrency: int, part_size: int) -> Budget:
        return shared_budget(concurrency, part_size, self.cfg.bandwidth_bps)

    def _extra(self, intent: Intent) -> dict:
        return {
            "StorageClass": self.cfg.storage_class,
            "Metadata": {META_DESCRIPTION: intent.description, META_SHA256: intent.sha256},
        }

    def _single(
        self, f: LocalFile, intent: Intent, key: str, budget: Budget, progress: Progress
    ) -> StoredArchive:
        """A file of at most one part goes up in one PutObject, its SHA-256 checked by S3."""
        buffer = budget.take(f.size)
        try:
            data = f.pread_into(buffer, 0, f.size)
            digest = hashlib.sha256(data)
            if digest.hexdigest() != intent.sha256:
                raise differs_error(f.path)
            f.check_unchanged()
            progress.on_queued(f.size, intent.name)
            checksum = base64.b64encode(digest.digest()).decode()
            self._send(
                lambda body: self.client.put_object(
                    Bucket=self.container, Key=key, Body=body, ChecksumSHA256=checksum,
                    **self._extra(intent),
                ),
                "PutObject", data, progress, budget.pace,
            )
            del data
        finally:
            budget.give(buffer)
            progress.on_done()
        return self._confirm_upload(key, f, intent, 0, [], sent=1, reused=0)

    def _multipart(
        self,
        f: LocalFile,
        intent: Intent,
        key: str,
        part_size: int,
        budget: Budget,
        progress: Progress,
        upload_id: str | None,
        resume: tuple[dict[int, dict], str],
    ) -> StoredArchive:
        held, algorithm = resume
        if upload_id is None:
            created = self._call("CreateMultipartUpload", "create_multipart_upload", Key=key,
                                 ChecksumAlgorithm=algorithm, **self._extra(intent))
            upload_id = created["UploadId"]
            self.catalog.open_upload(
                UploadRecord(
                    upload_id=upload_id, backend=self.backend, container=self.container, key=key,
                    local_path=local_key(f.path), size=f.size, mtime_ns=f.state.mtime_ns,
                    part_size=part_size, description=intent.description,
                )
            )
        progress.on_queued(f.size, intent.name)
        recorded = {p.part_number for p in self.catalog.parts(upload_id)}
        log: PartLog[PartReceipt] = PartLog(lambda batch: self.catalog.record_parts(upload_id, batch))

        def reuse(part: Part, data: memoryview) -> PartReceipt | None:
            receipt = held_receipt(held.get(part.index + 1), part.index + 1, part.start, data, algorithm)
            if receipt is not None and receipt.part_number not in recorded:
                log.add(receipt)
            return receipt

        def send(part: Part, data: memoryview) -> PartReceipt:
            receipt = self._send_part(key, upload_id, part, data, progress, budget.pace, algorithm)
            log.add(receipt)
            return receipt

        try:
            with log:
                done = send_parts(f, part_size, budget, held=reuse, send=send, progress=progress)
            f.check_unchanged()
            if done.sha256 != intent.sha256:
                raise differs_error(f.path)
        except FileChanged:
            self._abort(key, upload_id)  # its parts are of bytes the file no longer has
            raise
        finally:
            progress.on_done()
        self._call(
            "CompleteMultipartUpload", "complete_multipart_upload", Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [
                {"PartNumber": r.part_number, "ETag": r.etag, f"Checksum{algorithm}": hex_to_b64(r.checksum)}
                for r in done.receipts
            ]},
        )
        self.catalog.finish_upload(upload_id, "completed", key)
        return self._confirm_upload(key, f, intent, part_size, done.receipts, sent=done.sent,
                                    reused=done.reused, algorithm=algorithm)

    def _send_part(
        self, key: str, upload_id: str, part: Part, data: memoryview, progress: Progress, pace,
        algorithm: str = PART_CHECKSUM,
    ) -> PartReceipt:
        digest = part_digest(algorithm, data)  # once; every attempt sends the same bytes
        checksum = base64.b64encode(digest).decode()
        field = f"Checksum{algorithm}"
        response = self._send(
            lambda body: self.client.upload_part(
                Bucket=self.container, Key=key, UploadId=upload_id, PartNumber=part.index + 1,
                Body=body, **{field: checksum},
            ),
            "UploadPart", data, progress, pace,
        )
        answered = response.get(field)
        if answered and answered != checksum:
            raise ChecksumMismatch(
                f"S3 computed {algorithm} {answered} for part {part.index + 1} of {key}, not "
                f"{checksum}; run the upload again to resend that part"
            )
        return PartReceipt(part.index + 1, part.start, part.end, digest.hex(), response.get("ETag"))

    def _confirm_upload(
        self,
        key: str,
        f: LocalFile,
        intent: Intent,
        part_size: int,
        parts: list[PartReceipt],
        *,
        sent: int,
        reused: int,
        algorithm: str = "SHA256",
    ) -> StoredArchive:
        head = self.head(key)
        expected = _expected_checksum(intent.sha256, parts, algorithm)
        answered = head.checksum_crc32 if algorithm == "CRC32" else head.checksum_sha256
        problems = []
        if head.size != f.size:
            problems.append(f"size {head.size}, not {f.size}")
        if head.sha256 != intent.sha256:
            problems.append(f"metadata SHA-256 {head.sha256}, not {intent.sha256}")
        if answered is not None and not _same_checksum(answered, expected):
            problems.append(f"{algorithm} checksum {answered}, not {expected}")
        ok = not problems
        stored = StoredArchive(
            backend=self.backend, container=self.container, remote_id=key, size=f.size,
            sha256=intent.sha256, description=intent.description, part_size=part_size,
            server_checksum=answered, parts_sent=sent, parts_reused=reused,
        )
        how = f"{algorithm} checksum {answered}" if answered else "size and metadata"
        detail = f"s3 {self.container}/{key}: " + (
            f"{how} confirmed by HEAD" if ok else "; ".join(problems)
        )
        record_stored(self.catalog, stored, intent, ok, detail)
        if not ok:
            raise ChecksumMismatch(
                f"s3://{self.container}/{key} does not match the local file ({'; '.join(problems)});"
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
            remote_check="found by HEAD at its key",
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


def _expected_checksum(sha256_hex: str, parts: list[PartReceipt], algorithm: str) -> str:
    """S3's checksum: for one request the SHA-256 of its bytes; for a multipart upload the
    algorithm over the parts' digests, then "-" and the part count."""
    if not parts:
        return hex_to_b64(sha256_hex)
    ordered = sorted(parts, key=lambda p: p.part_number)
    return composite_checksum(algorithm, [bytes.fromhex(p.checksum) for p in ordered])


def _same_checksum(answered: str, expected: str) -> bool:
    """Equal digests; the "-N" part count is compared only when the service sends one."""
    digest, _, count = answered.partition("-")
    want_digest, _, want_count = expected.partition("-")
    return digest == want_digest and (not count or count == want_count)


def _no_such_bucket():
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "NoSuchBucket", "Message": ""}}, "HeadBucket")


