"""Fixtures for the restore tests: a partition archived and stored, then everything local lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import snapshot
from restore_helpers import (
    MIB,
    Stored,
    archive,
    coldstore_config,
    create_container,
    forget_catalog,
    make_partition,
    upload_set,
)

from icefloe.catalog import Catalog


@pytest.fixture(params=["glacier", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def stored(standin, backend: str, tmp_path: Path) -> Stored:
    """photos-a consolidated (encrypted, 2 MiB volumes), uploaded, then the partition, the
    archives and the catalog deleted: only the cold store and the password are left."""
    part = make_partition(tmp_path / "photos-a")
    original = snapshot(part)
    catalog = Catalog.open(tmp_path / "work" / "catalog.sqlite")
    result = archive(part, tmp_path / "work" / "archives", catalog, volume_size=2 * MIB)
    cfg = coldstore_config(backend)
    create_container(cfg, standin.url)
    upload_set(result, cfg, catalog, standin.url)
    shutil.rmtree(part)
    shutil.rmtree(result.directory)
    path = forget_catalog(catalog)
    return Stored(cfg, original, result.set_name, [v.name for v in result.volumes], path)
