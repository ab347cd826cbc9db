"""Disc sets: volumes dealt over discs, each disc self-describing, together they restore."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from disc_helpers import make_volumes, run, tree_listing

from icefloe.disc import build_image, plan_discs, verify_image
from icefloe.errors import ChecksumMismatch, InputNotFound, TooLarge, UsageError
from icefloe.restorekit import RESTORE_NAME, SUMS_NAME

CAPACITY = 2 * 1024 * 1024  # a tiny "disc" so a small archive needs several


@pytest.fixture
def volumes(tmp_path: Path) -> tuple[Path, list[Path]]:
    return make_volumes(tmp_path, 3_400_000, volume="300k", name="photos-a")


def _manifest(tmp_path: Path) -> Path:
    path = tmp_path / "photos-a.manifest.json"
    path.write_text('{"format": "test manifest"}\n')
    return path


def test_a_set_spans_discs_that_together_restore_it(volumes, tmp_path: Path) -> None:
    source, vols = volumes
    manifest = _manifest(tmp_path)
    plans = plan_discs(vols, "dvd+r", [(manifest.name, manifest)], capacity=CAPACITY,
                       encrypted=False, created="2026-11-27")
    assert len(plans) >= 3
    # Every volume exactly once, in order; every disc within its capacity.
    assert [v for p in plans for v in p.volumes] == [v.name for v in vols]
    assert all(p.sectors <= p.capacity_sectors == CAPACITY // 2048 for p in plans)
    count = len(plans)
    assert [p.image_name for p in plans] == [
        f"photos-a-disc-{i:02d}-of-{count:02d}.iso" for i in range(1, count + 1)
    ]
    restored = tmp_path / "restore"
    restored.mkdir()
    for plan in plans:
        info = build_image(plan, tmp_path / "images" / plan.image_name)
        verify_image(info.path, info.checksums)
        disc = tmp_path / f"disc{plan.index}"
        disc.mkdir()
        run("7zz", "x", "-tudf", "-y", info.path, cwd=disc)
        # Each disc describes itself: its volumes, the manifest, RESTORE.txt, SHA256SUMS.txt,
        # and repairs itself: its PAR2 index and recovery file, which stock par2 accepts.
        stem = plan.image_name.removesuffix(".iso")
        par2 = sorted(p.name for p in disc.iterdir() if p.suffix == ".par2")
        assert par2[0] == f"{stem}.par2" and len(par2) == 2 and par2[1].startswith(f"{stem}.vol")
        assert sorted(p.name for p in disc.iterdir()) == sorted(
            [*plan.volumes, manifest.name, RESTORE_NAME, SUMS_NAME, *par2]
        )
        assert "All files are correct" in run("par2", "verify", par2[0], cwd=disc).stdout
        text = (disc / RESTORE_NAME).read_text("ascii")
        assert f"disc {plan.index} of {count}" in text
        assert all(v.name in text for v in vols)  # the volumes of every disc are listed
        assert max(len(line) for line in text.splitlines()) <= 72
        for item in disc.iterdir():
            shutil.copy2(item, restored / item.name)
    # What RESTORE.txt says to do, done with stock tools.
    checked = run("sha256sum", "-c", SUMS_NAME, cwd=restored).stdout
    assert checked.count(": OK") == len(vols) + 1
    out = restored / "files"
    out.mkdir()
    run("7zz", "x", "-y", str(restored / vols[0].name), cwd=out)
    assert tree_listing(out) == tree_listing(source)


def test_restore_text_is_plain_ascii_and_explains_each_system(volumes, tmp_path: Path) -> None:
    _, vols = volumes
    plans = plan_discs(vols, "dvd+r", capacity=CAPACITY, encrypted=True)
    body = next(e.data for e in plans[1].entries if e.path == RESTORE_NAME)
    assert body is not None
    text = body.decode("ascii")
    assert f"disc 2 of {len(plans)}" in text and "<- this disc" in text
    for needle in ("Windows", "macOS", "Linux", "7zz x photos-a.7z.001", "sha256sum -c",
                   "shasum -a 256", "certutil", "ENCRYPTED", "Keka"):
        assert needle in text, needle
    assert all(len(line) <= 72 for line in text.splitlines())


def test_one_disc_when_it_fits(volumes, tmp_path: Path) -> None:
    _, vols = volumes
    plans = plan_discs(vols, "dvd+r")
    assert len(plans) == 1 and plans[0].volumes == tuple(v.name for v in vols)
    assert plans[0].image_name == "photos-a-disc-01-of-01.iso"


def test_a_volume_larger_than_a_disc_is_named(tmp_path: Path) -> None:
    big = tmp_path / "set.7z.0001"
    big.write_bytes(b"\0" * 3_000_000)
    with pytest.raises(TooLarge, match=r"set\.7z\.0001 is 2\.9 MiB.*volumes"):
        plan_discs([big], "dvd+r", capacity=CAPACITY)


def test_recorded_checksum_is_enforced_by_the_verification(volumes, tmp_path: Path) -> None:
    _, vols = volumes
    sums = {v.name: "0" * 64 for v in vols}
    plans = plan_discs(vols, "dvd+r", capacity=CAPACITY, checksums=sums)
    info = build_image(plans[0], tmp_path / "x.iso")  # the record is taken, not computed again
    assert info.checksums[vols[0].name] == "0" * 64
    with pytest.raises(ChecksumMismatch, match=f"{vols[0].name} reads back .* expected 0000"):
        verify_image(info.path, info.checksums)


def test_bad_inputs(volumes, tmp_path: Path) -> None:
    _, vols = volumes
    with pytest.raises(InputNotFound, match="nope"):
        plan_discs([tmp_path / "nope.7z.001"], "dvd+r")
    with pytest.raises(UsageError, match="no archive volumes"):
        plan_discs([], "dvd+r")
    with pytest.raises(UsageError, match="RESTORE.txt"):
        plan_discs(vols, "dvd+r", [("RESTORE.txt", b"mine")])
    with pytest.raises(UsageError, match="unknown disc type"):
        plan_discs(vols, "cd-r")
