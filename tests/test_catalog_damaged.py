"""A damaged catalog file is one line that says what to do, and nothing is written over it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import icefloe, one_line_error
from icefloe.catalog import Catalog
from icefloe.errors import CatalogError


def test_a_garbage_catalog_says_move_it_aside_and_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(os.urandom(8192))
    before = path.read_bytes()
    with pytest.raises(CatalogError, match=r"is damaged .*move it aside .*icefloe catalog rebuild"):
        Catalog.open(path)
    assert path.read_bytes() == before


def test_the_cli_prints_one_line_for_a_damaged_catalog(workspace: Path) -> None:
    catalog = workspace / "work" / "catalog.sqlite"
    catalog.parent.mkdir()
    catalog.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))  # a header, then garbage
    proc = icefloe("status", cwd=workspace)
    line = one_line_error(proc)
    assert proc.returncode == 3
    assert line.startswith("icefloe: the catalog ") and "catalog rebuild" in line
