"""Catalog snapshots: the catalog, sealed with the archive password, kept off the premises.

After every archive and every clear icefloe takes a consistent copy of the catalog (SQLite's
online backup, so other writers may go on) and seals it in a small 7z: AES-256 with an
encrypted header when there is a password, so neither the file names of the manifests nor
anything else is readable without it. The cold store keeps the newest few in its instantly
readable tier (``icefloe.coldstore.snapshots``). ``catalog rebuild`` merges the newest one
first (seconds, no retrieval), then what the inventory knows beyond it.

Inside the 7z: ``snapshot.json`` (format, version, when, the catalog's schema version and its
counts) and ``catalog.sqlite``. The format is documented in docs/catalog.md.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import py7zr

from icefloe.catalog import SCHEMA_VERSION, Catalog
from icefloe.errors import CatalogError, PasswordError
from icefloe.fsutil import atomic_output

FORMAT = "icefloe-catalog-snapshot"
VERSION = 1
PREFIX = "icefloe-catalog-"
SUFFIX = ".7z"
INNER_DB = "catalog.sqlite"
INNER_INFO = "snapshot.json"
# Tables that belong to one machine's running processes, never carried to another.
LOCAL_ONLY = ("leases",)
# Meta keys a rebuilt catalog takes over; the schema version is its own.
META_KEYS = ("active_partition",)


@dataclass(frozen=True)
class SnapshotFile:
    path: Path
    name: str
    created: str
    sets: int
    encrypted: bool


def snapshot_name(moment: datetime | None = None) -> str:
    """``icefloe-catalog-<UTC stamp>.7z``: names sort by time."""
    moment = moment or datetime.now(timezone.utc)
    return f"{PREFIX}{moment:%Y%m%dT%H%M%S%fZ}{SUFFIX}"


def is_snapshot_name(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith(SUFFIX)


def write_snapshot(catalog: Catalog, out_dir: Path, password: str | None) -> SnapshotFile:
    """Seal a consistent copy of ``catalog`` into ``out_dir``; returns where it is."""
    name = snapshot_name()
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".snapshot-") as tmp:
        db = Path(tmp) / INNER_DB
        source = sqlite3.connect(f"file:{catalog.path}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(db)
            with target:
                source.backup(target)
            sets = target.execute("SELECT COUNT(*) FROM archive_sets").fetchone()[0]
            target.close()
        except sqlite3.Error as exc:
            raise CatalogError(f"could not copy the catalog {catalog.path} for its snapshot ({exc})") from None
        finally:
            source.close()
        created = datetime.now(timezone.utc).isoformat()
        info = {"format": FORMAT, "version": VERSION, "created": created,
                "schema_version": SCHEMA_VERSION, "sets": sets}
        (Path(tmp) / INNER_INFO).write_text(json.dumps(info, indent=1))
        with atomic_output(out_dir / name, mode=0o600) as handle:
            with py7zr.SevenZipFile(handle, "w", password=password, filters=_filters(password),
                                    header_encryption=password is not None) as archive:
                archive.write(Path(tmp) / INNER_INFO, INNER_INFO)
                archive.write(db, INNER_DB)
    return SnapshotFile(out_dir / name, name, created, sets, password is not None)


def _filters(password: str | None) -> list[dict]:
    """LZMA2 at preset 1 (a catalog packs about 5:1 at several MB/s, where py7zr's default took
    seconds per MB); AES-256 must be named too, or py7zr leaves the data in the clear."""
    filters: list[dict] = [{"id": py7zr.FILTER_LZMA2, "preset": 1}]
    if password is not None:
        filters.append({"id": py7zr.FILTER_CRYPTO_AES256_SHA256})
    return filters


def open_snapshot(path: Path, password: str | None, into: Path) -> tuple[Path, dict]:
    """Unseal a snapshot into the folder ``into``; returns the catalog copy and its info.

    A missing or wrong password, and a damaged or foreign file, are one clear line each.
    """
    try:
        with py7zr.SevenZipFile(path, "r", password=password) as archive:
            names = set(archive.getnames())
            if names == {INNER_DB, INNER_INFO}:
                archive.extractall(path=into)
    except py7zr.exceptions.PasswordRequired:
        raise PasswordError(f"catalog snapshot {path.name} is encrypted: set the archive password "
                            "(archive.password_env) and run again") from None
    except Exception as exc:  # noqa: BLE001 - py7zr shows a wrong key as any decoding error
        if password is not None:
            raise PasswordError(f"catalog snapshot {path.name} does not open with this password (or "
                                "is damaged); give the archive password it was made with") from None
        raise CatalogError(f"catalog snapshot {path.name} is damaged ({exc})") from None
    if names != {INNER_DB, INNER_INFO}:
        raise CatalogError(f"{path.name} is not an icefloe catalog snapshot")
    try:
        info = json.loads((into / INNER_INFO).read_text())
    except ValueError:
        info = {}
    if info.get("format") != FORMAT or not isinstance(info.get("version"), int):
        raise CatalogError(f"{path.name} is not an icefloe catalog snapshot")
    if info["version"] > VERSION or info.get("schema_version", 0) > SCHEMA_VERSION:
        raise CatalogError(f"catalog snapshot {path.name} was written by a newer icefloe; upgrade icefloe")
    db = into / INNER_DB
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    except sqlite3.Error:
        ok = False
    if not ok:
        raise CatalogError(f"the catalog inside snapshot {path.name} is damaged; an older one may do")
    return db, info


@dataclass(frozen=True)
class Merged:
    tables: dict[str, int]  # rows added per table
    sets_updated: int  # sets whose record the snapshot completed (cleared, counts, encryption)


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def merge_snapshot(catalog: Catalog, snapshot_db: Path) -> Merged:
    """Add what the snapshot knows and the catalog lacks, in one transaction.

    The catalog's own rows stay, except that per set the newer knowledge wins: a set known
    only from an inventory (no manifest, no file count) takes the snapshot's record, and a set
    the snapshot saw cleared is cleared. Leases and the schema version are never taken over.
    """
    added: dict[str, int] = {}
    updated = 0
    # Its own connection: SQLite attaches only outside a transaction.
    conn = sqlite3.connect(catalog.path, timeout=60, isolation_level=None)
    try:
        conn.execute("ATTACH DATABASE ? AS snap", (f"file:{snapshot_db}?mode=ro",))
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM snap.sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
            ours = {r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type='table'")}
            for table in tables:
                if table not in ours or table in LOCAL_ONLY or table == "meta":
                    continue
                mine = set(_columns(conn, "main", table))
                cols = [c for c in _columns(conn, "snap", table) if c in mine]
                before = conn.total_changes
                if table == "archive_sets":
                    updated = _merge_sets(conn, cols)
                if cols[0] == "id":  # a log keyed by a row number: add the rows it lacks
                    rest = ", ".join(cols[1:])
                    conn.execute(f"INSERT INTO main.{table} ({rest}) SELECT {rest} FROM snap.{table} "
                                 f"EXCEPT SELECT {rest} FROM main.{table}")
                else:
                    names = ", ".join(cols)
                    conn.execute(f"INSERT OR IGNORE INTO main.{table} ({names}) "
                                 f"SELECT {names} FROM snap.{table}")
                added[table] = conn.total_changes - before
            for key in META_KEYS:
                conn.execute("INSERT OR IGNORE INTO main.meta (key, value) "
                             "SELECT key, value FROM snap.meta WHERE key=?", (key,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise CatalogError(f"could not merge the catalog snapshot into {catalog.path} ({exc})") from None
    finally:
        conn.close()
    return Merged(added, updated)


def _merge_sets(conn: sqlite3.Connection, cols: list[str]) -> int:
    """Sets known only from an inventory take the snapshot's record; cleared stays cleared."""
    before = conn.total_changes
    thin = ("SELECT name FROM main.archive_sets m WHERE NOT EXISTS "
            "(SELECT 1 FROM main.manifest_entries e WHERE e.set_name = m.name)")
    names = ", ".join(cols)
    conn.execute(f"INSERT OR REPLACE INTO main.archive_sets ({names}) SELECT {names} FROM snap.archive_sets "
                 f"WHERE name IN ({thin})")
    conn.execute("UPDATE main.archive_sets SET cleared_at = (SELECT s.cleared_at FROM snap.archive_sets s "
                 "WHERE s.name = main.archive_sets.name) WHERE cleared_at IS NULL AND name IN "
                 "(SELECT name FROM snap.archive_sets WHERE cleared_at IS NOT NULL)")
    return conn.total_changes - before
