"""Fixtures for the archive tests; the helpers live in archive_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_helpers import make_partition


@pytest.fixture
def partition(tmp_path: Path) -> Path:
    return make_partition(tmp_path / "photos-a")
