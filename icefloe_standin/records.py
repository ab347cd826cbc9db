"""The vault records: vaults, archives, open uploads and their parts, and the id, date
and description rules they share."""

from __future__ import annotations

import base64
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from icefloe_standin.apierror import invalid_parameter, missing_parameter
from icefloe.treehash import MIB, TreeHasher

if TYPE_CHECKING:
    from icefloe_standin.jobs import Job

MAX_DESCRIPTION = 1024
CHUNK = MIB
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def new_id(length: int) -> str:
    """An opaque url-safe id like AWS's."""
    return base64.urlsafe_b64encode(secrets.token_bytes(length)).decode()[:length]


def iso(ts: float) -> str:
    """AWS's date format: 2012-03-20T17:03:43.221Z."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def check_description(description: str | None) -> str:
    """Archive and job descriptions: at most 1,024 printable ASCII characters."""
    description = description or ""
    if len(description) > MAX_DESCRIPTION or any(not " " <= c <= "~" for c in description):
        raise invalid_parameter(
            "Invalid archive description: it must be at most 1024 printable ASCII characters."
        )
    return description


def check_tree_hash_header(value: str | None) -> str:
    if not value:
        raise missing_parameter("Required header x-amz-sha256-tree-hash is missing.")
    if not _HEX64.match(value):
        raise invalid_parameter(f"Invalid x-amz-sha256-tree-hash: {value}")
    return value.lower()


@dataclass(eq=False)
class Archive:
    archive_id: str
    description: str
    size: int
    tree_hash: str
    created: float
    segment_size: int
    segments: list[Path]

    def read(self, start: int, end: int, chunk: int = CHUNK) -> Iterator[bytes]:
        """Bytes ``[start, end)``, in chunks of at most ``chunk``."""
        pos = start
        while pos < end:
            index, offset = divmod(pos, self.segment_size) if self.segment_size else (0, 0)
            with self.segments[index].open("rb") as f:
                f.seek(offset)
                seg_end = min(end, (index + 1) * self.segment_size)
                while pos < seg_end:
                    data = f.read(min(chunk, seg_end - pos))
                    if not data:
                        raise OSError(f"archive segment {self.segments[index]} is truncated")
                    pos += len(data)
                    yield data

    def range_tree_hash(self, start: int, end: int) -> str:
        if (start, end) == (0, self.size):
            return self.tree_hash
        hasher = TreeHasher()
        for data in self.read(start, end):
            hasher.update(data)
        return hasher.hexdigest()

    def inventory_entry(self) -> dict[str, Any]:
        return {
            "ArchiveId": self.archive_id,
            "ArchiveDescription": self.description,
            "CreationDate": iso(self.created),
            "Size": self.size,
            "SHA256TreeHash": self.tree_hash,
        }


@dataclass(eq=False)
class Part:
    start: int
    end: int  # inclusive, as in Content-Range
    tree_hash: str
    path: Path

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def range(self) -> str:
        return f"{self.start}-{self.end}"


@dataclass(eq=False)
class Upload:
    upload_id: str
    vault_arn: str
    description: str
    part_size: int
    created: float
    directory: Path
    parts: dict[int, Part] = field(default_factory=dict)  # by part index
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict[str, Any]:
        return {
            "MultipartUploadId": self.upload_id,
            "VaultARN": self.vault_arn,
            "ArchiveDescription": self.description,
            "PartSizeInBytes": self.part_size,
            "CreationDate": iso(self.created),
        }


@dataclass(eq=False)
class Vault:
    account: str
    region: str
    name: str
    created: float
    archives: dict[str, Archive] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    last_inventory: float | None = None
    # upload id -> (archive, when): a repeated CompleteMultipartUpload answers the same archive
    completed: dict[str, tuple[Archive, float]] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:glacier:{self.region}:{self.account}:vaults/{self.name}"

    def describe(self, now: float, inventory_lag_s: float) -> dict[str, Any]:
        # AWS counts the archives of the last inventory, so recent ones are not yet in.
        seen = [a for a in self.archives.values() if a.created <= now - inventory_lag_s]
        return {
            "VaultARN": self.arn,
            "VaultName": self.name,
            "CreationDate": iso(self.created),
            "LastInventoryDate": iso(self.last_inventory) if self.last_inventory else None,
            "NumberOfArchives": len(seen),
            "SizeInBytes": sum(a.size for a in seen),
        }
