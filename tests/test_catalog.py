"""The catalog: schema, records, permissions, and concurrent writers losing nothing."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from icefloe.catalog import (
    SCHEMA_VERSION,
    TESTZIP,
    ArchiveRecord,
    ArchiveSet,
    Catalog,
    CopyRecord,
    JobRecord,
    ManifestEntry,
    PartReceipt,
    UploadRecord,
)
from icefloe.errors import CatalogError


def test_new_catalog_is_private_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "catalog.sqlite"
    with Catalog.open(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    Catalog.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(CatalogError, match="upgrade icefloe"):
        Catalog.open(path)


def test_records_round_trip(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c.sqlite") as cat:
        cat.put_archive_set(
            ArchiveSet("set1", "photos-a", 2, 30, True),
            [ManifestEntry("dcim/a.jpg", "file", 10, 1, "aa"), ManifestEntry("notes.txt", "file", 20, 2, "bb")],
        )
        cat.put_archive(ArchiveRecord("set1.7z", "set1", "photos-a", 123, "ff", tree_hash="ee"))
        cat.put_copy(CopyRecord("glacier", "vault", "ID1", "{}", 123, archive_name="set1.7z"))
        cat.verify("archive:set1.7z", TESTZIP, True)
        cat.put_job(JobRecord("J1", "glacier", "vault", "inventory", "InProgress"))
        assert cat.get_archive_set("set1").encrypted is True
        assert [e.path for e in cat.manifest("set1")] == ["dcim/a.jpg", "notes.txt"]
        assert [e.path for _, e in cat.find("*.jpg")] == ["dcim/a.jpg"]
        assert [e.path for _, e in cat.find("notes")] == ["notes.txt"]
        assert cat.copies("set1.7z")[0].remote_id == "ID1"
        assert cat.latest_verification("archive:set1.7z", TESTZIP).ok is True
        assert [j.job_id for j in cat.jobs(pending=True)] == ["J1"]
        row = cat.report()[0]
        assert row["copies"] == ["glacier:vault:ID1"] and row["checks"] == {"testzip": True}


def test_upload_resume_records(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c.sqlite") as cat:
        cat.open_upload(UploadRecord("U1", "glacier", "v", "k", "/data/x.7z", 100, 5, 32, "{}"))
        cat.record_part("U1", PartReceipt(1, 32, 64, "h1"))
        cat.record_part("U1", PartReceipt(0, 0, 32, "h0"))
        assert cat.find_open_upload("glacier", "v", "/data/x.7z", 100, 5).upload_id == "U1"
        assert cat.find_open_upload("glacier", "v", "/data/x.7z", 100, 6) is None
        assert [p.part_number for p in cat.parts("U1")] == [0, 1]
        cat.finish_upload("U1", "completed", "ARCHIVE")
        assert cat.uploads() == []


def _writer(path: str, worker: int, count: int) -> None:
    with Catalog.open(Path(path)) as cat:
        for i in range(count):
            cat.record_part(f"U{worker}", PartReceipt(i, i, i + 1, f"{worker}-{i}"))
            cat.verify(f"archive:w{worker}", TESTZIP, True, str(i))


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    Catalog.open(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 150)) for w in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    with Catalog.open(path) as cat:
        for worker in range(2):
            assert len(cat.parts(f"U{worker}")) == 150
            assert len(cat.verifications(f"archive:w{worker}")) == 150


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CatalogError, match="cannot open the catalog"):
        Catalog.open(blocker / "catalog.sqlite")
    assert os.listdir(tmp_path) == ["file"]
