"""Partitions: fill level, the active one, rotation and the status rows."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from icefloe.catalog import ArchiveSet, Catalog, MirrorRun, now_iso
from icefloe.config import Settings, load_settings
from icefloe.errors import ConfigInvalid, GateNotMet, InputNotFound, UsageError
from icefloe.partitions import (
    ACTIVE_KEY,
    active_partition,
    after_clear,
    capacity_bytes,
    data_bytes,
    fill_level,
    rotate,
    set_active,
    status,
)


def _settings(workspace: Path, labels: tuple[str, ...] = ("photos-a", "photos-b")) -> Settings:
    text = 'work_dir = "work"\n'
    for label in labels:
        (workspace / label).mkdir(exist_ok=True)
        (workspace / label / ".icefloe-partition").write_text(label + "\n")
        text += f'[[partitions]]\nlabel = "{label}"\npath = "{label}"\n'
    (workspace / "icefloe.toml").write_text(text)
    return load_settings(workspace / "icefloe.toml", environ={})


@pytest.fixture
def catalog(workspace: Path):
    with Catalog.open(workspace / "work" / "catalog.sqlite") as cat:
        yield cat


def _waiting_set(catalog: Catalog, label: str, name: str) -> None:
    catalog.put_archive_set(ArchiveSet(name, label, 1, 1, True))


# -- fill level --------------------------------------------------------------------------

def test_fill_level_against_a_configured_capacity(workspace: Path) -> None:
    part = workspace / "photos-a"
    (part / "dcim").mkdir()
    (part / "dcim" / "a.jpg").write_bytes(b"x" * 3000)
    (workspace / "big-outside").write_bytes(b"y" * 100_000)
    os.symlink(workspace / "big-outside", part / "link")  # counted as a link, not its target
    used = len("photos-a\n") + 3000 + len(str(workspace / "big-outside"))
    assert data_bytes(part) == used
    assert fill_level(part, capacity_bytes=4 * used) == pytest.approx(0.25)
    assert fill_level(part, capacity_bytes=used // 2) == pytest.approx(used / (used // 2))  # over capacity shows


def test_fill_level_of_the_filesystem(workspace: Path) -> None:
    usage = shutil.disk_usage(workspace)
    expected = usage.used / (usage.used + usage.free)
    assert fill_level(workspace / "photos-a") == pytest.approx(expected, abs=0.01)
    assert 0.0 < fill_level(workspace / "photos-a") <= 1.0


def test_fill_level_of_a_missing_partition(workspace: Path) -> None:
    with pytest.raises(InputNotFound, match="is the disk mounted"):
        fill_level(workspace / "gone")
    with pytest.raises(UsageError, match="must be positive"):
        fill_level(workspace / "photos-a", capacity_bytes=0)


def test_capacity_comes_from_the_optional_config_field(workspace: Path) -> None:
    settings = _settings(workspace)
    assert capacity_bytes(settings.partitions[0]) is None  # field not set: use the filesystem
    assert capacity_bytes(SimpleNamespace(capacity_gib=4.7)) == int(4.7 * 1024**3)


# -- active partition and rotation -------------------------------------------------------

def test_active_defaults_to_the_first_and_is_stored(workspace: Path, catalog: Catalog) -> None:
    settings = _settings(workspace)
    assert active_partition(catalog, settings) == "photos-a"
    set_active(catalog, settings, "photos-b")
    assert catalog.get_state(ACTIVE_KEY) == "photos-b" and active_partition(catalog, settings) == "photos-b"
    with pytest.raises(ConfigInvalid, match="no partition labelled 'photos-z'"):
        set_active(catalog, settings, "photos-z")
    catalog.set_state(ACTIVE_KEY, "renamed-since")
    assert active_partition(catalog, settings) == "photos-a"


def test_no_partitions_configured(workspace: Path, catalog: Catalog) -> None:
    (workspace / "icefloe.toml").write_text('work_dir = "work"\n')
    with pytest.raises(ConfigInvalid, match=r"add \[\[partitions\]\]"):
        active_partition(catalog, load_settings(workspace / "icefloe.toml", environ={}))


def test_rotate_switches_and_is_idempotent(workspace: Path, catalog: Catalog) -> None:
    settings = _settings(workspace)
    assert rotate(catalog, settings, "photos-a") == "photos-b"
    assert rotate(catalog, settings, "photos-a") == "photos-b"  # a retried task changes nothing
    assert active_partition(catalog, settings) == "photos-b"


def test_rotate_refuses_a_partition_still_waiting_to_be_cleared(workspace: Path, catalog: Catalog) -> None:
    settings = _settings(workspace)
    set_active(catalog, settings, "photos-b")
    _waiting_set(catalog, "photos-a", "a-2024")
    message = "photos-b stays active: photos-a still holds a-2024 waiting to be cleared"
    with pytest.raises(GateNotMet, match=message):
        rotate(catalog, settings, "photos-b")
    assert active_partition(catalog, settings) == "photos-b"
    catalog.mark_set_cleared("a-2024")
    assert rotate(catalog, settings, "photos-b") == "photos-a"


def test_rotate_refuses_an_unmounted_partition(workspace: Path, catalog: Catalog) -> None:
    settings = _settings(workspace)
    (workspace / "photos-b" / ".icefloe-partition").unlink()
    with pytest.raises(GateNotMet, match="photos-b is not mounted"):
        rotate(catalog, settings, "photos-a")
    assert active_partition(catalog, settings) == "photos-a"


def test_rotate_skips_to_the_next_free_partition(workspace: Path, catalog: Catalog) -> None:
    settings = _settings(workspace, ("photos-a", "photos-b", "photos-c"))
    _waiting_set(catalog, "photos-b", "b-1")
    assert rotate(catalog, settings, "photos-a") == "photos-c"


def test_rotate_needs_two_partitions(workspace: Path, catalog: Catalog) -> None:
    settings = _settings(workspace, ("photos-a",))
    with pytest.raises(UsageError, match="rotation needs a second partition"):
        rotate(catalog, settings, "photos-a")


def test_after_clear_hands_over_only_from_the_active(workspace: Path, catalog: Catalog) -> None:
    settings = _settings(workspace)
    assert after_clear(catalog, settings, "photos-b") == "photos-a"  # not active: unchanged
    assert after_clear(catalog, settings, "photos-a") == "photos-b"
    _waiting_set(catalog, "photos-a", "a-1")
    assert after_clear(catalog, settings, "photos-b") == "photos-b"  # the other still waits


# -- status ------------------------------------------------------------------------------

def test_status_rows(workspace: Path, catalog: Catalog) -> None:
    settings = _settings(workspace)
    pipeline = settings.pipeline.model_copy(update={"fill_threshold": 1e-9})  # any data is "full"
    settings = settings.model_copy(update={"pipeline": pipeline})
    _waiting_set(catalog, "photos-a", "a-1")
    catalog.record_mirror_run(MirrorRun("photos-a", now_iso(), "2030-01-01T02:00:00+00:00", True, 0))
    catalog.verify("partition:photos-a", "mirror_checksum", True)
    (workspace / "photos-b" / ".icefloe-partition").unlink()
    a, b = status(catalog, settings)
    assert (a.label, a.active, a.mounted, a.full, a.pending_sets) == ("photos-a", True, True, True, ("a-1",))
    assert a.open_gates == 2  # the set has no archives and no disc images recorded yet
    assert a.last_mirror_at == "2030-01-01T02:00:00+00:00" and a.last_mirror_ok is True
    assert 0 < a.fill <= 1 and a.capacity_bytes is None
    assert (b.active, b.mounted, b.fill, b.full) == (False, False, None, False)
    assert (b.open_gates, b.last_mirror_at, b.last_mirror_ok) == (0, None, None)
