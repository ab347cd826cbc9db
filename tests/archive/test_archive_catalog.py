"""The catalog is checked before a consolidation starts, and a set is recorded whole or not at all.

A full disk is simulated two ways: the catalog's filesystem reports no free space (checked
before anything is read), and SQLite itself fails the write midway ("database or disk is
full", raised by a trigger inside the recording transaction).
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from archive_helpers import make_partition
from helpers import icefloe, one_line_error
from icefloe.archive import consolidate
from icefloe.catalog import TESTZIP, Catalog
from icefloe.errors import CatalogError, NotEnoughSpace

NOW = datetime(2024, 5, 1, 12, 30, 0, tzinfo=timezone.utc)
SET = "photos-a-20240501T123000Z"
FULL_DISK = (
    "CREATE TRIGGER disk_full BEFORE INSERT ON archives "
    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
)


def rows(catalog_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(catalog_path)
    try:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("archive_sets", "archives", "manifest_entries")
        }
    finally:
        conn.close()


def test_full_catalog_disk_is_refused_before_anything_is_written(partition: Path, tmp_path: Path, monkeypatch) -> None:
    catalog_dir = tmp_path / "catalog-disk"
    real = shutil.disk_usage

    def usage(path):
        got = real(path)
        if Path(path).resolve().is_relative_to(catalog_dir.resolve()):
            return type(got)(got.total, got.total, 0)  # 100% full
        return got

    with Catalog.open(catalog_dir / "catalog.sqlite") as catalog:
        monkeypatch.setattr(shutil, "disk_usage", usage)
        with pytest.raises(NotEnoughSpace, match=r"the catalog's disk .* has 0 KiB free.*nothing was started"):
            consolidate(partition, tmp_path / "out", label="photos-a", workers=1, now=NOW, catalog=catalog)
    assert not (tmp_path / "out").exists()  # not even the output folder was made
    assert rows(catalog_dir / "catalog.sqlite") == {"archive_sets": 0, "archives": 0, "manifest_entries": 0}


def test_a_failed_record_leaves_no_partial_set_and_a_rerun_records_it_whole(partition: Path, tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    out = tmp_path / "out"
    with Catalog.open(path) as catalog:
        with catalog.transaction() as conn:
            conn.execute(FULL_DISK)
        with pytest.raises(CatalogError, match=rf"{SET} was not recorded: database or disk is full"):
            consolidate(partition, out, label="photos-a", workers=1, volume_size=512 * 1024, now=NOW,
                        catalog=catalog)
        # The set row and its manifest entries went in the same transaction: none is left.
        assert rows(path) == {"archive_sets": 0, "archives": 0, "manifest_entries": 0}
        assert list(out.iterdir()) == []  # no folder that only the disk knows about
        with catalog.transaction() as conn:
            conn.execute("DROP TRIGGER disk_full")
        result = consolidate(partition, out, label="photos-a", workers=1, volume_size=512 * 1024, now=NOW,
                             catalog=catalog)
        counts = rows(path)
        assert counts["archive_sets"] == 1 and counts["archives"] == len(result.volumes) > 1
        assert counts["manifest_entries"] == len(result.manifest.items)
        for archive in catalog.archives(set_name=SET):
            assert catalog.latest_verification(f"archive:{archive.name}", TESTZIP).ok


def test_cli_on_a_full_catalog_is_one_line_and_keeps_nothing(workspace: Path) -> None:
    make_partition(workspace / "photos-b" / "data")
    catalog_path = workspace / "work" / "catalog.sqlite"
    with Catalog.open(catalog_path) as catalog:
        with catalog.transaction() as conn:
            conn.execute(FULL_DISK)
    proc = icefloe("consolidate", "photos-b", "--workers", "1", cwd=workspace,
                   env={"ICEFLOE_ARCHIVE_PASSWORD": "pw"})
    assert proc.returncode == 3 and "database or disk is full" in one_line_error(proc)
    assert rows(catalog_path)["archive_sets"] == 0
    assert list((workspace / "work" / "archives").iterdir()) == []
