"""Disc capacities and volume_size_for, proven by laying out full-size discs with pycdlib."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from icefloe.disc import (
    DISC_CAPACITY,
    DISC_SECTORS,
    SECTOR,
    plan_discs,
    volume_size_for,
)
from icefloe.disc.recovery import block_size, reserve_sectors
from icefloe.errors import TooLarge, UsageError

FACTS = {
    "dvd+r": 2_295_104, "dvd-r": 2_298_496, "dvd+r-dl": 4_173_824,
    "dvd-r-dl": 4_171_712, "bd-r": 12_219_392, "bd-r-dl": 24_438_784,
}
ZERO = "0" * 64


def test_capacities_are_the_facts() -> None:
    assert DISC_SECTORS == FACTS
    assert DISC_CAPACITY == {k: v * 2048 for k, v in FACTS.items()}


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


@pytest.mark.parametrize("disc_type", sorted(FACTS))
@pytest.mark.parametrize("reserve", [0, 3_000_001])
def test_one_volume_fits_one_disc_exactly_measured(disc_type: str, reserve: int, tmp_path: Path) -> None:
    size = volume_size_for(disc_type, reserve)
    assert size % (1024 * 1024) == 0
    volume = _sparse(tmp_path / "set.7z.0001", size)
    manifest = _sparse(tmp_path / "set.manifest.json", reserve)
    sums = {volume.name: ZERO, manifest.name: ZERO}  # plan_discs needs no hashing then
    plans = plan_discs([volume], disc_type, [(manifest.name, manifest)], checksums=sums, encrypted=True)
    assert len(plans) == 1
    plan = plans[0]
    assert plan.sectors <= plan.capacity_sectors == FACTS[disc_type]
    # Room for the least recovery data (10% of the disc's data) is kept, and not much more:
    # beyond it, less than 3 MiB and the rounding of two recovery blocks (which the recovery
    # data written with the image fills).
    reserved = reserve_sectors(list(plan.entries), plan.redundancy)
    assert plan.redundancy == 0.10
    assert plan.free_sectors >= reserved >= 0.10 * plan.data_bytes / SECTOR
    slack = 3 * 1024 * 1024 + 2 * block_size(plan.data_bytes)
    assert (plan.free_sectors - reserved) * SECTOR < slack
    # Without recovery data the volume fills the disc.
    bare = plan_discs([_sparse(tmp_path / "bare.7z.0001", volume_size_for(disc_type, reserve, 0))],
                      disc_type, [(manifest.name, manifest)], checksums={**sums, "bare.7z.0001": ZERO},
                      redundancy=0)
    assert len(bare) == 1 and bare[0].free_sectors * SECTOR < 3 * 1024 * 1024
    # Two such volumes need two discs, each with its own restore kit.
    second = _sparse(tmp_path / "set.7z.0002", size)
    sums[second.name] = ZERO
    plans = plan_discs([volume, second], disc_type, [(manifest.name, manifest)], checksums=sums)
    assert [p.volumes for p in plans] == [(volume.name,), (second.name,)]
    assert all(p.sectors <= p.capacity_sectors for p in plans)


def test_unknown_disc_type() -> None:
    with pytest.raises(UsageError, match="unknown disc type 'cd-r'.*dvd\\+r"):
        volume_size_for("cd-r")
    with pytest.raises(UsageError, match='"none" means no discs'):
        volume_size_for("none")


def test_reserve_larger_than_the_disc() -> None:
    with pytest.raises(TooLarge, match="larger disc type"):
        volume_size_for("dvd+r", DISC_CAPACITY["dvd+r"])
    with pytest.raises(UsageError):
        volume_size_for("dvd+r", -1)


def test_planning_reads_no_data(tmp_path: Path) -> None:
    """Planning a 50 GB disc takes no time: pycdlib measures without reading the volume."""
    size = volume_size_for("bd-r-dl")
    volume = _sparse(tmp_path / "v.7z.0001", size)
    started = time.monotonic()
    plans = plan_discs([volume], "bd-r-dl", checksums={volume.name: ZERO})
    assert time.monotonic() - started < 2  # reading 50 GB would take half a minute
    entries = {e.path: e for e in plans[0].entries}
    assert entries[volume.name].size == size
    assert {"RESTORE.txt", "SHA256SUMS.txt"} <= set(entries)
