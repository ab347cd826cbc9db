"""The cold-store interface: a few verbs and typed records, shared by the vault and S3 backends.

Every backend passes the same contract suite (tests/coldstore/test_contract.py).
"""

from __future__ import annotations

import hashlib
import os
import stat as statmod
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from icefloe.catalog import Catalog, CopyRecord
from icefloe.config import ColdstoreConfig
from icefloe.errors import (
    FileChanged,
    InputNotFound,
    InputUnreadable,
    TooLarge,
    UsageError,
)
from icefloe.progress import NullProgress, Progress
from icefloe.treehash import MIB

GIB = 1024 * MIB
# Vault multipart limits: https://docs.aws.amazon.com/amazonglacier/latest/dev/uploading-archive-mpu.html
VAULT_MIN_PART = MIB
VAULT_MAX_PART = 4 * GIB
VAULT_MAX_PARTS = 10_000
# S3 multipart limits: https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
S3_MIN_PART = 5 * MIB
S3_MAX_PART = 5 * GIB
S3_MAX_PARTS = 10_000
HASH_BLOCK = 8 * MIB


@dataclass(frozen=True)
class StoredArchive:
    """An archive in cold storage, as the upload left it."""

    backend: str  # "glacier" or "s3"
    container: str  # vault or bucket
    remote_id: str  # archive id or object key
    size: int
    sha256: str
    description: str
    part_size: int  # 0 for a single-request upload
    tree_hash: str | None = None  # vault only
    server_checksum: str | None = None  # what the service returned, as it returned it
    parts_sent: int = 0  # requests carrying data in this run
    parts_reused: int = 0  # parts a resumed upload found on the server
    already_stored: bool = False  # the catalog already held this copy; nothing was sent
    remote_check: str = ""  # for an already stored copy: what the service said of it


@dataclass(frozen=True)
class OpenUpload:
    """A multipart upload the service holds open (and bills storage for)."""

    backend: str
    container: str
    upload_id: str
    started_at: str  # ISO 8601 as the service reports it
    key: str | None = None  # S3 object key
    description: str | None = None  # vault archive description
    part_size: int | None = None
    local_path: str | None = None  # from the catalog, when icefloe started it
    parts_done: int | None = None  # from the catalog

    def started(self) -> datetime:
        return parse_time(self.started_at)


@dataclass(frozen=True)
class RemoteJob:
    """A vault job, an S3 restore, or an S3 listing standing in for an inventory."""

    job_id: str
    backend: str
    container: str
    kind: str  # inventory, retrieval (vault), restore (s3)
    status: str  # InProgress, Succeeded, Failed
    target: str | None = None  # archive id or object key
    tier: str | None = None
    created: str | None = None
    completed: str | None = None
    output_size: int | None = None
    output_tree_hash: str | None = None
    detail: str | None = None

    @property
    def done(self) -> bool:
        return self.status == "Succeeded"


@dataclass(frozen=True)
class FetchedOutput:
    path: str
    size: int
    sha256: str
    tree_hash: str
    verified: str | None  # what the bytes were checked against, or None when nothing was given


@dataclass(frozen=True)
class FetchedRange:
    """One range of a job's output, received into the caller's buffer."""

    size: int
    tree_hash: str | None  # vault: of the bytes received, which matched the service's
    verified: bool  # the service sent a checksum for the range and the bytes matched it


@dataclass(frozen=True)
class RemoteObject:
    """What HEAD says about an S3 object."""

    key: str
    size: int
    storage_class: str
    sha256: str | None  # from icefloe's metadata
    description: str | None
    restore: str | None  # None, "ongoing" or "done"
    restore_expiry: str | None = None
    checksum_sha256: str | None = None  # the service's, base64 (a multipart one ends in -N)
    checksum_crc32: str | None = None  # likewise, of an object sent in parts with CRC32s


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def plan_part_size(size: int, wanted: int, *, min_part: int, max_part: int, max_parts: int) -> int:
    """The part size to use: ``wanted`` (a power of two in MiB), doubled until the file needs at
    most ``max_parts`` parts. Refuses a file that would need parts over ``max_part``."""
    if wanted < MIB or wanted & (wanted - 1) or wanted > min(max_part, VAULT_MAX_PART):
        raise UsageError(
            f"part size {wanted / MIB:g} MiB is not a power of two from 1 to 4096 MiB"
        )
    part = max(wanted, min_part)
    while -(-size // part) > max_parts:
        part *= 2
        if part > max_part:
            raise TooLarge(
                f"{size} bytes is more than {max_parts} parts of {max_part // GIB} GiB; "
                "split the archive into volumes (archive.volume_size_mib)"
            )
    return part


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    ino: int
    dev: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileState:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


class LocalFile:
    """The file being uploaded: opened once, read by position, checked for changes."""

    def __init__(self, path: Path, fd: int, state: FileState) -> None:
        self.path, self.fd, self.state = path, fd, state

    @property
    def size(self) -> int:
        return self.state.size

    def pread(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``; a short read means the file shrank."""
        data = os.pread(self.fd, end - start, start)
        if len(data) != end - start:
            raise FileChanged(
                f"{self.path} became shorter while it was being uploaded; the upload was "
                "stopped: upload it again once nothing writes to it"
            )
        return data

    def pread_into(self, buffer: bytearray, start: int, end: int) -> memoryview:
        """Bytes ``[start, end)`` read into ``buffer``, as a view of it."""
        view = memoryview(buffer)[: end - start]
        if os.preadv(self.fd, [view], start) != end - start:
            raise FileChanged(
                f"{self.path} became shorter while it was being uploaded; the upload was "
                "stopped: upload it again once nothing writes to it"
            )
        return view

    def check_unchanged(self) -> None:
        try:
            now = FileState.of(os.stat(self.path))
        except OSError:
            now = None
        if now != self.state or FileState.of(os.fstat(self.fd)) != self.state:
            raise FileChanged(
                f"{self.path} changed while it was being uploaded (size or modification time); "
                "the upload was stopped: upload it again once nothing writes to it"
            )

    def sha256(self, progress: Progress | None = None) -> str:
        """One sequential pass, used only when nobody knows the file's SHA-256 yet."""
        digest = hashlib.sha256()
        pos = 0
        while pos < self.size:
            data = self.pread(pos, min(self.size, pos + HASH_BLOCK))
            digest.update(data)
            pos += len(data)
            if progress is not None:
                progress.on_progress(len(data))
        return digest.hexdigest()


def differs_error(path: Path) -> FileChanged:
    return FileChanged(
        f"{path} differs from the archive recorded for it (it changed after it was made, or "
        "while it was being uploaded); nothing was stored: check the file, then upload it again"
    )


@contextmanager
def open_local(path: Path) -> Iterator[LocalFile]:
    """Open the file to upload, with one clear error for each way it can be unusable."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputNotFound(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder; upload a file (an archive made by icefloe)") from None
    except PermissionError:
        raise InputUnreadable(f"{path}: permission denied; make it readable by this user") from None
    except OSError as exc:
        raise InputUnreadable(f"{path}: cannot open it ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if statmod.S_ISDIR(st.st_mode):
            raise UsageError(f"{path} is a folder; upload a file (an archive made by icefloe)")
        if not statmod.S_ISREG(st.st_mode):
            raise UsageError(f"{path} is not a regular file")
        try:
            os.pread(fd, 1, 0)
        except OSError as exc:
            raise InputUnreadable(f"{path}: cannot read it ({exc.strerror})") from None
        yield LocalFile(path, fd, FileState.of(st))
    finally:
        os.close(fd)


@dataclass(frozen=True)
class UploadRequest:
    """What :meth:`ColdStore.upload` was asked, beyond the file itself."""

    name: str | None
    description: str | None
    partition: str | None
    sha256: str | None
    part_size: int  # bytes wanted; a backend raises it to its minimum or for a huge file
    concurrency: int
    force: bool


class ColdStore(ABC):
    """One vault or one bucket (under a key prefix), with the verbs icefloe needs."""

    backend: str
    container: str

    def __init__(self, cfg: ColdstoreConfig, catalog: Catalog) -> None:
        self.cfg = cfg
        self.catalog = catalog

    @abstractmethod
    def check_container(self) -> None:
        """Raise ContainerMissing (saying how to create it) unless the vault/bucket exists."""

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
        """Store one file, resuming an interrupted upload of it, and record it in the catalog.

        ``name`` defaults to the file's name; ``sha256`` to the catalog's record of the
        archive at ``path``, else one reading pass first. ``part_size`` is bytes. A copy the
        catalog records is checked with the service first (:meth:`check_copy`); ``force``
        sends the file again all the same.
        """
        concurrency = concurrency or self.cfg.concurrency
        if concurrency < 1:
            raise UsageError(f"concurrency must be at least 1, not {concurrency}")
        request = UploadRequest(name=name, description=description, partition=partition, sha256=sha256,
                                part_size=part_size or self.cfg.part_size, concurrency=concurrency,
                                force=force)
        with open_local(Path(path)) as f:
            return self._upload(f, request, progress_or_null(progress))

    @abstractmethod
    def _upload(self, f: LocalFile, request: UploadRequest, progress: Progress) -> StoredArchive:
        """Store the open file ``f`` as ``request`` asks: the backend's part of :meth:`upload`."""

    @abstractmethod
    def check_copy(self, copy: CopyRecord) -> str | None:
        """Whether the service still holds a copy the catalog records: a note saying how that
        was established (or that it could not be), or None when the copy is gone."""

    @abstractmethod
    def list_uploads(self) -> list[OpenUpload]:
        """Multipart uploads the service holds open, oldest first."""

    @abstractmethod
    def abort_upload(self, upload_id: str) -> OpenUpload:
        """Abort one open upload (the service frees its parts)."""

    def abort_uploads_older_than(
        self, age: timedelta, *, now: datetime | None = None
    ) -> list[OpenUpload]:
        now = now or datetime.now(timezone.utc)
        stale = [u for u in self.list_uploads() if u.started() <= now - age]
        return [self.abort_upload(u.upload_id) for u in stale]

    @abstractmethod
    def request_inventory(self) -> RemoteJob: ...

    @abstractmethod
    def request_retrieval(
        self, remote_id: str, tier: str | None = None, *, days: int = 7
    ) -> RemoteJob:
        """Ask for an archive to be made readable: a vault retrieval job, or an S3 restore
        kept for ``days``. ``tier`` is Expedited, Standard or Bulk (default Bulk)."""

    @abstractmethod
    def describe_job(self, job_id: str) -> RemoteJob: ...

    @abstractmethod
    def list_jobs(self) -> list[RemoteJob]:
        """Jobs the service knows, in progress ones included, oldest first."""

    def fetch_job_output(
        self,
        job_id: str,
        dest: Path,
        *,
        byte_range: tuple[int, int] | None = None,
        progress: Progress | None = None,
    ) -> FetchedOutput:
        """Write a finished job's output to ``dest`` (temporary name, fsync, rename),
        checking it against the service's checksum. ``byte_range`` is [start, end)."""
        if byte_range is not None and (byte_range[0] < 0 or byte_range[1] <= byte_range[0]):
            raise UsageError(f"byte range {byte_range[0]}-{byte_range[1]} is empty or negative")
        return self._fetch_job_output(self.describe_job(job_id), Path(dest), byte_range,
                                      progress_or_null(progress))

    @abstractmethod
    def _fetch_job_output(
        self, job: RemoteJob, dest: Path, byte_range: tuple[int, int] | None, progress: Progress
    ) -> FetchedOutput:
        """The backend's part of :meth:`fetch_job_output`, for the job as described just now."""

    @abstractmethod
    def fetch_job_range(
        self, job_id: str, buffer: memoryview, start: int, *, progress: Progress | None = None
    ) -> FetchedRange:
        """Read bytes [start, start + len(buffer)) of a finished job's output into ``buffer``,
        checked against the service's checksum when it sends one for the range (``verified``;
        a vault range's tree hash is computed from the buffer, S3 hashes nothing here). One
        request, nothing asked first, nothing written: a ranged download calls it once per
        range, having seen the job finish, and writes, hashes and records the bytes itself."""


def progress_or_null(progress: Progress | None) -> Progress:
    return progress if progress is not None else NullProgress()
