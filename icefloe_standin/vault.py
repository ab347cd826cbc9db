"""The vault store: vaults, archives and multipart uploads, with the rules AWS enforces.

Bodies are spooled to files under ``root`` while their tree hash is computed, so memory
stays bounded whatever the archive size. A completed multipart upload keeps its part files
as the archive's segments: nothing is copied and nothing is held twice.

Limits: https://docs.aws.amazon.com/amazonglacier/latest/dev/uploading-archive-mpu.html
and https://docs.aws.amazon.com/amazonglacier/latest/dev/api-upload-part.html
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from icefloe_standin.apierror import ApiError, invalid_parameter, missing_parameter, not_found
from icefloe_standin.records import (
    CHUNK,
    Archive,
    Part,
    Upload,
    Vault,
    check_description,
    check_tree_hash_header,
    new_id,
)
from icefloe.treehash import MIB, TreeHasher, tree_hash_of_part_hashes

if TYPE_CHECKING:
    from icefloe_standin.jobs import Job

DEFAULT_ACCOUNT_ID = "123456789012"
MIN_PART_SIZE = MIB
MAX_PART_SIZE = 4 * 1024 * MIB
MAX_PARTS = 10_000
ARCHIVE_ID_LENGTH = 138  # what AWS's archive ids measure
UPLOAD_ID_LENGTH = 92
# AWS: "Complete Multipart Upload is an idempotent operation ... if you call the operation
# again within a short period, the operation will succeed and return the same archive ID."
# https://docs.aws.amazon.com/amazonglacier/latest/dev/api-multipart-complete-upload.html
# AWS names no period; this one is short enough that a rerun days later must look elsewhere.
COMPLETE_REPEAT_WINDOW_S = 3600.0
_VAULT_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/\*$")


@dataclass
class Spooled:
    path: Path
    size: int
    tree_hash: str
    sha256: str


class VaultStore:
    """All vaults of the stand-in. Thread-safe.

    Lock order: an upload's lock, then the store lock, never the reverse.
    """

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.clock = clock
        self._lock = threading.RLock()
        self._vaults: dict[tuple[str, str, str], Vault] = {}
        (root / "uploads").mkdir(parents=True, exist_ok=True)
        (root / "archives").mkdir(parents=True, exist_ok=True)

    # -- vaults --------------------------------------------------------------------------

    @staticmethod
    def account_id(path_account: str) -> str:
        """``-`` in the URL means the caller's own account."""
        return path_account if re.fullmatch(r"\d{12}", path_account) else DEFAULT_ACCOUNT_ID

    def create_vault(self, account: str, region: str, name: str) -> Vault:
        if not _VAULT_NAME.match(name):
            raise invalid_parameter(
                f"{name} is not a valid vault name: use 1 to 255 characters from "
                "a-z, A-Z, 0-9, '_', '-' and '.'."
            )
        with self._lock:  # idempotent, as on AWS
            return self._vaults.setdefault(
                (account, region, name), Vault(account, region, name, self.clock())
            )

    def get_vault(self, account: str, region: str, name: str) -> Vault:
        with self._lock:
            vault = self._vaults.get((account, region, name))
        if vault is None:
            arn = f"arn:aws:glacier:{region}:{account}:vaults/{name}"
            raise not_found(f"Vault not found for ARN: {arn}")
        return vault

    def list_vaults(self, account: str, region: str) -> list[Vault]:
        with self._lock:
            found = [v for (a, r, _), v in self._vaults.items() if (a, r) == (account, region)]
        return sorted(found, key=lambda v: v.name)

    def delete_vault(self, vault: Vault) -> None:
        with self._lock:
            if vault.archives:
                raise invalid_parameter(f"Vault not empty or recently written to: {vault.arn}")
            self._vaults.pop((vault.account, vault.region, vault.name), None)
            uploads = list(vault.uploads.values())
            vault.uploads.clear()
        for upload in uploads:
            shutil.rmtree(upload.directory, ignore_errors=True)

    # -- archives ------------------------------------------------------------------------

    def upload_archive(
        self,
        vault: Vault,
        description: str | None,
        tree_hash: str | None,
        content_sha256: str | None,
        body: IO[bytes],
        length: int | None,
    ) -> Archive:
        description = check_description(description)
        expected = check_tree_hash_header(tree_hash)
        length = _require_length(length)
        archive_id = new_id(ARCHIVE_ID_LENGTH)
        directory = self.root / "archives" / _dirname(archive_id)
        directory.mkdir()
        try:
            spooled = self._spool(body, length, directory)
            _verify(spooled, expected, content_sha256)
            segment = directory / "0"
            os.replace(spooled.path, segment)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        archive = Archive(
            archive_id,
            description,
            length,
            spooled.tree_hash,
            self.clock(),
            max(length, 1),
            [segment],
        )
        with self._lock:
            vault.archives[archive_id] = archive
        return archive

    def delete_archive(self, vault: Vault, archive_id: str) -> None:
        """Idempotent, as on AWS. Files a retrieval job still serves stay until shutdown."""
        with self._lock:
            archive = vault.archives.pop(archive_id, None)
            in_use = archive is not None and any(
                getattr(job, "archive", None) is archive for job in vault.jobs.values()
            )
        if archive is not None and not in_use:
            shutil.rmtree(archive.segments[0].parent, ignore_errors=True)

    # -- multipart uploads ---------------------------------------------------------------

    def initiate_upload(
        self, vault: Vault, part_size: str | None, description: str | None
    ) -> Upload:
        description = check_description(description)
        size = _parse_part_size(part_size)
        upload_id = new_id(UPLOAD_ID_LENGTH)
        directory = self.root / "uploads" / _dirname(upload_id)
        directory.mkdir()
        upload = Upload(upload_id, vault.arn, description, size, self.clock(), directory)
        with self._lock:
            vault.uploads[upload_id] = upload
        return upload

    def get_upload(self, vault: Vault, upload_id: str) -> Upload:
        return self._find(vault.uploads, upload_id, "upload")

    def list_uploads(self, vault: Vault) -> list[Upload]:
        return self._oldest_first(vault.uploads)

    def upload_part(
        self,
        vault: Vault,
        upload_id: str,
        content_range: str | None,
        tree_hash: str | None,
        content_sha256: str | None,
        body: IO[bytes],
        length: int | None,
    ) -> Part:
        upload = self.get_upload(vault, upload_id)
        expected = check_tree_hash_header(tree_hash)
        if not content_range:
            raise missing_parameter("Required header Content-Range is missing.")
        match = _CONTENT_RANGE.match(content_range.strip())
        if not match:
            raise invalid_parameter(f"Invalid Content-Range: '{content_range}'")
        start, end = int(match[1]), int(match[2])
        size = upload.part_size
        if end < start:
            raise invalid_parameter(f"Invalid Content-Range: '{content_range}'")
        if start % size:
            raise invalid_parameter(
                f"Content-Range: {content_range} is not aligned with the part size of {size} bytes."
            )
        part_len = end - start + 1
        if part_len > size:
            raise invalid_parameter(
                f"Content-Range: {content_range} is longer than the part size of {size} bytes."
            )
        index = start // size
        if index >= MAX_PARTS:
            raise invalid_parameter(
                f"Content-Range: {content_range} is beyond the {MAX_PARTS}-part limit "
                "of this upload."
            )
        if _require_length(length) != part_len:
            raise invalid_parameter(
                f"Content-Range: {content_range} covers {part_len} bytes but the body has {length}."
            )
        with upload.lock:
            _check_part_order(upload, index, start, end)
        spooled = self._spool(body, part_len, upload.directory)
        try:
            _verify(spooled, expected, content_sha256)
            part = Part(start, end, spooled.tree_hash, upload.directory / f"{index:05d}")
            with upload.lock:
                with self._lock:
                    if vault.uploads.get(upload_id) is not upload:
                        raise not_found(f"The upload ID was not found: {upload_id}")
                _check_part_order(upload, index, start, end)
                # Sending a range again replaces it, as on AWS.
                os.replace(spooled.path, part.path)
                upload.parts[index] = part
        finally:
            spooled.path.unlink(missing_ok=True)
        return part

    def complete_upload(
        self, vault: Vault, upload_id: str, archive_size: str | None, tree_hash: str | None
    ) -> Archive:
        repeated = self._repeated_complete(vault, upload_id, archive_size, tree_hash)
        if repeated is not None:
            return repeated
        upload = self.get_upload(vault, upload_id)
        if not archive_size:
            raise missing_parameter("Required header x-amz-archive-size is missing.")
        try:
            size = int(archive_size)
        except ValueError:
            raise invalid_parameter(f"Invalid x-amz-archive-size: {archive_size}") from None
        expected = check_tree_hash_header(tree_hash)
        with upload.lock:
            with self._lock:
                if vault.uploads.get(upload_id) is not upload:
                    raise not_found(f"The upload ID was not found: {upload_id}")
            parts = [upload.parts[i] for i in sorted(upload.parts)]
            _check_complete(parts, upload.part_size, size)
            actual = tree_hash_of_part_hashes([bytes.fromhex(p.tree_hash) for p in parts]).hex()
            if actual != expected:
                raise invalid_parameter(
                    f"Checksum mismatch: expected {expected}, computed {actual}"
                )
            archive_id = new_id(ARCHIVE_ID_LENGTH)
            directory = self.root / "archives" / _dirname(archive_id)
            directory.mkdir()
            segments = []
            for i, part in enumerate(parts):
                segment = directory / str(i)
                os.replace(part.path, segment)
                segments.append(segment)
            archive = Archive(
                archive_id,
                upload.description,
                size,
                actual,
                self.clock(),
                upload.part_size,
                segments,
            )
            with self._lock:
                vault.uploads.pop(upload_id, None)
                vault.archives[archive_id] = archive
                vault.completed[upload_id] = (archive, self.clock())
        shutil.rmtree(upload.directory, ignore_errors=True)
        return archive

    def _repeated_complete(
        self, vault: Vault, upload_id: str, archive_size: str | None, tree_hash: str | None
    ) -> Archive | None:
        """The archive a recent Complete of the same upload made, asked for again with the
        same size and tree hash; None otherwise (the request is then judged as new)."""
        with self._lock:
            done = vault.completed.get(upload_id)
            if done is None:
                return None
            archive, at = done
            if self.clock() - at > COMPLETE_REPEAT_WINDOW_S:
                del vault.completed[upload_id]
                return None
            if vault.archives.get(archive.archive_id) is not archive:
                return None  # deleted since
        if archive_size != str(archive.size) or (tree_hash or "").lower() != archive.tree_hash:
            return None
        return archive

    def abort_upload(self, vault: Vault, upload_id: str) -> None:
        upload = self.get_upload(vault, upload_id)
        with upload.lock, self._lock:
            vault.uploads.pop(upload_id, None)
        shutil.rmtree(upload.directory, ignore_errors=True)

    # -- jobs ----------------------------------------------------------------------------

    def add_job(self, vault: Vault, job: Job) -> None:
        with self._lock:
            vault.jobs[job.job_id] = job
            if job.action == "InventoryRetrieval":
                vault.last_inventory = job.created

    def get_job(self, vault: Vault, job_id: str) -> Job:
        return self._find(vault.jobs, job_id, "job")

    def list_jobs(self, vault: Vault) -> list[Job]:
        return self._oldest_first(vault.jobs)

    def archives(self, vault: Vault) -> list[Archive]:
        return self._oldest_first(vault.archives)

    def _find(self, table: dict[str, Any], key: str, what: str) -> Any:
        """``table[key]``, read under the lock; AWS's not-found error when it is not there."""
        with self._lock:
            found = table.get(key)
        if found is None:
            raise not_found(f"The {what} ID was not found: {key}")
        return found

    def _oldest_first(self, table: dict[str, Any]) -> list[Any]:
        """The values of ``table`` (keyed by their ids) as AWS lists them: by creation, then id."""
        with self._lock:
            return [item for _, item in sorted(table.items(), key=lambda kv: (kv[1].created, kv[0]))]

    # -- spooling ------------------------------------------------------------------------

    def _spool(self, body: IO[bytes], length: int, directory: Path) -> Spooled:
        """Copy ``length`` bytes of ``body`` to a temporary file, hashing on the way."""
        fd, name = tempfile.mkstemp(dir=directory, suffix=".spool")
        path = Path(name)
        hasher = TreeHasher()
        try:
            with os.fdopen(fd, "wb") as out:
                remaining = length
                while remaining:
                    data = body.read(min(CHUNK, remaining))
                    if not data:
                        raise ApiError(
                            "RequestTimeoutException",
                            408,
                            f"The request body ended after {length - remaining} of {length} bytes.",
                        )
                    hasher.update(data)
                    out.write(data)
                    remaining -= len(data)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return Spooled(path, length, hasher.hexdigest(), hasher.sha256_hexdigest())


def _dirname(opaque_id: str) -> str:
    # Ids may start with '-'; keep file names plain.
    return "x" + opaque_id


def _require_length(length: int | None) -> int:
    if length is None:
        raise missing_parameter("Required header Content-Length is missing.")
    return length


def _verify(spooled: Spooled, tree_hash: str, content_sha256: str | None) -> None:
    if not content_sha256:
        raise missing_parameter("Required header x-amz-content-sha256 is missing.")
    if content_sha256.lower() != spooled.sha256:
        raise invalid_parameter(
            f"x-amz-content-sha256 mismatch: expected {content_sha256}, computed {spooled.sha256}"
        )
    if tree_hash != spooled.tree_hash:
        raise invalid_parameter(
            f"Checksum mismatch: expected {tree_hash}, computed {spooled.tree_hash}"
        )


def _parse_part_size(value: str | None) -> int:
    if not value:
        raise missing_parameter("Required header x-amz-part-size is missing.")
    try:
        size = int(value)
    except ValueError:
        size = 0
    if not MIN_PART_SIZE <= size <= MAX_PART_SIZE or size & (size - 1):
        raise invalid_parameter(
            f"Invalid part size: {value}. Part size must not be null, must be a power of two "
            f"and be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes."
        )
    return size


def _check_part_order(upload: Upload, index: int, start: int, end: int) -> None:
    """Only the last part may be short: refuse a short part with parts after it, and any
    part after a short one. Call with the upload's lock held."""
    short = end - start + 1 < upload.part_size
    for other_index, other in upload.parts.items():
        if other_index == index:
            continue
        if short and other_index > index:
            raise invalid_parameter(
                f"Content-Range: bytes {start}-{end}/* is shorter than the part size of "
                f"{upload.part_size} bytes, but the part at bytes {other.range} follows it: "
                "only the last part may be shorter."
            )
        if other_index < index and other.length < upload.part_size:
            raise invalid_parameter(
                f"Content-Range: bytes {start}-{end}/* follows the part at bytes {other.range}, "
                f"which is shorter than the part size of {upload.part_size} bytes: "
                "only the last part may be shorter."
            )


def _check_complete(parts: list[Part], part_size: int, size: int) -> None:
    if not parts:
        raise invalid_parameter("The upload has no parts.")
    if size <= 0:
        raise invalid_parameter(f"Invalid x-amz-archive-size: {size}")
    expected_count = -(-size // part_size)
    for i, part in enumerate(parts):
        if part.start != i * part_size:
            raise invalid_parameter(
                f"Missing part: bytes {i * part_size}-{min(size, (i + 1) * part_size) - 1} "
                "were never uploaded."
            )
        last = i == len(parts) - 1
        if not last and part.length != part_size:
            raise invalid_parameter(f"Part at bytes {part.range} is shorter than the part size.")
    end = parts[-1].end + 1
    if len(parts) != expected_count or end != size:
        raise invalid_parameter(
            f"The archive size {size} does not match the uploaded parts, which end at byte {end}."
        )
