"""Fixtures for the disc tests; the helpers live in disc_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from disc_helpers import make_shapes


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    return make_shapes(tmp_path / "shapes")
