"""Restoring from scratched discs: damaged volumes are repaired from the discs' PAR2 data."""

from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path

import pytest
from helpers import snapshot
from restore_helpers import MIB, PASSWORD, archive, forget_catalog, make_partition

from icefloe.catalog import Catalog
from icefloe.disc.records import build_set_images
from icefloe.restore import restore_from_discs
from icefloe.restore.repair import staging_for
from icefloe.restore.sources import iso_root_files

SECTOR = 2048


def _burn(tmp_path: Path, capacity: int, volume_size: int) -> tuple[dict, list[Path], dict[str, tuple[int, int]]]:
    """photos-a archived and put on discs; returns the snapshot, the images (the burner's
    files), and where each volume's data lies in its image (offset, size)."""
    part = make_partition(tmp_path / "photos-a")
    original = snapshot(part)
    catalog = Catalog.open(tmp_path / "work" / "catalog.sqlite")
    result = archive(part, tmp_path / "work" / "archives", catalog, volume_size=volume_size)
    infos = build_set_images(catalog, result.set_name, "dvd+r", tmp_path / "isos", capacity=capacity)
    isos = [Path(i.path) for i in infos]
    where = {}
    for iso in isos:
        image = iso.read_bytes()
        for item in iso_root_files(iso):
            if ".7z." in item.name:
                with item.opener() as handle:
                    data = handle.read()
                at = image.find(data[:8192])
                assert at > 0 and at % SECTOR == 0 and image[at:at + len(data)] == data
                where[item.name] = (at, len(data))
    shutil.rmtree(part)
    shutil.rmtree(result.directory)
    forget_catalog(catalog)
    catalog.close()
    for sidecar in (tmp_path / "isos").glob("*.json"):
        sidecar.unlink()
    return original, isos, where


def _scratch(image: Path, at: int, size: int, *, sectors: int, run: int, seed: int = 5) -> None:
    """``sectors`` random 2 KiB sectors and one contiguous run of ``run`` bytes overwritten."""
    rng = random.Random(seed)
    first, count = at // SECTOR, size // SECTOR
    with open(image, "r+b") as handle:
        if run:
            start = first + rng.randrange(0, max(1, count - run // SECTOR))
            handle.seek(start * SECTOR)
            handle.write(bytes(rng.randrange(256) for _ in range(64)) * (run // 64))
        for sector in rng.sample(range(first, first + count), sectors):
            handle.seek(sector * SECTOR)
            handle.write(rng.randbytes(SECTOR))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_temporaries(root: Path) -> None:
    left = [p for p in root.rglob("*") if p.name.endswith(".part") or ".icefloe-tmp" in p.name]
    assert left == []


def test_a_scratched_disc_restores_byte_identical_and_says_what_was_repaired(tmp_path: Path) -> None:
    original, [iso], where = _burn(tmp_path, 14 * MIB, 2 * MIB)
    first = sorted(where)[0]
    at, size = where[first]
    _scratch(iso, at, size, sectors=6, run=MIB)
    last = sorted(where)[-1]
    _scratch(iso, *where[last], sectors=3, run=0, seed=9)
    before = _sha(iso)
    to = tmp_path / "restored"
    [result] = restore_from_discs([iso], to, password=PASSWORD)
    result.report.raise_for_problems()
    assert snapshot(to) == original
    assert [r.split()[1] for r in result.report.repaired] == sorted({first, last})
    assert all(str(iso) in r for r in result.report.repaired)
    assert "repaired from the recovery data" in result.report.summary()
    assert result.to_json()["repaired"] == list(result.report.repaired)
    assert _sha(iso) == before  # the disc is only read
    assert not staging_for(to).exists()
    _no_temporaries(to)


def test_beyond_the_margin_the_undamaged_folders_restore_and_the_damaged_files_are_named(tmp_path: Path) -> None:
    original, [iso], where = _burn(tmp_path, 14 * MIB, 2 * MIB)
    first = sorted(where)[0]
    _scratch(iso, *where[first], sectors=40, run=MIB)
    # The recovery file is scratched too: far less is left than the damage needs.
    image = iso.read_bytes()
    [par2] = [f for f in iso_root_files(iso) if ".vol" in f.name and f.name.endswith(".par2")]
    with par2.opener() as handle:
        head = handle.read(65536)
    par2_at = image.find(head)
    assert par2_at > 0
    with open(iso, "r+b") as handle:
        handle.seek(par2_at)
        handle.write(b"\0" * (par2.size * 9 // 10))
    to = tmp_path / "restored"
    [result] = restore_from_discs([iso], to, password=PASSWORD)
    report = result.report
    assert not report.ok and report.repaired == ()
    assert any(f"volume {first} is damaged" in p and "could not repair" in p for p in report.volume_problems)
    named = {p.path for p in report.problems}
    assert named and all(p.kind in ("damaged", "missing") for p in report.problems)
    restored = snapshot(to)
    # Every file not named is back, byte-identical; nothing named is left half-written.
    for rel, entry in original.items():
        if rel in named:
            assert rel not in restored
        elif entry[0] == "file":
            assert restored.get(rel) == entry, rel
    assert 0 < report.files < sum(1 for e in original.values() if e[0] == "file")
    assert not staging_for(to).exists()
    _no_temporaries(to)


def test_a_set_of_discs_with_one_scratched_restores_from_the_others_and_its_own_data(tmp_path: Path) -> None:
    original, isos, where = _burn(tmp_path, 3 * MIB, MIB)
    assert len(isos) >= 2
    damaged = isos[-1]
    on_it = [name for name in sorted(where) if name in {f.name for f in iso_root_files(damaged)}]
    _scratch(damaged, *where[on_it[0]], sectors=4, run=256 * 1024)
    intact = {iso: _sha(iso) for iso in isos if iso != damaged}
    to = tmp_path / "restored"
    [result] = restore_from_discs(isos, to, password=PASSWORD)
    result.report.raise_for_problems()
    assert snapshot(to) == original
    assert len(result.report.repaired) == 1
    assert on_it[0] in result.report.repaired[0] and str(damaged) in result.report.repaired[0]
    assert {iso: _sha(iso) for iso in intact} == intact


def test_a_restore_killed_while_repairing_leaves_nothing_and_the_rerun_completes(tmp_path: Path, monkeypatch) -> None:
    original, [iso], where = _burn(tmp_path, 14 * MIB, 2 * MIB)
    _scratch(iso, *where[sorted(where)[0]], sectors=5, run=MIB)
    to = tmp_path / "restored"
    import icefloe.restore.repair as repair

    real = repair.subprocess.run

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(repair.subprocess, "run", killed)
    with pytest.raises(KeyboardInterrupt):
        restore_from_discs([iso], to, password=PASSWORD)
    assert not staging_for(to).exists()
    assert not to.exists() or snapshot(to) == {}
    # A restore killed outright leaves its copies; the next one starts without them.
    staging_for(to).mkdir(parents=True)
    (staging_for(to) / "stale.7z.001").write_bytes(b"half a copy")
    monkeypatch.setattr(repair.subprocess, "run", real)
    [result] = restore_from_discs([iso], to, password=PASSWORD)
    result.report.raise_for_problems()
    assert snapshot(to) == original and len(result.report.repaired) == 1
    assert not staging_for(to).exists()
    _no_temporaries(to)
