"""The Glacier vault backend: concurrent, resumable multipart uploads, and vault jobs.

An upload is a coordinator (the calling thread) and the senders of the process's budget
(:mod:`icefloe.coldstore.pump`): the coordinator reads the file in order, one part at a time,
into a buffer the budget lends (so memory is about concurrency x part size whatever the file
size, and whatever the number of uploads), feeds the whole-file SHA-256 as it goes (not
needed when the catalog recorded the archive's tree hash: the parts' hashes then prove the
bytes are the archive's), and hands the part to a sender. A sender computes its part's tree
hash once, then sends it, retrying transient failures with backoff and jitter. Each
acknowledged part is recorded in the catalog at once, and a failure leaves the upload open,
so the next try (a task retry, a rerun after a crash) asks the vault which parts it holds
(ListParts), re-hashes those local ranges, and sends only the rest. Limits: https://docs.aws.amazon.com/amazonglacier/latest/dev/uploading-archive-mpu.html
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from icefloe.catalog import Catalog, CopyRecord, PartReceipt, UploadRecord
from icefloe.config import ColdstoreConfig
from icefloe.errors import ChecksumMismatch, FileChanged, IcefloeError, JobNotReady, ServiceError, UsageError
from icefloe.progress import Progress
from icefloe.treehash import combine, tree_hash
from icefloe.coldstore import awserrors
from icefloe.coldstore.awserrors import Backoff, RemoteNotFound, Where
from icefloe.coldstore.base import (
    VAULT_MAX_PART,
    VAULT_MAX_PARTS,
    VAULT_MIN_PART,
    ColdStore,
    LocalFile,
    OpenUpload,
    StoredArchive,
    UploadRequest,
    differs_error,
    parse_time,
    plan_part_size,
)
from icefloe.coldstore.intent import (
    Intent,
    already_stored,
    decide,
    local_key,
    record_stored,
    resumed_intent,
)
from icefloe.coldstore.inventory import latest_inventory
from icefloe.coldstore.pump import Budget, Part, PartLog, send_body, send_parts, shared_budget
from icefloe.coldstore.throttle import signal_transferring
from icefloe.coldstore.vaultjobs import VaultJobs

COMPLETING = "completing"  # catalog state: CompleteMultipartUpload sent, answer not yet recorded
INVENTORY_RECENT = timedelta(days=7)  # an older inventory says nothing of what is there now


@dataclass(frozen=True)
class _Resume:
    record: UploadRecord
    server_parts: dict[int, str]  # part index -> tree hash the vault holds


class VaultStore(VaultJobs, ColdStore):
    backend = "glacier"

    def __init__(
        self,
        cfg: ColdstoreConfig,
        catalog: Catalog,
        client,
        *,
        executor: Executor | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(cfg, catalog)
        self.client = client
        self.container = cfg.vault
        self.where = Where("glacier", cfg.vault, cfg.region)
        self.backoff = Backoff(attempts=cfg.max_attempts)
        self._executor = executor
        self._sleep = sleep
        for op in ("UploadMultipartPart", "UploadArchive"):
            # After the signer (also a request-created handler): only the send is progress.
            client.meta.events.register_last(f"request-created.glacier.{op}", signal_transferring)

    def _call(self, operation: str, method: str, **params):
        fn = getattr(self.client, method)
        return awserrors.call(
            lambda: fn(vaultName=self.container, **params),
            self.where,
            operation,
            self.backoff,
            sleep=self._sleep,
        )

    def check_container(self) -> None:
        self._call("DescribeVault", "describe_vault")

    # -- upload ----------------------------------------------------------------------------

    def _upload(self, f: LocalFile, request: UploadRequest, progress: Progress) -> StoredArchive:
        if f.size == 0:
            raise UsageError(
                f"{f.path} is empty, and a Glacier vault stores archives of at least 1 byte; "
                "nothing was uploaded"
            )
        part = plan_part_size(f.size, request.part_size, min_part=VAULT_MIN_PART,
                              max_part=VAULT_MAX_PART, max_parts=VAULT_MAX_PARTS)
        records = [] if request.force else self._recorded_uploads(f)
        if records:  # the description (and SHA-256) an interrupted upload already sent
            newest = records[-1]
            intent = resumed_intent(self.catalog, f, newest.key, newest.description, request.sha256)
        else:
            intent = decide(self.catalog, self.cfg, f, request)
        # What the catalog and the vault already hold comes before any resume: a copy
        # recorded (by a rebuild, say) closes the uploads that were making it.
        stored = None if request.force else already_stored(self, f, intent, progress)
        if stored is not None:
            for record in records:
                if record.state == COMPLETING:
                    self.catalog.finish_upload(record.upload_id, "completed", stored.remote_id)
            return stored
        for record in reversed(records):  # newest first
            found = self._resume(f, record, progress)
            if isinstance(found, StoredArchive):
                return found
            if found is not None:
                intent = resumed_intent(self.catalog, f, record.key, record.description, request.sha256)
                return self._multipart(f, intent, record.part_size, request.concurrency, progress, found)
        if records:
            intent = decide(self.catalog, self.cfg, f, request)
        if f.size <= part:
            return self._single(f, intent, self._budget(request.concurrency, part), progress)
        return self._multipart(f, intent, part, request.concurrency, progress, None)

    def _budget(self, concurrency: int, part_size: int) -> Budget:
        if self._executor is not None:  # tests: the senders they chose
            return Budget(concurrency, part_size, self.cfg.bandwidth_bps, executor=self._executor)
        return shared_budget(concurrency, part_size, self.cfg.bandwidth_bps)

    def _single(self, f: LocalFile, intent: Intent, budget: Budget, progress: Progress) -> StoredArchive:
        """A file that fits in one part goes up in one UploadArchive request."""
        buffer = budget.take(f.size)
        try:
            data = f.pread_into(buffer, 0, f.size)
            checksum = tree_hash(data)
            if not _matches(intent, checksum, lambda: hashlib.sha256(data).hexdigest()):
                raise differs_error(f.path)
            f.check_unchanged()
            progress.on_queued(f.size, intent.name)
            response = self._send(
                lambda body: self.client.upload_archive(
                    vaultName=self.container,
                    archiveDescription=intent.description,
                    checksum=checksum,
                    body=body,
                ),
                "UploadArchive", data, progress, budget.pace,
            )
            del data
        finally:
            budget.give(buffer)
            progress.on_done()
        stored = StoredArchive(
            backend=self.backend, container=self.container, remote_id=response["archiveId"],
            size=f.size, sha256=intent.sha256, description=intent.description, part_size=0,
            tree_hash=checksum, server_checksum=response.get("checksum"), parts_sent=1,
        )
        return self._finish(stored, intent)

    def _send(self, request, operation: str, data, progress: Progress, pace):
        return send_body(request, data, progress, pace, where=self.where, operation=operation,
                         backoff=self.backoff, sleep=self._sleep)

    def _finish(self, stored: StoredArchive, intent: Intent) -> StoredArchive:
        ok = stored.server_checksum == stored.tree_hash
        detail = (
            f"glacier {self.container}: tree hash {stored.tree_hash} "
            + ("confirmed by the vault" if ok else f"but the vault computed {stored.server_checksum}")
        )
        record_stored(self.catalog, stored, intent, ok, detail)
        if not ok:
            raise ChecksumMismatch(
                f"the vault computed tree hash {stored.server_checksum} for archive "
                f"{stored.remote_id}, not {stored.tree_hash}; upload {intent.name} again"
            )
        return stored

    def _multipart(
        self,
        f: LocalFile,
        intent: Intent,
        part_size: int,
        concurrency: int,
        progress: Progress,
        resume: _Resume | None,
    ) -> StoredArchive:
        if resume is None:
            started = self._call(
                "InitiateMultipartUpload", "initiate_multipart_upload",
                archiveDescription=intent.description, partSize=str(part_size),
            )
            upload_id = started["uploadId"]
            self.catalog.open_upload(
                UploadRecord(
                    upload_id=upload_id, backend=self.backend, container=self.container,
                    key=intent.name, local_path=local_key(f.path), size=f.size,
                    mtime_ns=f.state.mtime_ns, part_size=part_size, description=intent.description,
                )
            )
            server_parts: dict[int, str] = {}
        else:
            upload_id, server_parts = resume.record.upload_id, resume.server_parts
        progress.on_queued(f.size, intent.name)
        budget = self._budget(concurrency, part_size)
        recorded = {p.part_number for p in self.catalog.parts(upload_id)}
        log: PartLog[PartReceipt] = PartLog(lambda batch: self.catalog.record_parts(upload_id, batch))

        def held(part: Part, data: memoryview) -> bytes | None:
            on_vault = server_parts.get(part.index)
            if on_vault is None:
                return None
            local = tree_hash(data)
            if local != on_vault:
                return None  # differs: send it again, replacing it
            if part.index not in recorded:
                log.add(PartReceipt(part.index, part.start, part.end, local))
            return bytes.fromhex(local)

        def send(part: Part, data: memoryview) -> bytes:
            checksum = self._send_part(upload_id, part.index, part.start, part.end, data, progress,
                                       budget.pace)
            log.add(PartReceipt(part.index, part.start, part.end, checksum))
            return bytes.fromhex(checksum)

        try:
            with log:  # every receipt is written before the upload is marked completing
                done_parts = send_parts(f, part_size, budget, held=held, send=send,
                                        progress=progress, hash_whole=intent.tree_hash is None)
            checksum = combine(done_parts.receipts).hex()
            f.check_unchanged()
            if not _matches(intent, checksum, lambda: done_parts.sha256):
                raise differs_error(f.path)
        except FileChanged:
            self._abandon(upload_id)  # its parts are of bytes the file no longer has
            raise
        finally:
            progress.on_done()
        self.catalog.finish_upload(upload_id, COMPLETING)
        done = self._call(
            "CompleteMultipartUpload", "complete_multipart_upload",
            uploadId=upload_id, archiveSize=str(f.size), checksum=checksum,
        )
        self.catalog.finish_upload(upload_id, "completed", done["archiveId"])
        stored = StoredArchive(
            backend=self.backend, container=self.container, remote_id=done["archiveId"],
            size=f.size, sha256=intent.sha256, description=intent.description, part_size=part_size,
            tree_hash=checksum, server_checksum=done.get("checksum"),
            parts_sent=done_parts.sent, parts_reused=done_parts.reused,
        )
        return self._finish(stored, intent)

    def _send_part(
        self,
        upload_id: str,
        index: int,
        start: int,
        end: int,
        data: memoryview,
        progress: Progress,
        pace,
    ) -> str:
        checksum = tree_hash(data)  # once; every attempt sends the same bytes
        response = self._send(
            lambda body: self.client.upload_multipart_part(
                vaultName=self.container,
                uploadId=upload_id,
                range=f"bytes {start}-{end - 1}/*",
                checksum=checksum,
                body=body,
            ),
            "UploadMultipartPart", data, progress, pace,
        )
        answered = response.get("checksum")
        if answered and answered != checksum:
            raise ChecksumMismatch(
                f"the vault computed tree hash {answered} for bytes {start}-{end - 1}, not "
                f"{checksum}; run the upload again to resend that part"
            )
        return checksum

    def _abandon(self, upload_id: str) -> None:
        try:
            self._call("AbortMultipartUpload", "abort_multipart_upload", uploadId=upload_id)
        except RemoteNotFound:
            pass
        self.catalog.finish_upload(upload_id, "aborted")

    # -- resume ----------------------------------------------------------------------------

    def _recorded_uploads(self, f: LocalFile) -> list[UploadRecord]:
        """Uploads of this file (same path, size and mtime) the catalog holds open or
        completing, oldest first. Nothing is asked of the vault yet."""
        here = local_key(f.path)
        return [
            u for u in self.catalog.uploads(state=None)
            if u.state in ("open", COMPLETING) and u.backend == self.backend
            and u.container == self.container and u.local_path == here
            and u.size == f.size and u.mtime_ns == f.state.mtime_ns
        ]

    def _resume(
        self, f: LocalFile, record: UploadRecord, progress: Progress
    ) -> _Resume | StoredArchive | None:
        """The parts the vault holds for a recorded upload; the archive, when the upload was
        completing and the vault made it; None when the upload is gone and made nothing."""
        try:
            return _Resume(record, self._list_parts(record.upload_id, record.part_size))
        except RemoteNotFound:
            if record.state != COMPLETING:
                self.catalog.finish_upload(record.upload_id, "aborted")  # expired on the vault
                return None
        return self._recover_completing(f, record, progress)

    def _recover_completing(
        self, f: LocalFile, record: UploadRecord, progress: Progress
    ) -> StoredArchive | None:
        """icefloe stopped after sending CompleteMultipartUpload and before recording the
        answer, and the upload is gone: the vault probably made the archive.

        Complete is idempotent for a while on AWS, so it is asked again with the same size and
        tree hash, and answers the same archive id. After that, only an inventory taken since
        the upload began can tell: an archive with this upload's description (it carries the
        SHA-256 and the upload's start time) is the one; none means no archive was made.
        """
        parts = self.catalog.parts(record.upload_id)
        count = -(-record.size // record.part_size)
        if [p.part_number for p in parts] != list(range(count)):
            raise IcefloeError(
                f"upload {record.upload_id} was completing without all its parts recorded (a bug)"
            )
        checksum = combine([bytes.fromhex(p.checksum) for p in parts]).hex()
        intent = resumed_intent(self.catalog, f, record.key, record.description, None)
        archive_id = server_checksum = None
        try:
            done = self._call(
                "CompleteMultipartUpload", "complete_multipart_upload",
                uploadId=record.upload_id, archiveSize=str(record.size), checksum=checksum,
            )
            archive_id, server_checksum = done["archiveId"], done.get("checksum")
        except RemoteNotFound:
            inventory = latest_inventory(self.catalog, self.backend, self.container)
            taken = parse_time(inventory.date) if inventory and inventory.date else None
            if taken is None or taken <= parse_time(record.started_at):
                pending = [j for j in self.catalog.jobs(pending=True, kind="inventory")
                           if (j.backend, j.container) == (self.backend, self.container)
                           and j.requested_at > record.started_at]
                job_id = pending[-1].job_id if pending else self.request_inventory().job_id
                raise JobNotReady(
                    f"icefloe stopped while completing upload {record.upload_id} of {f.path}, and "
                    "the vault no longer answers for it, so only an inventory can tell whether "
                    f"it made the archive: inventory job {job_id} was requested; once it is "
                    f"done (about 4 hours), fetch it with `icefloe jobs {job_id} --output "
                    "inventory.json` and upload again (or `icefloe upload --force` to send a "
                    "second copy now)"
                ) from None
            match = [i for i in inventory.items if i.description == record.description]
            if not match:
                self.catalog.finish_upload(record.upload_id, "aborted")  # no archive came of it
                return None
            archive_id, server_checksum = match[0].remote_id, match[0].tree_hash
        self.catalog.finish_upload(record.upload_id, "completed", archive_id)
        progress.on_queued(f.size, intent.name)
        progress.on_progress(f.size)
        progress.on_done()
        stored = StoredArchive(
            backend=self.backend, container=self.container, remote_id=archive_id, size=f.size,
            sha256=intent.sha256, description=record.description, part_size=record.part_size,
            tree_hash=checksum, server_checksum=server_checksum, parts_reused=count,
        )
        return self._finish(stored, intent)

    def check_copy(self, copy: CopyRecord) -> str | None:
        """A vault has no HEAD: the newest fetched inventory decides, if it is recent and was
        taken after the copy was stored."""
        inventory = latest_inventory(self.catalog, self.backend, self.container)
        ask = "`icefloe inventory request` starts a new one (about 4 hours)"
        if inventory is None or not inventory.date:
            return f"not checked with the vault: no inventory of it was fetched; {ask}"
        taken = parse_time(inventory.date)
        age = datetime.now(timezone.utc) - taken
        stored_at = parse_time(copy.created_at) if copy.created_at else None
        if stored_at is not None and taken <= stored_at:
            return (f"not checked with the vault: its last inventory ({inventory.date}) is older "
                    f"than the copy; {ask}")
        if age > INVENTORY_RECENT:
            return (f"not checked with the vault: its last inventory ({inventory.date}) is "
                    f"{age.days} days old; {ask}")
        if copy.remote_id in inventory.by_id():
            return f"in the vault inventory of {inventory.date}"
        return None

    def _list_parts(self, upload_id: str, part_size: int) -> dict[int, str]:
        parts: dict[int, str] = {}
        marker = None
        while True:
            params = {"uploadId": upload_id}
            if marker:
                params["marker"] = marker
            page = self._call("ListParts", "list_parts", **params)
            if int(page.get("PartSizeInBytes") or part_size) != part_size:
                raise ServiceError(
                    f"upload {upload_id} has part size {page.get('PartSizeInBytes')}, not the "
                    f"{part_size} icefloe recorded; abort it with `icefloe uploads abort {upload_id}`"
                )
            for part in page.get("Parts", []):
                first, last = (int(x) for x in part["RangeInBytes"].split("-"))
                if first % part_size == 0:
                    parts[first // part_size] = part["SHA256TreeHash"]
            marker = page.get("Marker")
            if not marker:
                return parts

    # -- open uploads ----------------------------------------------------------------------

    def list_uploads(self) -> list[OpenUpload]:
        known = {u.upload_id: u for u in self.catalog.uploads(state=None)}
        found: list[OpenUpload] = []
        marker = None
        while True:
            page = self._call(
                "ListMultipartUploads", "list_multipart_uploads", **({"marker": marker} if marker else {})
            )
            for item in page.get("UploadsList", []):
                upload_id = item["MultipartUploadId"]
                record = known.get(upload_id)
                found.append(
                    OpenUpload(
                        backend=self.backend, container=self.container, upload_id=upload_id,
                        started_at=item["CreationDate"], description=item.get("ArchiveDescription"),
                        part_size=item.get("PartSizeInBytes"),
                        local_path=record.local_path if record else None,
                        parts_done=len(self.catalog.parts(upload_id)) if record else None,
                    )
                )
            marker = page.get("Marker")
            if not marker:
                return sorted(found, key=lambda u: u.started())

    def abort_upload(self, upload_id: str) -> OpenUpload:
        match = [u for u in self.list_uploads() if u.upload_id == upload_id]
        if not match:
            completing = [u for u in self.catalog.uploads(COMPLETING) if u.upload_id == upload_id]
            if completing:
                raise UsageError(
                    f"vault {self.container!r} has no open upload {upload_id!r}: icefloe was "
                    "completing it, so the vault probably made the archive; run `icefloe upload "
                    f"{completing[0].local_path}` to find it and record it"
                )
            raise UsageError(
                f"vault {self.container!r} has no open upload {upload_id!r} "
                "(see `icefloe uploads list`)"
            )
        self._abandon(upload_id)
        return match[0]


def _matches(intent: Intent, tree: str, sha256: Callable[[], str | None]) -> bool:
    """The bytes sent are the archive recorded: by its tree hash when the catalog has one
    (no extra hashing), else by the SHA-256 computed while reading."""
    if intent.tree_hash:
        return tree == intent.tree_hash
    return sha256() == intent.sha256
