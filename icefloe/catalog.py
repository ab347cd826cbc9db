"""The catalog: icefloe's SQLite record of archives, copies, uploads, jobs, discs and checks.

It replaces the spreadsheet of archive ids. Every destructive step reads its gates from here
at the moment it acts. The schema is documented in docs/catalog.md; its version lives in the
``meta`` table and migrations run on open.

Concurrency: WAL mode, a busy timeout, and every write in its own ``BEGIN IMMEDIATE``
transaction, so several processes (a flow, the CLI, a worker) can write at once without
losing anything. One ``Catalog`` may be shared by threads; a lock serialises its connection.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from icefloe.errors import CatalogError, NotEnoughSpace

SCHEMA_VERSION = 4

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE archive_sets (
        name TEXT PRIMARY KEY, partition_label TEXT NOT NULL, manifest_path TEXT,
        manifest_sha256 TEXT, file_count INTEGER NOT NULL, total_bytes INTEGER NOT NULL,
        encrypted INTEGER NOT NULL, created_at TEXT NOT NULL, cleared_at TEXT);
    CREATE TABLE archives (
        name TEXT PRIMARY KEY, set_name TEXT NOT NULL, partition_label TEXT NOT NULL,
        volume INTEGER NOT NULL, volumes INTEGER NOT NULL, path TEXT, size INTEGER NOT NULL,
        sha256 TEXT NOT NULL, tree_hash TEXT, created_at TEXT NOT NULL);
    CREATE INDEX archives_set ON archives(set_name);
    CREATE TABLE manifest_entries (
        set_name TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL, sha256 TEXT, PRIMARY KEY (set_name, path));
    CREATE TABLE copies (
        backend TEXT NOT NULL, container TEXT NOT NULL, remote_id TEXT NOT NULL,
        archive_name TEXT, description TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT,
        tree_hash TEXT, part_size INTEGER, created_at TEXT NOT NULL, deleted_at TEXT,
        PRIMARY KEY (backend, container, remote_id));
    CREATE INDEX copies_archive ON copies(archive_name);
    CREATE TABLE uploads (
        upload_id TEXT PRIMARY KEY, backend TEXT NOT NULL, container TEXT NOT NULL,
        key TEXT NOT NULL, local_path TEXT NOT NULL, size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL, part_size INTEGER NOT NULL, description TEXT NOT NULL,
        started_at TEXT NOT NULL, state TEXT NOT NULL, remote_id TEXT);
    CREATE TABLE upload_parts (
        upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, start INTEGER NOT NULL,
        end INTEGER NOT NULL, checksum TEXT NOT NULL, etag TEXT, done_at TEXT NOT NULL,
        PRIMARY KEY (upload_id, part_number));
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY, backend TEXT NOT NULL, container TEXT NOT NULL,
        kind TEXT NOT NULL, target TEXT, tier TEXT, status TEXT NOT NULL,
        requested_at TEXT NOT NULL, completed_at TEXT, output_path TEXT, detail TEXT);
    CREATE TABLE images (
        name TEXT PRIMARY KEY, set_name TEXT NOT NULL, disc_index INTEGER NOT NULL,
        disc_count INTEGER NOT NULL, disc_type TEXT NOT NULL, path TEXT, size INTEGER NOT NULL,
        sha256 TEXT NOT NULL, created_at TEXT NOT NULL);
    CREATE TABLE burns (
        id INTEGER PRIMARY KEY, image_name TEXT NOT NULL, device TEXT NOT NULL,
        burned_at TEXT NOT NULL, readback_sha256 TEXT, ok INTEGER NOT NULL);
    CREATE TABLE mirror_runs (
        id INTEGER PRIMARY KEY, partition_label TEXT NOT NULL, started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL, ok INTEGER NOT NULL, exit_code INTEGER,
        files_transferred INTEGER, files_deleted INTEGER, bytes_sent INTEGER,
        warnings TEXT, detail TEXT);
    CREATE TABLE verifications (
        id INTEGER PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, ok INTEGER NOT NULL,
        detail TEXT, at TEXT NOT NULL);
    CREATE INDEX verifications_subject ON verifications(subject, kind);
    """,
    # A verifier of the password an encrypted set was made with (icefloe/passwords.py).
    2: """
    ALTER TABLE archive_sets ADD COLUMN password_verifier TEXT;
    """,
    # An archive set's lifecycle (icefloe/lifecycle.py) and one run per partition (icefloe/lease.py).
    3: """
    CREATE TABLE set_plans (
        name TEXT PRIMARY KEY, partition_label TEXT NOT NULL, directory TEXT NOT NULL,
        planned_at TEXT NOT NULL, abandoned_at TEXT, abandon_reason TEXT);
    CREATE TABLE leases (
        name TEXT PRIMARY KEY, holder TEXT NOT NULL, token TEXT NOT NULL, pid INTEGER NOT NULL,
        host TEXT NOT NULL, acquired_at TEXT NOT NULL, renewed_at TEXT NOT NULL,
        expires_at REAL NOT NULL);
    """,
    # A disc (or its image) read end to end and its PAR2 recovery margin (icefloe/disc/check.py).
    4: """
    CREATE TABLE disc_checks (
        id INTEGER PRIMARY KEY, disc TEXT NOT NULL, source TEXT NOT NULL, ok INTEGER NOT NULL,
        sectors INTEGER NOT NULL, unreadable_sectors INTEGER NOT NULL,
        damaged_blocks INTEGER NOT NULL, recovery_blocks INTEGER NOT NULL,
        source_blocks INTEGER NOT NULL, margin_blocks INTEGER NOT NULL, detail TEXT,
        checked_at TEXT NOT NULL);
    CREATE INDEX disc_checks_disc ON disc_checks(disc, checked_at);
    """,
}

# Kinds of verification the clear gates read (see DESIGN.md, "Nothing is lost").
TESTZIP = "testzip"
SERVER_CHECKSUM = "server_checksum"
INVENTORY_SEEN = "inventory_seen"
IMAGE_VERIFIED = "image_verified"
BURNED_READBACK = "burned_readback"
MIRROR_OK = "mirror_ok"
# A mirror run with rsync --checksum, so the mirror holds the very bytes (not only the size
# and mtime) of what a clear removes.
MIRROR_CHECKSUM = "mirror_checksum"
# Meta key: the next mirror of that partition compares every byte (set by a clear's commit,
# so files kept on the partition, e.g. edited in place, reach the mirror too).
CHECKSUM_MIRROR_DUE = "checksum_mirror_due:{label}"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class ArchiveSet:
    """One consolidation of a partition: its archive volumes share a manifest."""

    name: str
    partition_label: str
    file_count: int
    total_bytes: int
    encrypted: bool
    manifest_path: str | None = None
    manifest_sha256: str | None = None
    created_at: str = ""
    cleared_at: str | None = None
    password_verifier: str | None = None  # salted scrypt hash, never the password


@dataclass(frozen=True)
class ArchiveRecord:
    """One archive file (one volume) icefloe made."""

    name: str
    set_name: str
    partition_label: str
    size: int
    sha256: str
    volume: int = 1
    volumes: int = 1
    path: str | None = None
    tree_hash: str | None = None
    created_at: str = ""


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    kind: str  # "file", "dir" or "symlink"
    size: int
    mtime_ns: int
    sha256: str | None = None


@dataclass(frozen=True)
class CopyRecord:
    """An archive stored in cold storage (a vault archive or an S3 object)."""

    backend: str
    container: str
    remote_id: str
    description: str
    size: int
    archive_name: str | None = None
    sha256: str | None = None
    tree_hash: str | None = None
    part_size: int | None = None
    created_at: str = ""
    deleted_at: str | None = None


@dataclass(frozen=True)
class UploadRecord:
    """An open multipart upload, recorded so a rerun can resume it."""

    upload_id: str
    backend: str
    container: str
    key: str
    local_path: str
    size: int
    mtime_ns: int
    part_size: int
    description: str
    started_at: str = ""
    state: str = "open"  # open, completed, aborted
    remote_id: str | None = None


@dataclass(frozen=True)
class PartReceipt:
    """A part the server acknowledged."""

    part_number: int  # 0-based for vaults (index of the range), 1-based for S3
    start: int
    end: int  # exclusive
    checksum: str  # tree hash (vault) or SHA-256 (s3), hex
    etag: str | None = None
    done_at: str = ""


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    backend: str
    container: str
    kind: str  # inventory, retrieval, restore
    status: str  # InProgress, Succeeded, Failed, Fetched
    target: str | None = None
    tier: str | None = None
    requested_at: str = ""
    completed_at: str | None = None
    output_path: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ImageRecord:
    name: str
    set_name: str
    disc_index: int
    disc_count: int
    disc_type: str
    size: int
    sha256: str
    path: str | None = None
    created_at: str = ""


@dataclass(frozen=True)
class BurnRecord:
    image_name: str
    device: str
    ok: bool
    readback_sha256: str | None = None
    burned_at: str = ""


@dataclass(frozen=True)
class DiscCheck:
    """A disc read end to end: ``disc`` is its image name without ``.iso``; the margin is the
    recovery blocks left after repairing what is damaged (negative: not repairable)."""

    disc: str
    source: str
    ok: bool
    sectors: int
    unreadable_sectors: int
    damaged_blocks: int
    recovery_blocks: int
    source_blocks: int
    margin_blocks: int
    detail: str | None = None
    checked_at: str = ""


@dataclass(frozen=True)
class MirrorRun:
    partition_label: str
    started_at: str
    finished_at: str
    ok: bool
    exit_code: int | None = None
    files_transferred: int | None = None
    files_deleted: int | None = None
    bytes_sent: int | None = None
    warnings: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Verification:
    subject: str  # "archive:<name>", "image:<name>", "partition:<label>", "set:<name>"
    kind: str
    ok: bool
    detail: str | None = None
    at: str = ""


R = TypeVar("R")


def _enable_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch to WAL; two processes opening a new catalog at once may see "locked" here,
    where SQLite does not wait on its busy handler, so wait and try again."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _row(cls: type[R], row: sqlite3.Row) -> R:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {k: row[k] for k in row.keys() if k in names}
    for key in ("encrypted", "ok"):
        if key in values and values[key] is not None:
            values[key] = bool(values[key])
    return cls(**values)


def _damaged(path: Path, exc: Exception) -> CatalogError:
    return CatalogError(
        f"the catalog {path} is damaged ({exc}); move it aside (mv {path} {path}.damaged), then "
        "run `icefloe catalog rebuild` to recreate it from cold storage"
    )


class Catalog:
    """The catalog database. Open with ``Catalog.open(path)``; usable as a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Catalog:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                # Created owner-only before SQLite touches it; its -wal and -shm inherit this.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=60000")
            _enable_wal(conn)
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise _damaged(path, exc) from None
        except (OSError, sqlite3.Error) as exc:
            raise CatalogError(f"cannot open the catalog {path}: {exc}") from None
        catalog = cls(conn, path)
        try:
            catalog._migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise _damaged(path, exc) from None
        return catalog

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; taken immediately so concurrent writers queue, not fail."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise CatalogError(f"catalog {self.path} is not writable: {exc}") from None
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise CatalogError(f"catalog {self.path}: {exc}") from None

    def _migrate(self) -> None:
        with self.transaction() as conn:
            has_meta = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
            ).fetchone()
            version = 0
            if has_meta:
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise CatalogError(
                    f"catalog {self.path} has schema {version}, newer than this icefloe "
                    f"({SCHEMA_VERSION}); upgrade icefloe"
                )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(step),),
                )

    @property
    def schema_version(self) -> int:
        return int(self.get_state("schema_version") or 0)

    # -- generic helpers ---------------------------------------------------------------

    def _upsert(self, table: str, record: Any, stamp: str | None = None) -> None:
        values = asdict(record)
        if stamp and not values.get(stamp):
            values[stamp] = now_iso()
        for key, value in values.items():
            if isinstance(value, bool):
                values[key] = int(value)
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.transaction() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})", list(values.values())
            )

    def _insert(self, table: str, record: Any, stamp: str) -> None:
        values = asdict(record)
        if not values.get(stamp):
            values[stamp] = now_iso()
        values = {k: int(v) if isinstance(v, bool) else v for k, v in values.items()}
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(values.values()))

    # -- state -------------------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def set_state(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- archives ----------------------------------------------------------------------

    def put_archive_set(self, record: ArchiveSet, entries: Sequence[ManifestEntry] = ()) -> None:
        self._upsert("archive_sets", record, stamp="created_at")
        if entries:
            with self.transaction() as conn:
                conn.execute("DELETE FROM manifest_entries WHERE set_name=?", (record.name,))
                conn.executemany(
                    "INSERT INTO manifest_entries (set_name, path, kind, size, mtime_ns, sha256)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(record.name, e.path, e.kind, e.size, e.mtime_ns, e.sha256) for e in entries],
                )

    def record_set(
        self,
        record: ArchiveSet,
        entries: Sequence[ManifestEntry],
        archives: Sequence[ArchiveRecord],
        checks: Sequence[Verification] = (),
    ) -> None:
        """A set with its manifest entries, volumes and checks in ONE transaction: a crash or a
        full disk leaves all of it recorded or none of it."""
        stamp = now_iso()
        rows = [("archive_sets", record, "created_at")]
        rows += [("archives", a, "created_at") for a in archives]
        rows += [("verifications", v, "at") for v in checks]
        try:
            with self.transaction() as conn:
                conn.execute("DELETE FROM manifest_entries WHERE set_name=?", (record.name,))
                for table, row, column in rows:
                    values = {k: int(v) if isinstance(v, bool) else v for k, v in asdict(row).items()}
                    values[column] = values[column] or stamp
                    cols, marks = ", ".join(values), ", ".join("?" for _ in values)
                    verb = "INSERT" if table == "verifications" else "INSERT OR REPLACE"
                    conn.execute(f"{verb} INTO {table} ({cols}) VALUES ({marks})", list(values.values()))
                conn.executemany(
                    "INSERT INTO manifest_entries (set_name, path, kind, size, mtime_ns, sha256)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(record.name, e.path, e.kind, e.size, e.mtime_ns, e.sha256) for e in entries],
                )
        except sqlite3.Error as exc:
            raise CatalogError(f"catalog {self.path}: {record.name} was not recorded: {exc}") from None

    def check_writable(self, need_bytes: int = 0) -> None:
        """Refuse early, before any work, when the catalog's disk lacks ``need_bytes`` (plus a
        margin for SQLite's journal) or the catalog takes no write."""
        need = need_bytes + 8 * 1024 * 1024
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError as exc:
            raise CatalogError(f"cannot check the catalog's disk {self.path.parent}: {exc.strerror}") from None
        if free < need:
            raise NotEnoughSpace(
                f"the catalog's disk ({self.path.parent}) has {free // 1024} KiB free, less than the "
                f"{need // 1024} KiB recording this needs: free some space there, nothing was started"
            )
        try:
            self.set_state("last_write_check", now_iso())
        except sqlite3.Error as exc:
            raise CatalogError(f"catalog {self.path} takes no write: {exc}") from None

    def archive_sets(self, partition_label: str | None = None) -> list[ArchiveSet]:
        sql, args = "SELECT * FROM archive_sets", []
        if partition_label is not None:
            sql, args = sql + " WHERE partition_label=?", [partition_label]
        return [_row(ArchiveSet, r) for r in self._query(sql + " ORDER BY created_at, name", args)]

    def get_archive_set(self, name: str) -> ArchiveSet | None:
        rows = self._query("SELECT * FROM archive_sets WHERE name=?", (name,))
        return _row(ArchiveSet, rows[0]) if rows else None

    def mark_set_cleared(self, name: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE archive_sets SET cleared_at=? WHERE name=?", (now_iso(), name))

    def manifest(self, set_name: str) -> list[ManifestEntry]:
        rows = self._query("SELECT * FROM manifest_entries WHERE set_name=? ORDER BY path", (set_name,))
        return [_row(ManifestEntry, r) for r in rows]

    def find(self, pattern: str) -> list[tuple[str, ManifestEntry]]:
        """Manifest entries whose path matches a glob (``*`` and ``?``), with their set."""
        rows = self._query(
            "SELECT * FROM manifest_entries WHERE path GLOB ? OR path GLOB ? ORDER BY set_name, path",
            (pattern, f"*{pattern}*" if not any(c in pattern for c in "*?[") else pattern),
        )
        return [(r["set_name"], _row(ManifestEntry, r)) for r in rows]

    def put_archive(self, record: ArchiveRecord) -> None:
        self._upsert("archives", record, stamp="created_at")

    def get_archive(self, name: str) -> ArchiveRecord | None:
        rows = self._query("SELECT * FROM archives WHERE name=?", (name,))
        return _row(ArchiveRecord, rows[0]) if rows else None

    def archives(
        self, partition_label: str | None = None, set_name: str | None = None
    ) -> list[ArchiveRecord]:
        sql, args = "SELECT * FROM archives WHERE 1=1", []
        if partition_label is not None:
            sql += " AND partition_label=?"
            args.append(partition_label)
        if set_name is not None:
            sql += " AND set_name=?"
            args.append(set_name)
        return [_row(ArchiveRecord, r) for r in self._query(sql + " ORDER BY name", args)]

    # -- cold-storage copies -----------------------------------------------------------

    def put_copy(self, record: CopyRecord) -> None:
        self._upsert("copies", record, stamp="created_at")

    def copies(
        self, archive_name: str | None = None, backend: str | None = None, include_deleted: bool = False
    ) -> list[CopyRecord]:
        sql, args = "SELECT * FROM copies WHERE 1=1", []
        if archive_name is not None:
            sql += " AND archive_name=?"
            args.append(archive_name)
        if backend is not None:
            sql += " AND backend=?"
            args.append(backend)
        if not include_deleted:
            sql += " AND deleted_at IS NULL"
        return [_row(CopyRecord, r) for r in self._query(sql + " ORDER BY created_at", args)]

    def mark_copy_deleted(self, backend: str, container: str, remote_id: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE copies SET deleted_at=? WHERE backend=? AND container=? AND remote_id=?",
                (now_iso(), backend, container, remote_id),
            )

    # -- multipart uploads -------------------------------------------------------------

    def open_upload(self, record: UploadRecord) -> None:
        self._upsert("uploads", record, stamp="started_at")

    def record_part(self, upload_id: str, part: PartReceipt) -> None:
        self.record_parts(upload_id, [part])

    def record_parts(self, upload_id: str, parts: Sequence[PartReceipt]) -> None:
        """Several acknowledged parts in one transaction (one commit, one fsync)."""
        stamp = now_iso()
        rows = []
        for part in parts:
            values = asdict(part)
            values["done_at"] = values["done_at"] or stamp
            rows.append((upload_id, *values.values()))
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO upload_parts (upload_id, part_number, start, end, checksum,"
                " etag, done_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def parts(self, upload_id: str) -> list[PartReceipt]:
        rows = self._query(
            "SELECT * FROM upload_parts WHERE upload_id=? ORDER BY part_number", (upload_id,)
        )
        return [_row(PartReceipt, r) for r in rows]

    def finish_upload(self, upload_id: str, state: str, remote_id: str | None = None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE uploads SET state=?, remote_id=? WHERE upload_id=?",
                (state, remote_id, upload_id),
            )

    def uploads(self, state: str | None = "open") -> list[UploadRecord]:
        sql, args = "SELECT * FROM uploads", []
        if state is not None:
            sql, args = sql + " WHERE state=?", [state]
        return [_row(UploadRecord, r) for r in self._query(sql + " ORDER BY started_at", args)]

    def find_open_upload(
        self, backend: str, container: str, local_path: str, size: int, mtime_ns: int
    ) -> UploadRecord | None:
        rows = self._query(
            "SELECT * FROM uploads WHERE state='open' AND backend=? AND container=?"
            " AND local_path=? AND size=? AND mtime_ns=? ORDER BY started_at DESC",
            (backend, container, local_path, size, mtime_ns),
        )
        return _row(UploadRecord, rows[0]) if rows else None

    # -- jobs --------------------------------------------------------------------------

    def put_job(self, record: JobRecord) -> None:
        self._upsert("jobs", record, stamp="requested_at")

    def get_job(self, job_id: str) -> JobRecord | None:
        rows = self._query("SELECT * FROM jobs WHERE job_id=?", (job_id,))
        return _row(JobRecord, rows[0]) if rows else None

    def jobs(self, pending: bool = False, kind: str | None = None) -> list[JobRecord]:
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if pending:
            sql += " AND status='InProgress'"
        if kind is not None:
            sql += " AND kind=?"
            args.append(kind)
        return [_row(JobRecord, r) for r in self._query(sql + " ORDER BY requested_at", args)]

    # -- discs -------------------------------------------------------------------------

    def put_image(self, record: ImageRecord) -> None:
        self._upsert("images", record, stamp="created_at")

    def images(self, set_name: str | None = None) -> list[ImageRecord]:
        sql, args = "SELECT * FROM images", []
        if set_name is not None:
            sql, args = sql + " WHERE set_name=?", [set_name]
        return [_row(ImageRecord, r) for r in self._query(sql + " ORDER BY name", args)]

    def record_burn(self, record: BurnRecord) -> None:
        self._insert("burns", record, stamp="burned_at")

    def burns(self, image_name: str) -> list[BurnRecord]:
        rows = self._query("SELECT * FROM burns WHERE image_name=? ORDER BY id", (image_name,))
        return [_row(BurnRecord, r) for r in rows]

    # -- mirror ------------------------------------------------------------------------

    def record_disc_check(self, record: DiscCheck) -> None:
        self._insert("disc_checks", record, stamp="checked_at")

    def disc_checks(self, disc: str | None = None) -> list[DiscCheck]:
        sql, args = "SELECT * FROM disc_checks", []
        if disc is not None:
            sql, args = sql + " WHERE disc=?", [disc]
        return [_row(DiscCheck, r) for r in self._query(sql + " ORDER BY checked_at, id", args)]

    def record_mirror_run(self, run: MirrorRun) -> None:
        self._insert("mirror_runs", run, stamp="finished_at")

    def mirror_runs(self, partition_label: str | None = None, limit: int = 50) -> list[MirrorRun]:
        sql, args = "SELECT * FROM mirror_runs", []
        if partition_label is not None:
            sql, args = sql + " WHERE partition_label=?", [partition_label]
        rows = self._query(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])
        return [_row(MirrorRun, r) for r in rows]

    def last_mirror_run(self, partition_label: str) -> MirrorRun | None:
        runs = self.mirror_runs(partition_label, limit=1)
        return runs[0] if runs else None

    # -- verifications -----------------------------------------------------------------

    def verify(self, subject: str, kind: str, ok: bool, detail: str | None = None) -> None:
        self._insert("verifications", Verification(subject, kind, ok, detail), stamp="at")

    def verifications(self, subject: str | None = None) -> list[Verification]:
        sql, args = "SELECT * FROM verifications", []
        if subject is not None:
            sql, args = sql + " WHERE subject=?", [subject]
        return [_row(Verification, r) for r in self._query(sql + " ORDER BY id", args)]

    def latest_verification(self, subject: str, kind: str) -> Verification | None:
        rows = self._query(
            "SELECT * FROM verifications WHERE subject=? AND kind=? ORDER BY id DESC LIMIT 1",
            (subject, kind),
        )
        return _row(Verification, rows[0]) if rows else None

    # -- reports -----------------------------------------------------------------------

    def report(self) -> list[dict[str, Any]]:
        """One row per archive with its copies and latest checks: what `icefloe catalog` shows."""
        out = []
        for archive in self.archives():
            subject = f"archive:{archive.name}"
            checks = {
                v.kind: v.ok for v in self.verifications(subject)
            }  # later rows overwrite earlier ones, leaving the latest
            copies = self.copies(archive.name)
            out.append(
                {
                    "archive": archive.name,
                    "partition": archive.partition_label,
                    "set": archive.set_name,
                    "volume": f"{archive.volume}/{archive.volumes}",
                    "size": archive.size,
                    "sha256": archive.sha256,
                    "tree_hash": archive.tree_hash,
                    "copies": [f"{c.backend}:{c.container}:{c.remote_id}" for c in copies],
                    "checks": checks,
                    "created_at": archive.created_at,
                }
            )
        return out

