"""S3's counterparts of vault jobs: restores, HEAD, and a listing standing in for an inventory.

- A retrieval is ``RestoreObject`` (tier, days); its job id is ``restore:<key>`` and its
  state is read from HEAD's ``x-amz-restore``: ``ongoing-request="true"`` while running,
  ``"false", expiry-date=...`` once readable. https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects.html
- An inventory is a listing (ListObjectsV2 under the prefix + HEAD per object), made when
  its output is fetched; its job id is ``listing:<time>`` and it is done at once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from botocore.exceptions import ChecksumError, FlexibleChecksumError

from icefloe.catalog import now_iso
from icefloe.coldstore import awserrors
from icefloe.coldstore.awserrors import RemoteNotFound
from icefloe.coldstore.base import (
    FetchedOutput,
    FetchedRange,
    RemoteJob,
    RemoteObject,
    progress_or_null,
)
from icefloe.coldstore.description import utc_now
from icefloe.coldstore.inventory import listing_document
from icefloe.coldstore.vaultjobs import READ_CHUNK, check_tier, read_range_into, record_job, stream_to_file
from icefloe.errors import ChecksumMismatch, CorruptDownload, JobNotReady, ServiceError, UsageError
from icefloe.progress import Progress

# User metadata (x-amz-meta-*); boto3 returns the keys in lower case.
META_DESCRIPTION = "icefloe-description"
META_SHA256 = "icefloe-sha256"
ARCHIVED = ("GLACIER", "DEEP_ARCHIVE")
_ONGOING = re.compile(r'ongoing-request="(true|false)"')
_EXPIRY = re.compile(r'expiry-date="([^"]+)"')


def parse_restore(header: str | None) -> tuple[str | None, str | None]:
    """``x-amz-restore`` → (None | "ongoing" | "done", expiry date)."""
    if not header:
        return None, None
    ongoing = _ONGOING.search(header)
    expiry = _EXPIRY.search(header)
    state = "ongoing" if ongoing and ongoing[1] == "true" else "done"
    return state, expiry[1] if expiry else None


class S3Jobs:
    """The job verbs of :class:`~icefloe.coldstore.s3.S3Store` (a mixin)."""

    def head(self, key: str) -> RemoteObject:
        answer = self._call("HeadObject", "head_object", Key=key, ChecksumMode="ENABLED")
        meta = answer.get("Metadata") or {}
        restore, expiry = parse_restore(answer.get("Restore"))
        return RemoteObject(
            key=key,
            size=int(answer.get("ContentLength", 0)),
            storage_class=answer.get("StorageClass") or "STANDARD",
            sha256=meta.get(META_SHA256),
            description=meta.get(META_DESCRIPTION),
            restore=restore,
            restore_expiry=expiry,
            checksum_sha256=answer.get("ChecksumSHA256"),
            checksum_crc32=answer.get("ChecksumCRC32"),
        )

    def request_inventory(self) -> RemoteJob:
        now = utc_now()
        job = RemoteJob(
            job_id=f"listing:{now}", backend=self.backend, container=self.container,
            kind="inventory", status="Succeeded", created=now, completed=now,
            detail="S3 listing (ListObjectsV2 + HEAD), taken when its output is fetched",
        )
        record_job(self.catalog, job)
        return job

    def request_retrieval(
        self, remote_id: str, tier: str | None = None, *, days: int = 7
    ) -> RemoteJob:
        tier = check_tier(tier or "Bulk")
        if days < 1:
            raise UsageError(f"a restore lasts at least 1 day, not {days}")
        job_id = f"restore:{remote_id}"
        detail = None
        try:
            self._call(
                "RestoreObject", "restore_object", Key=remote_id,
                RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}},
            )
        except ServiceError as exc:
            if "RestoreAlreadyInProgress" in exc.message:
                detail = "a restore was already running"
            elif "InvalidObjectState" in exc.message and self.head(remote_id).storage_class not in ARCHIVED:
                detail = "not archived: readable now"
            else:
                raise
        job = RemoteJob(
            job_id=job_id, backend=self.backend, container=self.container, kind="restore",
            status="InProgress", target=remote_id, tier=tier, created=now_iso(), detail=detail,
        )
        job = self.describe_job(job_id, requested=job)
        return job

    def describe_job(self, job_id: str, requested: RemoteJob | None = None) -> RemoteJob:
        if job_id.startswith("listing:"):
            record = self.catalog.get_job(job_id)
            created = job_id.removeprefix("listing:")
            return RemoteJob(
                job_id=job_id, backend=self.backend, container=self.container, kind="inventory",
                status="Succeeded", created=created, completed=created,
                detail=record.detail if record else None,
            )
        if not job_id.startswith("restore:"):
            raise UsageError(
                f"{job_id!r} is not an S3 job id (they look like restore:<key> or listing:<time>)"
            )
        key = job_id.removeprefix("restore:")
        record = self.catalog.get_job(job_id)
        head = self.head(key)
        if head.storage_class not in ARCHIVED or head.restore == "done":
            status = "Succeeded"
        elif head.restore == "ongoing":
            status = "InProgress"
        else:
            status = "Failed"  # archived and no restore: never requested, or it expired
        job = RemoteJob(
            job_id=job_id, backend=self.backend, container=self.container, kind="restore",
            status=status, target=key,
            tier=(requested.tier if requested else None) or (record.tier if record else None),
            created=(requested.created if requested else None) or (record.requested_at if record else None),
            output_size=head.size,
            detail=(requested.detail if requested else None) or (
                "no restore is running (it expired, or none was requested)" if status == "Failed"
                else f"readable until {head.restore_expiry}" if head.restore_expiry else None
            ),
        )
        record_job(self.catalog, job)
        return job

    def list_jobs(self) -> list[RemoteJob]:
        jobs = []
        for record in self.catalog.jobs():
            if record.backend != self.backend or record.container != self.container:
                continue
            try:
                jobs.append(self.describe_job(record.job_id))
            except RemoteNotFound:
                continue  # the object is gone
        return jobs

    def _fetch_job_output(
        self, job: RemoteJob, dest: Path, byte_range: tuple[int, int] | None, progress: Progress
    ) -> FetchedOutput:
        job_id = job.job_id
        if job_id.startswith("listing:"):
            return self._write_listing(job, Path(dest), progress)
        if not job.done:
            raise JobNotReady(
                f"{job.target} is not readable yet (restore {job.status}); a Deep Archive "
                "restore takes up to 12 hours (Bulk: 48), so fetch it later"
            )
        head = self.head(job.target)
        params: dict = {"Key": job.target}
        if byte_range is not None:
            start, end = byte_range
            params["Range"] = f"bytes={start}-{end - 1}"
        whole = byte_range is None or (byte_range[0] == 0 and byte_range[1] >= head.size)
        total = head.size if byte_range is None else min(byte_range[1], head.size) - byte_range[0]
        progress.on_queued(total, job.target)

        def attempt() -> FetchedOutput:
            try:
                answer = self.client.get_object(Bucket=self.container, **params)
                body = answer["Body"]
                try:
                    return stream_to_file(
                        iter(lambda: body.read(READ_CHUNK), b""), Path(dest), progress,
                        f"s3://{self.container}/{job.target}",
                        expected_sha256=head.sha256 if whole else None,
                    )
                finally:
                    body.close()
            except (ChecksumError, FlexibleChecksumError) as exc:  # botocore checked the object's own checksum
                raise CorruptDownload(f"s3://{self.container}/{job.target}: {exc}") from None

        try:
            result = awserrors.call(attempt, self.where, "GetObject", self.backoff, sleep=self._sleep)
        except CorruptDownload as exc:
            raise ChecksumMismatch(f"{exc.message}; nothing was written: fetch it again") from None
        finally:
            progress.on_done()
        record_job(self.catalog, job, output_path=str(dest))
        return result

    def fetch_job_range(
        self, job_id: str, buffer: memoryview, start: int, *, progress: Progress | None = None
    ) -> FetchedRange:
        """One ranged GET, nothing asked first: the caller saw the restore finish. S3 sends no
        checksum for a range, so nothing is hashed here (the caller checks the whole file's
        SHA-256). An object that is no longer readable (the restore expired) raises JobNotReady."""
        progress = progress_or_null(progress)
        if not job_id.startswith("restore:"):
            raise UsageError(f"{job_id!r} is not an S3 restore (they look like restore:<key>)")
        end = start + len(buffer)
        if start < 0 or end <= start:
            raise UsageError(f"byte range {start}-{end} is empty or negative")
        key = job_id.removeprefix("restore:")
        what = f"s3://{self.container}/{key} bytes {start}-{end - 1}"

        def attempt() -> FetchedRange:
            try:
                answer = self.client.get_object(Bucket=self.container, Key=key,
                                                Range=f"bytes={start}-{end - 1}")
                body = answer["Body"]
                try:
                    return FetchedRange(read_range_into(body, buffer, progress, what), None, False)
                finally:
                    body.close()
            except (ChecksumError, FlexibleChecksumError) as exc:
                raise CorruptDownload(f"{what}: {exc}") from None

        try:
            return awserrors.call(attempt, self.where, "GetObject", self.backoff, sleep=self._sleep)
        except CorruptDownload as exc:
            raise ChecksumMismatch(f"{exc.message}; fetch it again") from None
        except ServiceError as exc:
            if "InvalidObjectState" in exc.message:
                raise JobNotReady(
                    f"s3://{self.container}/{key} is not readable (its restore expired or has "
                    "not finished); request it again with `icefloe restore`"
                ) from None
            raise

    def _write_listing(self, job: RemoteJob, dest: Path, progress: Progress) -> FetchedOutput:
        entries = []
        params: dict = {"Prefix": self.prefix}
        while True:
            page = self._call("ListObjectsV2", "list_objects_v2", **params)
            for item in page.get("Contents", []):
                head = self.head(item["Key"])
                modified = item.get("LastModified")
                entries.append(
                    {
                        "ArchiveId": item["Key"],
                        "ArchiveDescription": head.description or "",
                        "CreationDate": modified.isoformat() if hasattr(modified, "isoformat") else str(modified),
                        "Size": head.size,
                        "SHA256TreeHash": None,
                        "SHA256": head.sha256,
                        "StorageClass": head.storage_class,
                    }
                )
            if not page.get("IsTruncated"):
                break
            params = {"Prefix": self.prefix, "ContinuationToken": page["NextContinuationToken"]}
        doc = listing_document(self.container, self.prefix, utc_now(), entries)
        data = json.dumps(doc, indent=1).encode()
        progress.on_queued(len(data), job.job_id)
        result = stream_to_file([data], dest, progress, job.job_id)
        progress.on_done()
        record_job(self.catalog, job, output_path=str(dest))
        return result
