"""`catalog rebuild`: the catalog back from an inventory (vault) or a listing (s3)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from restore_helpers import FAST, MIB, Stored, coldstore_config, create_container

from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from icefloe.restore import RetrievalPending, rebuild_catalog
from icefloe.restore.rebuild import SET_FIELDS, partition_of, unknown_fields

SET = "photos-b-20240101T000000Z"


@pytest.fixture
def uploaded(standin, backend: str, tmp_path: Path):
    """Three volumes of a set (no partition in their descriptions) and one foreign archive."""
    cfg = coldstore_config(backend)
    create_container(cfg, standin.url)
    with Catalog.open(tmp_path / "old.sqlite") as old:
        store = open_coldstore(cfg, old, endpoint_url=standin.url)
        for i in (1, 2, 3):
            path = tmp_path / f"{SET}.7z.{i:03d}"
            path.write_bytes(random.Random(i).randbytes(MIB + i))
            store.upload(path)
        other = tmp_path / "tax-2019.zip"
        other.write_bytes(b"not icefloe's")
        store.upload(other, description="tax-2019.zip")
    return cfg


def test_rebuild_recreates_sets_archives_and_copies_once(standin, uploaded, backend, tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "new.sqlite") as catalog:
        store = open_coldstore(uploaded, catalog, endpoint_url=standin.url)
        result = rebuild_catalog(store, catalog, work_dir=tmp_path / "work", wait=True, options=FAST)
        assert (result.items, result.foreign, result.sets, result.archives, result.copies) == (4, 1, 1, 3, 3)
        assert result.confirmed == 3 and Path(result.inventory_path).is_file()
        aset = catalog.get_archive_set(SET)
        assert aset.partition_label == "photos-b"
        # Not made by icefloe's consolidation, so no description says what the set holds.
        assert result.unknown == (SET,) and unknown_fields(catalog, SET) == SET_FIELDS
        assert "1 sets were uploaded by an older icefloe" in result.summary()
        archives = catalog.archives(set_name=SET)
        assert [(a.volume, a.volumes, a.size) for a in archives] == [(1, 3, MIB + 1), (2, 3, MIB + 2), (3, 3, MIB + 3)]
        assert all((a.tree_hash is not None) == (backend == "glacier") for a in archives)
        again = rebuild_catalog(store, catalog, work_dir=tmp_path / "work", wait=True, options=FAST)
        assert (again.sets, again.archives, again.copies, again.confirmed) == (0, 0, 0, 3)


def test_without_wait_a_vault_rebuild_requests_an_inventory_then_picks_it_up(standin, tmp_path: Path) -> None:
    cfg = coldstore_config("glacier")
    create_container(cfg, standin.url)
    standin.set_options(job_delay_s=1)
    with Catalog.open(tmp_path / "catalog.sqlite") as catalog:
        store = open_coldstore(cfg, catalog, endpoint_url=standin.url)
        with pytest.raises(RetrievalPending, match="icefloe catalog rebuild") as caught:
            rebuild_catalog(store, catalog, work_dir=tmp_path)
        assert caught.value.exit_code == 75
        with pytest.raises(RetrievalPending):
            rebuild_catalog(store, catalog, work_dir=tmp_path)  # still running: the same job
        assert standin.counters()["operations"]["glacier.InitiateJob"] == 1
        time.sleep(1.1)
        result = rebuild_catalog(store, catalog, work_dir=tmp_path)
        assert result.items == 0 and standin.counters()["operations"]["glacier.InitiateJob"] == 1


def test_the_partition_comes_from_the_description_else_the_set_name() -> None:
    assert partition_of("photos-a-20250101T010203Z", None) == "photos-a"
    assert partition_of("photos-a-20250101T010203Z", "family") == "family"
    assert partition_of("odd", None) == "unknown"


def test_a_rebuilt_set_knows_its_files_bytes_and_encryption(standin, stored: Stored, tmp_path: Path, monkeypatch):
    files = [entry for entry in stored.original.values() if entry[0] == "file"]
    with Catalog.open(stored.catalog_path) as catalog:
        store = open_coldstore(stored.cfg, catalog, endpoint_url=standin.url)
        # The first rebuild is killed after one archive record: the rerun finishes the job.
        real_put = Catalog.put_archive
        calls = {"n": 0}

        def dying_put(self, record):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("killed midway")
            return real_put(self, record)

        monkeypatch.setattr(Catalog, "put_archive", dying_put)
        with pytest.raises(KeyboardInterrupt):
            rebuild_catalog(store, catalog, work_dir=tmp_path / "work", wait=True, options=FAST)
        monkeypatch.setattr(Catalog, "put_archive", real_put)
        result = rebuild_catalog(store, catalog, work_dir=tmp_path / "work", wait=True, options=FAST)

        aset = catalog.get_archive_set(stored.set_name)
        assert (aset.file_count, aset.total_bytes, aset.encrypted) == (len(files), sum(f[1] for f in files), True)
        assert result.unknown == () and unknown_fields(catalog, stored.set_name) == ()
        archives = catalog.archives(set_name=stored.set_name)
        assert sorted(a.name for a in archives) == sorted(stored.volumes)  # each once, none lost
        assert {a.volumes for a in archives} == {len(stored.volumes)}
        assert len(catalog.copies()) == len(stored.volumes)

