"""The nightly mirror hands a full partition over to archiving only when rotation succeeded.

Night after night the mirror runs; while the other partition still holds a set waiting to be
cleared, the full one stays active and no archive run is started for it. Once rotation works,
exactly one archive run is started, and the next nights start none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from icefloe.catalog import ArchiveSet, Catalog
from icefloe.partitions import active_partition
from icefloe.config import load_settings


@pytest.fixture
def full_config(workspace: Path) -> Path:
    (workspace / "offsite").mkdir()
    (workspace / "photos-a" / "photos").mkdir()
    (workspace / "photos-a" / "photos" / "IMG_0001.jpg").write_bytes(b"\xff\xd8" + b"x" * (2 << 20))
    config = workspace / "icefloe.toml"
    text = config.read_text().replace(
        'label = "photos-a"\npath = "photos-a"\n', 'label = "photos-a"\npath = "photos-a"\ncapacity_gib = 0.001\n'
    ).replace('label = "photos-b"\npath = "photos-b"\n', 'label = "photos-b"\npath = "photos-b"\ncapacity_gib = 0.001\n')
    config.write_text(text + '[mirror]\ntarget = "offsite"\n[pipeline]\nfill_threshold = 0.5\n')
    return config


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The archive runs the mirror flow starts, recorded instead of scheduled."""
    import flows.mirror

    calls: list[dict[str, Any]] = []

    class Run:
        def __init__(self, n: int) -> None:
            self.name, self.id = f"archive-run-{n}", f"00000000-0000-0000-0000-{n:012d}"

    def run_deployment(name: str, parameters: dict[str, Any], timeout: int) -> Run:
        calls.append({"deployment": name, **parameters})
        return Run(len(calls))

    monkeypatch.setattr(flows.mirror, "run_deployment", run_deployment)
    return calls


def _night(config: Path) -> str:
    from flows.mirror import mirror_partitions

    state = mirror_partitions(config=str(config), return_state=True)
    assert state.is_completed(), state.message  # the mirror itself succeeds every night
    settings = load_settings(config, {})
    with Catalog.open(settings.catalog_path) as catalog:
        return active_partition(catalog, settings)


def _waiting_set_on_photos_b(config: Path) -> str:
    settings = load_settings(config, {})
    with Catalog.open(settings.catalog_path) as catalog:
        catalog.put_archive_set(ArchiveSet(
            name="photos-b-20260101T000000Z", partition_label="photos-b", file_count=1, total_bytes=1,
            encrypted=False, created_at="2026-01-01T00:00:00Z",
        ))
    return "photos-b-20260101T000000Z"


def test_no_archive_while_rotation_fails_then_exactly_one(prefect_harness, full_config, started):
    waiting = _waiting_set_on_photos_b(full_config)

    for _ in range(2):  # two nights with photos-a full and photos-b not yet cleared
        assert _night(full_config) == "photos-a"
    assert started == [], "an archive run was started for a partition that stayed active"

    settings = load_settings(full_config, {})
    with Catalog.open(settings.catalog_path) as catalog:
        catalog.mark_set_cleared(waiting)
    assert _night(full_config) == "photos-b"
    assert [c["label"] for c in started] == ["photos-a"]

    assert _night(full_config) == "photos-b"  # the next night: photos-b is not full
    assert [c["label"] for c in started] == ["photos-a"]


def test_no_second_archive_while_a_set_is_live(prefect_harness, full_config, started):
    # photos-a already has a set that is neither cleared nor abandoned: no second archive run.
    settings = load_settings(full_config, {})
    with Catalog.open(settings.catalog_path) as catalog:
        catalog.put_archive_set(ArchiveSet(name="photos-a-20260102T000000Z", partition_label="photos-a",
                                           file_count=1, total_bytes=1, encrypted=False))
    assert _night(full_config) == "photos-b"  # new data still goes to the other partition
    assert started == []
