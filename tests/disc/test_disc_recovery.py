"""PAR2 recovery data on every disc: sized to the disc, read and used by stock par2."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from disc_helpers import run, sha256_file

from icefloe.disc import SECTOR, build_image, plan_discs, verify_image
from icefloe.disc.image import remove_image_leftovers
from icefloe.disc.recovery import reserve_sectors
from icefloe.errors import TooLarge

MIB = 1024 * 1024
CAPACITY = 8 * MIB


def _volumes(tmp_path: Path, sizes: list[int], seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    out = []
    for i, size in enumerate(sizes, start=1):
        path = tmp_path / "src" / f"photos-a.7z.{i:03d}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(rng.randbytes(size))
        out.append(path)
    return out


def _extract(image: Path, into: Path) -> Path:
    """The image's files as a disc shows them, read with xorriso (not with icefloe)."""
    into.mkdir(parents=True)
    run("xorriso", "-osirrox", "on", "-indev", str(image), "-extract", "/", str(into))
    for item in into.iterdir():
        item.chmod(0o644)
    into.chmod(0o755)
    return into


def _offset_of(image: Path, volume: Path) -> int:
    """Where the volume's data starts in the image (its first bytes are random, so unique)."""
    head = volume.read_bytes()[:256]
    data = image.read_bytes()
    at = data.find(head)
    assert at > 0 and at % SECTOR == 0
    return at


def _damage(image: Path, start: int, length: int, sectors: int, run_bytes: int, seed: int = 3) -> None:
    """Overwrite ``sectors`` random sectors and one contiguous run inside [start, start+length)."""
    rng = random.Random(seed)
    first, count = start // SECTOR, length // SECTOR
    with open(image, "r+b") as handle:
        run_at = first + rng.randrange(0, count - run_bytes // SECTOR)
        handle.seek(run_at * SECTOR)
        handle.write(b"\xde" * run_bytes)
        for sector in rng.sample(range(first, first + count), sectors):
            handle.seek(sector * SECTOR)
            handle.write(rng.randbytes(SECTOR))


@pytest.fixture
def disc(tmp_path: Path):
    vols = _volumes(tmp_path, [1_500_000, 1_700_000])
    manifest = tmp_path / "photos-a.manifest.json"
    manifest.write_text('{"format": "test manifest"}\n')
    [plan] = plan_discs(vols, "dvd+r", [(manifest.name, manifest)], capacity=CAPACITY, encrypted=False)
    info = build_image(plan, tmp_path / "images" / plan.image_name)
    return plan, info, vols


def test_stock_par2_verifies_an_undamaged_disc_and_the_data_fills_it(disc, tmp_path: Path) -> None:
    plan, info, vols = disc
    verify_image(info.path, info.checksums)
    shown = _extract(Path(info.path), tmp_path / "disc")
    par2 = sorted(p for p in shown.iterdir() if p.suffix == ".par2")
    assert [p.name for p in par2][0] == "photos-a-disc-01-of-01.par2"
    out = run("par2", "verify", par2[0].name, cwd=shown).stdout
    assert "All files are correct" in out
    data = sum(v.stat().st_size for v in vols)
    recovery = sum(p.stat().st_size for p in par2)
    assert recovery >= 0.10 * data
    # The recovery data fills the disc: what stays free is less than one block and the slack.
    assert info.sectors <= CAPACITY // SECTOR
    assert (CAPACITY // SECTOR - info.sectors) * SECTOR < 64 * 1024 + 64 * SECTOR or recovery >= data
    assert not list((tmp_path / "images").glob(".*"))  # the staging folder is gone


def test_stock_par2_repairs_a_scratched_copy_by_itself(disc, tmp_path: Path) -> None:
    _, info, vols = disc
    damaged = tmp_path / "damaged.iso"
    shutil.copyfile(info.path, damaged)
    start = _offset_of(damaged, vols[0])
    _damage(damaged, start, vols[0].stat().st_size, sectors=8, run_bytes=MIB)
    shown = _extract(damaged, tmp_path / "disc")
    assert sha256_file(shown / vols[0].name) != sha256_file(vols[0])
    out = run("par2", "repair", "photos-a-disc-01-of-01.par2", cwd=shown).stdout
    assert "Repair complete" in out
    assert sha256_file(shown / vols[0].name) == sha256_file(vols[0])
    assert sha256_file(shown / vols[1].name) == sha256_file(vols[1])


def test_a_disc_that_cannot_hold_its_minimum_gets_fewer_volumes(tmp_path: Path) -> None:
    vols = _volumes(tmp_path, [900_000] * 4)
    capacity = 4 * MIB  # four volumes fit bare, not with 10% recovery data
    bare = plan_discs(vols, "dvd+r", capacity=capacity, redundancy=0)
    kept = plan_discs(vols, "dvd+r", capacity=capacity)
    assert len(bare) == 1 and len(kept) == 2
    for plan in kept:
        assert plan.sectors + reserve_sectors(list(plan.entries), plan.redundancy) <= plan.capacity_sectors
    more = plan_discs(vols, "dvd+r", capacity=capacity, redundancy=0.5)
    assert max(len(p.volumes) for p in more) < max(len(p.volumes) for p in kept) < 4
    with pytest.raises(TooLarge, match="photos-a.7z.001"):
        plan_discs(vols, "dvd+r", capacity=2 * MIB, redundancy=1.5)


def test_a_killed_build_leaves_nothing_and_the_rerun_is_complete(disc, tmp_path: Path, monkeypatch) -> None:
    plan, info, vols = disc
    out = tmp_path / "again" / plan.image_name
    out.parent.mkdir()
    # Killed while par2 wrote its files: the staging folder stays, with a partial recovery file.
    staging = out.parent / f".{out.name}.par2.part"
    staging.mkdir()
    (staging / "photos-a-disc-01-of-01.vol00+10.par2").write_bytes(b"PAR2\0partial")
    old = os.path.getmtime(staging) - 3600
    os.utime(staging, (old, old))
    calls = []
    real = shutil.which

    def interrupted(name: str, *args, **kwargs):
        if name == "par2" and not calls:
            calls.append(name)
            raise KeyboardInterrupt  # the kill, as the next par2 run starts
        return real(name, *args, **kwargs)

    monkeypatch.setattr("icefloe.disc.recovery.shutil.which", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_image(plan, out)
    assert not out.exists() and not staging.exists()
    assert list(out.parent.iterdir()) == []
    # A leftover from a process killed outright is removed like a partial image.
    staging.mkdir()
    os.utime(staging, (old, old))
    assert remove_image_leftovers(out.parent) == [staging]
    again = build_image(plan, out)
    assert again.sha256 != "" and sorted(dict(again.files)) == sorted(dict(info.files))
    shown = _extract(out, tmp_path / "shown")
    assert "All files are correct" in run("par2", "verify", "photos-a-disc-01-of-01.par2", cwd=shown).stdout
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name, f"{out.name}.json"]


def test_a_disc_with_room_to_spare_gets_fewer_larger_blocks() -> None:
    from icefloe.disc.recovery import TARGET_BLOCKS, block_size, fill_block_size

    gib = 1 << 30
    full = (4 * gib, gib * 45 // 100)  # a full DVD: room for about 11% of its data
    last = (1600 << 20, 2800 << 20)  # a set's last disc, a third full
    for data, free in (full, last):
        block = max(block_size(data), fill_block_size(data, free))
        sources = data // block
        assert 490 <= sources <= TARGET_BLOCKS  # whole sectors round each block up a little
        assert min(free // block, sources) <= 510  # par2's work: data x recovery blocks, bounded
    assert max(block_size(full[0]), fill_block_size(*full)) < 1.2 * block_size(full[0])  # about as before
    assert fill_block_size(*last) >= 3 * block_size(last[0])  # a quarter of the blocks, or fewer
