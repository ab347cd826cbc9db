"""Planning a restore: recorded jobs are picked up, local copies save a retrieval."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import snapshot
from restore_helpers import FAST, LABEL, PASSWORD, Stored, coldstore_config

from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from icefloe.errors import InputNotFound
from icefloe.restore import (
    RetrievalPending,
    plan_restore,
    rebuild_catalog,
    resolve_sets,
    restore_from_coldstore,
    start_retrievals,
)

REQUESTS = {"glacier": "glacier.InitiateJob", "s3": "s3.RestoreObject"}


def _plan(store, catalog, tmp_path: Path):
    return plan_restore(store, catalog, resolve_sets(catalog, partition=LABEL),
                        download_dir=tmp_path / "dl", tier="Standard", prices={})


def test_without_wait_the_jobs_are_recorded_and_a_rerun_picks_them_up(standin, stored: Stored, backend, tmp_path):
    with Catalog.open(stored.catalog_path) as catalog:
        store = open_coldstore(stored.cfg, catalog, endpoint_url=standin.url)
        rebuild_catalog(store, catalog, work_dir=tmp_path, wait=True, options=FAST)
        standin.set_options(job_delay_s=1.5)
        standin.reset_counters()
        plan = start_retrievals(store, _plan(store, catalog, tmp_path), days=1)
        with pytest.raises(RetrievalPending, match="run `icefloe restore --partition photos-a` again"):
            restore_from_coldstore(store, catalog, plan, tmp_path / "out", download_dir=tmp_path / "dl",
                                   password=PASSWORD, options=FAST, wait=False,
                                   again="icefloe restore --partition photos-a")
        assert len(catalog.jobs(pending=True)) == len(stored.volumes)

        replanned = _plan(store, catalog, tmp_path)  # a later run, from the catalog alone
        assert replanned.to_request == [] and replanned.estimate.archives == 0
        time.sleep(1.6)
        [result] = restore_from_coldstore(store, catalog, replanned, tmp_path / "out", download_dir=tmp_path / "dl",
                                          password=PASSWORD, options=FAST, wait=False)
        result.report.raise_for_problems()
        assert snapshot(tmp_path / "out") == stored.original
        assert standin.counters()["operations"][REQUESTS[backend]] == len(stored.volumes)


def test_a_verified_local_copy_needs_no_retrieval_and_a_missing_copy_is_named(standin, tmp_path: Path) -> None:
    from restore_helpers import archive, create_container, make_partition

    part = make_partition(tmp_path / "photos-a", big=1000)
    with Catalog.open(tmp_path / "catalog.sqlite") as catalog:
        result = archive(part, tmp_path / "archives", catalog)
        cfg = coldstore_config("s3")
        create_container(cfg, standin.url)
        store = open_coldstore(cfg, catalog, endpoint_url=standin.url)
        plan = _plan(store, catalog, tmp_path)
        assert [v.local for v in plan.volumes] == [str(result.volumes[0].path)] and plan.to_request == []
        result.volumes[0].path.write_bytes(b"damaged")
        with pytest.raises(InputNotFound, match=f"{result.volumes[0].name} has no copy in s3"):
            _plan(store, catalog, tmp_path)
        with pytest.raises(InputNotFound, match="no archive or set named 'nope'"):
            resolve_sets(catalog, "nope")


@pytest.mark.parametrize("backend", ["glacier"])
def test_a_vault_retrieval_survives_losing_the_catalog(standin, stored: Stored, tmp_path: Path) -> None:
    """Retrievals cost money: one requested before the catalog was lost is found by ListJobs."""
    from restore_helpers import forget_catalog

    catalog = Catalog.open(stored.catalog_path)
    store = open_coldstore(stored.cfg, catalog, endpoint_url=standin.url)
    rebuild_catalog(store, catalog, work_dir=tmp_path, wait=True, options=FAST)
    standin.set_options(job_delay_s=30)
    start_retrievals(store, _plan(store, catalog, tmp_path), days=1)
    forget_catalog(catalog)
    with Catalog.open(stored.catalog_path) as catalog:
        store = open_coldstore(stored.cfg, catalog, endpoint_url=standin.url)
        standin.set_options(job_delay_s=0)
        rebuild_catalog(store, catalog, work_dir=tmp_path, wait=True, options=FAST, fresh=True)
        plan = _plan(store, catalog, tmp_path)
        assert plan.to_request == [] and all(v.job_status == "InProgress" for v in plan.volumes)
        assert len(catalog.jobs(kind="retrieval")) == len(stored.volumes)
