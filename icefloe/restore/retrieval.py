"""Getting archive sets back from cold storage: what to retrieve, the jobs, the wait, the download.

A restore first makes a :class:`RestorePlan`: for every volume of the sets asked for, a
verified local file (downloaded earlier, or the original still in the work folder) or the
cold-storage copy to retrieve, with any retrieval already requested (the catalog records
jobs; a rerun picks them up, so a restore can be left and resumed hours later). The plan
carries the cost estimate of the retrievals still to request, which the caller shows before
:func:`start_retrievals`. Jobs are then waited for (:func:`wait_for_job`, polling with
backoff) and their output downloaded (:func:`fetch_volume`, ranged and verified).

Vault: an archive-retrieval job, then GetJobOutput in ranges. S3: RestoreObject (tier, days),
HEAD's ``x-amz-restore`` polled until ``ongoing-request="false"``, then ranged GETs checked
against the SHA-256 in the object's metadata and the catalog.
"""

from __future__ import annotations

import fnmatch
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from icefloe.catalog import ArchiveRecord, Catalog, CopyRecord
from icefloe.coldstore import RemoteJob
from icefloe.errors import InputNotFound, RemoteNotFound, RetrievalPending, ServiceError, UsageError
from icefloe.progress import Progress
from icefloe.restore.cost import Estimate, check_tier, estimate
from icefloe.restore.download import Downloaded, download_job_output
from icefloe.restore.options import RestoreOptions

HASH_BLOCK = 8 << 20


@dataclass(frozen=True)
class VolumeNeed:
    """One archive volume of a set to restore, and where its bytes will come from."""

    archive: str
    set_name: str
    volume: int
    volumes: int
    size: int
    sha256: str
    tree_hash: str | None = None
    local: str | None = None  # a file already holding exactly these bytes
    copy: CopyRecord | None = None  # else: the cold-storage copy to retrieve
    job_id: str | None = None  # a retrieval requested for it (by this run or an earlier one)
    job_status: str | None = None  # InProgress or Succeeded

    @property
    def ready(self) -> bool:
        return self.local is not None or self.job_status == "Succeeded"


@dataclass(frozen=True)
class RestorePlan:
    backend: str
    container: str
    tier: str
    volumes: tuple[VolumeNeed, ...]
    estimate: Estimate  # of the retrievals not yet requested

    @property
    def sets(self) -> list[str]:
        return list(dict.fromkeys(v.set_name for v in self.volumes))

    @property
    def to_request(self) -> list[VolumeNeed]:
        return [v for v in self.volumes if v.local is None and v.job_id is None]

    @property
    def pending(self) -> list[VolumeNeed]:
        return [v for v in self.volumes if not v.ready]

    def of_set(self, set_name: str) -> list[VolumeNeed]:
        return sorted((v for v in self.volumes if v.set_name == set_name), key=lambda v: v.volume)


def resolve_sets(catalog: Catalog, name: str | None = None, partition: str | None = None) -> list[str]:
    """The archive sets a restore means: of a partition, the set named, or an archive's set."""
    if (name is None) == (partition is None):
        raise UsageError("name one archive or set, or give --partition LABEL (one of them)")
    if partition is not None:
        sets = [s.name for s in catalog.archive_sets(partition)]
        if not sets:
            raise InputNotFound(
                f"the catalog has no archive sets of partition {partition!r}; after losing the catalog "
                "run `icefloe catalog rebuild` first"
            )
        return sets
    assert name is not None
    if catalog.get_archive_set(name) is not None:
        return [name]
    record = catalog.get_archive(name)
    if record is not None:
        return [record.set_name]
    known = [s.name for s in catalog.archive_sets()]
    close = [k for k in known if fnmatch.fnmatch(k, f"*{name}*")][:3]
    hint = f" (did you mean {', '.join(close)}?)" if close else " (see `icefloe catalog`)"
    raise InputNotFound(f"the catalog has no archive or set named {name!r}{hint}")


def download_path(download_dir: Path, need: VolumeNeed) -> Path:
    return Path(download_dir) / need.set_name / need.archive


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(HASH_BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def _local_copy(record: ArchiveRecord, candidates: list[Path]) -> str | None:
    """A local file with exactly the archive's bytes (one reading pass to be sure)."""
    for path in candidates:
        try:
            if path.is_file() and path.stat().st_size == record.size and sha256_of(path) == record.sha256:
                return str(path)
        except OSError:
            continue
    return None


def _job_kind(backend: str) -> str:
    return "retrieval" if backend == "glacier" else "restore"


def current_job(store, catalog: Catalog, remote_id: str, service_jobs: list[RemoteJob] | None = None) -> RemoteJob | None:
    """The newest usable retrieval of ``remote_id``: recorded in the catalog, else among
    ``service_jobs`` (a vault's ListJobs: a catalog rebuilt after a loss knows no jobs)."""
    kind = _job_kind(store.backend)
    records = [
        j for j in catalog.jobs(kind=kind)
        if j.target == remote_id and j.backend == store.backend and j.container == store.container
    ]
    for record in reversed(records):
        if record.status == "Failed":
            continue
        try:
            job = store.describe_job(record.job_id)
        except RemoteNotFound:  # expired (vault jobs last about a day after they finish)
            catalog.put_job(replace(record, status="Failed", detail="expired"))
            continue
        if job.status in ("InProgress", "Succeeded"):
            return job
    for job in reversed(service_jobs or []):
        if job.kind == kind and job.target == remote_id and job.status in ("InProgress", "Succeeded"):
            return store.describe_job(job.job_id)  # and now the catalog records it
    return None


def plan_restore(
    store,
    catalog: Catalog,
    sets: list[str],
    *,
    download_dir: Path,
    tier: str,
    prices: dict[str, float],
    storage_class: str | None = None,
) -> RestorePlan:
    """What restoring ``sets`` needs: for each volume a local file, a job, or a retrieval to request."""
    check_tier(store.backend, storage_class if store.backend == "s3" else None, tier)
    # One ListJobs finds vault retrievals the catalog does not know (it was rebuilt).
    service_jobs = store.list_jobs() if store.backend == "glacier" else None
    needs: list[VolumeNeed] = []
    for set_name in sets:
        archives = sorted(catalog.archives(set_name=set_name), key=lambda a: (a.volume, a.name))
        if not archives:
            raise InputNotFound(f"the catalog lists no archives for set {set_name!r}; run `icefloe catalog rebuild`")
        needs += [volume_need(store, catalog, record, download_dir, service_jobs) for record in archives]
    asked = [v.size for v in needs if v.local is None and v.job_id is None]
    cost = estimate(store.backend, storage_class, tier, asked, prices)
    return RestorePlan(store.backend, store.container, tier, tuple(needs), cost)


def volume_need(
    store, catalog: Catalog, record: ArchiveRecord, download_dir: Path, service_jobs: list[RemoteJob] | None = None
) -> VolumeNeed:
    """Where one volume's bytes come from: a verified local file, a job, or nothing yet."""
    need = VolumeNeed(record.name, record.set_name, record.volume, record.volumes, record.size,
                      record.sha256, record.tree_hash)
    candidates = [download_path(download_dir, need)] + ([Path(record.path)] if record.path else [])
    local = _local_copy(record, candidates)
    if local is not None:
        return replace(need, local=local)
    copy = _pick_copy(catalog, record, store.backend, store.container)
    job = current_job(store, catalog, copy.remote_id, service_jobs)
    return replace(
        need, copy=copy, tree_hash=need.tree_hash or copy.tree_hash,
        job_id=job.job_id if job else None, job_status=job.status if job else None,
    )


def _pick_copy(catalog: Catalog, record: ArchiveRecord, backend: str, container: str) -> CopyRecord:
    copies = [c for c in catalog.copies(record.name) if c.backend == backend and c.container == container]
    if not copies:
        elsewhere = [f"{c.backend}:{c.container}" for c in catalog.copies(record.name)]
        where = f" (it is in {', '.join(elsewhere)}: set coldstore to that)" if elsewhere else ""
        raise InputNotFound(
            f"archive {record.name} has no copy in {backend} {container!r}{where}; "
            "if the catalog is stale run `icefloe catalog rebuild`, or restore from the discs"
        )
    return copies[-1]


def start_retrievals(store, plan: RestorePlan, *, days: int) -> RestorePlan:
    """Request a retrieval for every volume that has neither a local file nor a job."""
    out = []
    for need in plan.volumes:
        if need.local is None and need.job_id is None:
            assert need.copy is not None
            job = store.request_retrieval(need.copy.remote_id, plan.tier, days=days)
            need = replace(need, job_id=job.job_id, job_status=job.status)
        out.append(need)
    return replace(plan, volumes=tuple(out))


def refresh(store, plan: RestorePlan) -> RestorePlan:
    """The plan with each job's current state (one DescribeJob or HEAD per pending volume)."""
    out = []
    for need in plan.volumes:
        if need.job_id is not None and need.job_status != "Succeeded":
            job = store.describe_job(need.job_id)
            _check_not_failed(job)
            need = replace(need, job_status=job.status)
        out.append(need)
    return replace(plan, volumes=tuple(out))


def pending_message(plan: RestorePlan, again: str) -> str:
    waiting = plan.pending
    names = ", ".join(v.archive for v in waiting[:3]) + (" ..." if len(waiting) > 3 else "")
    return (
        f"{len(waiting)} retrieval{'s are' if len(waiting) != 1 else ' is'} still running "
        f"(tier {plan.tier}, {plan.estimate.typical_time} on AWS: {names}); run `{again}` again "
        "later to continue, or add --wait"
    )


def _check_not_failed(job: RemoteJob) -> None:
    if job.status == "Failed":
        raise ServiceError(
            f"retrieval {job.job_id} of {job.target} failed ({job.detail or 'no reason given'}); "
            "run the restore again to request it anew"
        )


def wait_for_job(
    store,
    job_id: str,
    *,
    options: RestoreOptions,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_poll: Callable[[RemoteJob], None] | None = None,
) -> RemoteJob:
    """Poll the job until it has Succeeded: after 1 s, then twice as long each time, up to
    ``poll_max_s`` between looks. RetrievalPending after ``wait_timeout_s``."""
    deadline = clock() + options.wait_timeout_s
    delay = options.poll_first_s
    while True:
        job = store.describe_job(job_id)
        if on_poll is not None:
            on_poll(job)
        if job.done:
            return job
        _check_not_failed(job)
        left = deadline - clock()
        if left <= 0:
            raise RetrievalPending(
                f"job {job_id} has not finished after {options.wait_timeout_s / 3600:.1f} hours; "
                "run the restore again later to pick it up"
            )
        sleep(min(delay, left))
        delay = min(delay * 2, options.poll_max_s)


def fetch_volume(
    store,
    need: VolumeNeed,
    *,
    download_dir: Path,
    options: RestoreOptions,
    progress: Progress | None = None,
) -> Downloaded | None:
    """Download one retrieved volume into ``download_dir/<set>/<archive>``; None if it is local."""
    if need.local is not None:
        return None
    if need.job_id is None:
        raise UsageError(f"no retrieval was requested for {need.archive} (a bug: plan it first)")
    dest = download_path(download_dir, need)
    return download_job_output(
        store, need.job_id, dest, size=need.size, identity=f"sha256:{need.sha256}",
        sha256=need.sha256, tree_hash=need.tree_hash if store.backend == "glacier" else None,
        options=options, progress=progress, label=need.archive,
    )
