"""Vault jobs: inventory and archive retrieval, their state, and their output.

Jobs take hours on AWS (inventory about 4 h; retrieval minutes to 12 h by tier), so nothing
here waits: a job is requested and recorded in the catalog, and a later run (the scheduled
poll, or ``icefloe jobs``) describes it and fetches its output once it has Succeeded.
Output is checked against the tree hash the vault sends and written to a temporary name,
fsynced, then renamed. https://docs.aws.amazon.com/amazonglacier/latest/dev/api-job-output-get.html
"""

from __future__ import annotations

from pathlib import Path

from icefloe.catalog import JobRecord, now_iso
from icefloe.errors import ChecksumMismatch, CorruptDownload, JobNotReady, UsageError
from icefloe.fsutil import atomic_output
from icefloe.progress import Progress
from icefloe.treehash import MIB, TreeHasher, tree_hash
from icefloe.coldstore import awserrors
from icefloe.coldstore.base import FetchedOutput, FetchedRange, RemoteJob, progress_or_null

TIERS = ("Expedited", "Standard", "Bulk")
_KINDS = {"InventoryRetrieval": "inventory", "ArchiveRetrieval": "retrieval"}
READ_CHUNK = MIB


def record_job(catalog, job: RemoteJob, output_path: str | None = None) -> None:
    """Insert or update the catalog's record of a job, keeping when it was requested and
    where its output went."""
    old = catalog.get_job(job.job_id)
    status = job.status
    if output_path or (old is not None and old.status == "Fetched" and job.done):
        status = "Fetched"
    catalog.put_job(
        JobRecord(
            job_id=job.job_id,
            backend=job.backend,
            container=job.container,
            kind=job.kind,
            status=status,
            target=job.target,
            tier=job.tier,
            requested_at=(old.requested_at if old else "") or job.created or "",
            completed_at=job.completed,
            output_path=output_path or (old.output_path if old else None),
            detail=job.detail,
        )
    )


def check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise UsageError(f"tier must be one of {', '.join(TIERS)}, not {tier!r}")
    return tier


def _hashed(chunks, write, progress: Progress, what: str, expected_tree_hash: str | None,
            expected_sha256: str | None) -> TreeHasher:
    """Hand each chunk to ``write``, hashing it; a mismatch raises CorruptDownload."""
    hasher = TreeHasher()
    counted = 0
    try:
        for chunk in chunks:
            hasher.update(chunk)
            write(chunk)
            counted += len(chunk)
            progress.on_progress(len(chunk))
        if expected_tree_hash and hasher.hexdigest() != expected_tree_hash.lower():
            raise CorruptDownload(
                f"{what}: received bytes have tree hash {hasher.hexdigest()}, "
                f"the service sent {expected_tree_hash}"
            )
        if expected_sha256 and hasher.sha256_hexdigest() != expected_sha256.lower():
            raise CorruptDownload(
                f"{what}: received bytes have SHA-256 {hasher.sha256_hexdigest()}, "
                f"not the recorded {expected_sha256}"
            )
    except BaseException:
        progress.on_progress(-counted)
        raise
    return hasher


def _fetched(path: str, hasher: TreeHasher, expected_tree_hash: str | None,
             expected_sha256: str | None = None) -> FetchedOutput:
    return FetchedOutput(
        path=path,
        size=hasher.size,
        sha256=hasher.sha256_hexdigest(),
        tree_hash=hasher.hexdigest(),
        verified=(
            f"tree hash {expected_tree_hash}" if expected_tree_hash
            else f"sha256 {expected_sha256}" if expected_sha256 else None
        ),
    )


def stream_to_file(
    chunks,
    dest: Path,
    progress: Progress,
    what: str,
    *,
    expected_tree_hash: str | None = None,
    expected_sha256: str | None = None,
) -> FetchedOutput:
    """Write ``chunks`` to ``dest`` atomically, hashing them; a mismatch leaves ``dest`` untouched."""
    with atomic_output(dest) as out:
        hasher = _hashed(chunks, out.write, progress, what, expected_tree_hash, expected_sha256)
    return _fetched(str(dest), hasher, expected_tree_hash, expected_sha256)


def read_range_into(body, buffer: memoryview, progress: Progress, what: str) -> int:
    """Fill ``buffer`` from the response ``body``, ``READ_CHUNK`` at a time straight into it;
    a body of another length raises CorruptDownload (a retry). Progress moves as bytes
    arrive and rewinds when the range fails."""
    got = 0
    try:
        while got < len(buffer):
            n = body.readinto(buffer[got:got + READ_CHUNK])
            if not n:
                break
            got += n
            progress.on_progress(n)
        if got != len(buffer) or body.read(1):
            raise CorruptDownload(f"{what}: the service sent {'fewer' if got < len(buffer) else 'more'} "
                                  f"than the {len(buffer)} bytes asked for")
    except BaseException:
        progress.on_progress(-got)
        raise
    return got


class VaultJobs:
    """The job verbs of :class:`~icefloe.coldstore.vault.VaultStore` (a mixin: it uses the
    store's client, catalog and retrying ``_call``)."""

    def request_inventory(self) -> RemoteJob:
        answer = self._call(
            "InitiateJob", "initiate_job",
            jobParameters={"Type": "inventory-retrieval", "Format": "JSON"},
        )
        job = RemoteJob(
            job_id=answer["jobId"], backend=self.backend, container=self.container,
            kind="inventory", status="InProgress", created=now_iso(),
        )
        record_job(self.catalog, job)
        return job

    def request_retrieval(
        self, remote_id: str, tier: str | None = None, *, days: int = 7
    ) -> RemoteJob:
        tier = check_tier(tier or "Bulk")
        answer = self._call(
            "InitiateJob", "initiate_job",
            jobParameters={"Type": "archive-retrieval", "ArchiveId": remote_id, "Tier": tier},
        )
        job = RemoteJob(
            job_id=answer["jobId"], backend=self.backend, container=self.container,
            kind="retrieval", status="InProgress", target=remote_id, tier=tier, created=now_iso(),
        )
        record_job(self.catalog, job)
        return job

    def _job(self, item: dict) -> RemoteJob:
        action = item.get("Action", "")
        size = item.get("ArchiveSizeInBytes") if action == "ArchiveRetrieval" else item.get(
            "InventorySizeInBytes"
        )
        if action == "ArchiveRetrieval" and item.get("RetrievalByteRange"):
            first, last = (int(x) for x in item["RetrievalByteRange"].split("-"))
            size = last - first + 1
        return RemoteJob(
            job_id=item["JobId"],
            backend=self.backend,
            container=self.container,
            kind=_KINDS.get(action, action.lower() or "unknown"),
            status=item.get("StatusCode", "InProgress"),
            target=item.get("ArchiveId"),
            tier=item.get("Tier"),
            created=item.get("CreationDate"),
            completed=item.get("CompletionDate"),
            output_size=size,
            output_tree_hash=item.get("SHA256TreeHash"),
            detail=item.get("StatusMessage"),
        )

    def describe_job(self, job_id: str) -> RemoteJob:
        job = self._job(self._call("DescribeJob", "describe_job", jobId=job_id))
        record_job(self.catalog, job)
        return job

    def list_jobs(self) -> list[RemoteJob]:
        jobs: list[RemoteJob] = []
        marker = None
        while True:
            page = self._call("ListJobs", "list_jobs", **({"marker": marker} if marker else {}))
            jobs.extend(self._job(item) for item in page.get("JobList", []))
            marker = page.get("Marker")
            if not marker:
                return sorted(jobs, key=lambda j: j.created or "")

    def _fetch_job_output(
        self, job: RemoteJob, dest: Path, byte_range: tuple[int, int] | None, progress: Progress
    ) -> FetchedOutput:
        job_id = job.job_id
        if not job.done:
            raise JobNotReady(
                f"job {job_id} is {job.status}; {job.kind} jobs take hours on AWS, "
                "so fetch its output later (`icefloe jobs` shows when it has Succeeded)"
            )
        params: dict = {"jobId": job_id}
        whole = byte_range is None or (
            byte_range[0] == 0 and job.output_size is not None and byte_range[1] >= job.output_size
        )
        if byte_range is not None:
            start, end = byte_range
            params["range"] = f"bytes={start}-{end - 1}"
        total = (byte_range[1] - byte_range[0]) if byte_range else (job.output_size or 0)
        progress.on_queued(total, f"job {job_id[:12]}")

        def attempt() -> FetchedOutput:
            answer = self.client.get_job_output(vaultName=self.container, **params)
            body = answer["body"]
            expected = answer.get("checksum") or (job.output_tree_hash if whole else None)
            try:
                return stream_to_file(
                    iter(lambda: body.read(READ_CHUNK), b""), Path(dest), progress,
                    f"job {job_id}", expected_tree_hash=expected,
                )
            finally:
                body.close()

        try:
            result = awserrors.call(
                attempt, self.where, "GetJobOutput", self.backoff, sleep=self._sleep
            )
        except CorruptDownload as exc:
            raise ChecksumMismatch(
                f"{exc.message}, on every one of {self.backoff.attempts} tries; nothing was "
                "written: fetch it again later"
            ) from None
        finally:
            progress.on_done()
        record_job(self.catalog, job, output_path=str(dest))
        return result

    def fetch_job_range(
        self, job_id: str, buffer: memoryview, start: int, *, progress: Progress | None = None
    ) -> FetchedRange:
        progress = progress_or_null(progress)
        end = start + len(buffer)
        if start < 0 or end <= start:
            raise UsageError(f"byte range {start}-{end} is empty or negative")
        what = f"job {job_id} bytes {start}-{end - 1}"

        def attempt() -> FetchedRange:
            answer = self.client.get_job_output(vaultName=self.container, jobId=job_id,
                                                range=f"bytes={start}-{end - 1}")
            body = answer["body"]
            try:
                read_range_into(body, buffer, progress, what)
            finally:
                body.close()
            expected = answer.get("checksum")
            got = tree_hash(buffer)  # by protocol; the file's SHA-256 is the caller's, in the same pass
            if expected and got != expected.lower():
                progress.on_progress(-len(buffer))
                raise CorruptDownload(f"{what}: received bytes have tree hash {got}, the service sent {expected}")
            return FetchedRange(len(buffer), got, bool(expected))

        try:
            return awserrors.call(attempt, self.where, "GetJobOutput", self.backoff, sleep=self._sleep)
        except CorruptDownload as exc:
            raise ChecksumMismatch(
                f"{exc.message}, on every one of {self.backoff.attempts} tries; fetch it again later"
            ) from None
