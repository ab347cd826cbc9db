"""Fixtures for the cold-store tests: both backends against the session's stand-in over HTTP.

Tests share the stand-in, so each gets its own vault or bucket (a fresh name per test).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from coldstore_helpers import BACKENDS, create_container, unique

from icefloe.catalog import Catalog
from icefloe.coldstore import ColdStore, open_coldstore
from icefloe.config import ColdstoreConfig


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def catalog(tmp_path: Path):
    with Catalog.open(tmp_path / "catalog.sqlite") as cat:
        yield cat


@pytest.fixture
def coldcfg(backend: str) -> ColdstoreConfig:
    name = unique()
    return ColdstoreConfig(backend=backend, vault=name, bucket=name, concurrency=4)


@pytest.fixture
def make_store(standin, catalog, coldcfg) -> Callable[..., ColdStore]:
    """``make_store(**config_changes, create=True)``: a store on a fresh container."""

    def make(create: bool = True, **changes) -> ColdStore:
        cfg = coldcfg.model_copy(update=changes) if changes else coldcfg
        if create:
            create_container(cfg)
        return open_coldstore(cfg, catalog)

    return make


@pytest.fixture
def store(make_store) -> ColdStore:
    return make_store()


