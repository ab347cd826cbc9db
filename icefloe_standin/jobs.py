"""Vault jobs: archive retrieval and inventory retrieval.

A job stays ``InProgress`` for ``job_delay_s`` after it starts, then ``Succeeded``. An
inventory is taken when the job starts and leaves out archives younger than
``inventory_lag_s``, as AWS's inventory lags about a day behind uploads.

Output rules: https://docs.aws.amazon.com/amazonglacier/latest/dev/api-job-output-get.html
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from icefloe_standin.apierror import invalid_parameter, missing_parameter, not_found
from icefloe_standin.records import Archive, Vault, check_description, iso, new_id
from icefloe.treehash import MIB

JOB_ID_LENGTH = 92
TIERS = ("Expedited", "Standard", "Bulk")
INVENTORY_FIELDS = ("ArchiveId", "ArchiveDescription", "CreationDate", "Size", "SHA256TreeHash")
_RANGE = re.compile(r"^(\d+)-(\d+)$")


@dataclass(eq=False)
class Job:
    job_id: str
    action: str  # "ArchiveRetrieval" or "InventoryRetrieval"
    vault_arn: str
    created: float
    ready_at: float
    tier: str
    description: str | None
    sns_topic: str | None
    archive: Archive | None = None
    retrieval: tuple[int, int] | None = None  # archive bytes [start, end)
    inventory: bytes | None = None
    inventory_params: dict[str, Any] | None = None
    content_type: str = "application/octet-stream"
    _range_hash: str | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def completed(self, now: float) -> bool:
        return now >= self.ready_at

    @property
    def output_size(self) -> int:
        if self.retrieval is not None:
            return self.retrieval[1] - self.retrieval[0]
        return len(self.inventory or b"")

    def retrieval_tree_hash(self) -> str:
        """Tree hash of the retrieved range (computed once: it reads the data)."""
        assert self.archive is not None and self.retrieval is not None
        with self._lock:
            if self._range_hash is None:
                self._range_hash = self.archive.range_tree_hash(*self.retrieval)
            return self._range_hash

    def describe(self, now: float) -> dict[str, Any]:
        done = self.completed(now)
        out: dict[str, Any] = {
            "JobId": self.job_id,
            "JobDescription": self.description,
            "Action": self.action,
            "VaultARN": self.vault_arn,
            "CreationDate": iso(self.created),
            "Completed": done,
            "StatusCode": "Succeeded" if done else "InProgress",
            "StatusMessage": "Succeeded" if done else None,
            "CompletionDate": iso(self.ready_at) if done else None,
            "SNSTopic": self.sns_topic,
            "Tier": self.tier,
        }
        if self.archive is not None and self.retrieval is not None:
            start, end = self.retrieval
            out.update(
                ArchiveId=self.archive.archive_id,
                ArchiveSizeInBytes=self.archive.size,
                ArchiveSHA256TreeHash=self.archive.tree_hash,
                RetrievalByteRange=f"{start}-{end - 1}",
                SHA256TreeHash=self.retrieval_tree_hash() if done else None,
            )
        else:
            out.update(
                InventorySizeInBytes=self.output_size if done else None,
                InventoryRetrievalParameters=self.inventory_params,
            )
        return {k: v for k, v in out.items() if v is not None}

    def output(self, start: int, end: int) -> Iterator[bytes]:
        """Output bytes ``[start, end)``."""
        if self.archive is not None and self.retrieval is not None:
            base = self.retrieval[0]
            return self.archive.read(base + start, base + end)
        return iter([(self.inventory or b"")[start:end]])

    def output_tree_hash(self, start: int, end: int) -> str | None:
        """The x-amz-sha256-tree-hash of output ``[start, end)``, when AWS sends one: for
        archive output, if the range is the whole output, or starts on a MiB boundary and
        ends on one or at the end of the output."""
        if self.archive is None or self.retrieval is None:
            return None
        if (start, end) == (0, self.output_size):
            return self.retrieval_tree_hash()
        if start % MIB or (end % MIB and end != self.output_size):
            return None
        base = self.retrieval[0]
        return self.archive.range_tree_hash(base + start, base + end)


def new_job(
    vault: Vault,
    params: Any,
    archives: list[Archive],
    now: float,
    job_delay_s: float,
    inventory_lag_s: float,
) -> Job:
    """Validate ``InitiateJob`` parameters and build the job (not yet added to the vault)."""
    if not isinstance(params, Mapping):
        raise invalid_parameter("The job parameters must be a JSON object.")
    job_type = params.get("Type")
    if not job_type:
        raise missing_parameter("Required parameter Type is missing.")
    tier = params.get("Tier") or "Standard"
    if tier not in TIERS:
        raise invalid_parameter(f"Invalid tier: {tier}. Use one of {', '.join(TIERS)}.")
    description = params.get("Description")
    if description is not None:
        check_description(description)
    job = Job(
        job_id=new_id(JOB_ID_LENGTH),
        action="",
        vault_arn=vault.arn,
        created=now,
        ready_at=now + job_delay_s,
        tier=tier,
        description=description,
        sns_topic=params.get("SNSTopic"),
    )
    if job_type == "archive-retrieval":
        job.action = "ArchiveRetrieval"
        archive_id = params.get("ArchiveId")
        if not archive_id:
            raise missing_parameter("Required parameter ArchiveId is missing.")
        archive = next((a for a in archives if a.archive_id == archive_id), None)
        if archive is None:
            raise not_found(f"Archive not found for ArchiveId: {archive_id}")
        job.archive = archive
        job.retrieval = _retrieval_range(params.get("RetrievalByteRange"), archive.size)
    elif job_type == "inventory-retrieval":
        job.action = "InventoryRetrieval"
        job.inventory, job.content_type, job.inventory_params = _inventory(
            vault, params, archives, now, inventory_lag_s
        )
    else:
        raise invalid_parameter(
            f"Invalid job type: {job_type}. The stand-in supports "
            "archive-retrieval and inventory-retrieval."
        )
    return job


def _retrieval_range(value: str | None, size: int) -> tuple[int, int]:
    if not value:
        return (0, size)
    match = _RANGE.match(value)
    start, end = (int(match[1]), int(match[2])) if match else (-1, -1)
    if not match or start > end or end >= size:
        raise invalid_parameter(f"Invalid RetrievalByteRange: {value} (archive size {size}).")
    if start % MIB or ((end + 1) % MIB and end != size - 1):
        raise invalid_parameter(
            f"The RetrievalByteRange {value} is not megabyte aligned: it must start at a "
            "multiple of 1 MiB and end one byte before a multiple of 1 MiB or at the "
            "end of the archive."
        )
    return (start, end + 1)


def _inventory(
    vault: Vault,
    params: Mapping[str, Any],
    archives: list[Archive],
    now: float,
    inventory_lag_s: float,
) -> tuple[bytes, str, dict[str, Any]]:
    fmt = params.get("Format") or "JSON"
    if fmt not in ("JSON", "CSV"):
        raise invalid_parameter(f"Invalid inventory format: {fmt}. Use JSON or CSV.")
    extra = params.get("InventoryRetrievalParameters") or {}
    start = _date(extra.get("StartDate"), "StartDate")
    end = _date(extra.get("EndDate"), "EndDate")
    cutoff = now - inventory_lag_s
    entries = [
        a.inventory_entry()
        for a in archives
        if a.created <= cutoff
        and (start is None or a.created >= start)
        and (end is None or a.created < end)
    ]
    described = {"Format": fmt}
    described.update({k: extra[k] for k in ("StartDate", "EndDate") if extra.get(k)})
    if fmt == "JSON":
        doc = {"VaultARN": vault.arn, "InventoryDate": iso(cutoff), "ArchiveList": entries}
        return json.dumps(doc).encode(), "application/json", described
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=INVENTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(entries)
    return buf.getvalue().encode(), "text/csv", described


def _date(value: str | None, name: str) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid_parameter(f"Invalid {name}: {value}") from None
