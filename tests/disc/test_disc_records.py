"""A catalog's archive set onto discs: images, verifications and burns are recorded."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from disc_helpers import record_set

from icefloe.catalog import BURNED_READBACK, IMAGE_VERIFIED, Catalog
from icefloe.disc import BurnMismatch
from icefloe.disc.records import (
    build_set_images,
    burn_recorded_image,
    plan_set,
    verify_recorded_image,
)
from icefloe.errors import ChecksumMismatch, InputNotFound

CAPACITY = 2 * 1024 * 1024


@pytest.fixture
def catalog(tmp_path: Path):
    with Catalog.open(tmp_path / "catalog.sqlite") as cat:
        yield cat


def test_images_verifications_and_burns_are_recorded(catalog, tmp_path: Path) -> None:
    volumes = record_set(catalog, tmp_path, nbytes=2_000_000)
    out = tmp_path / "discs"
    infos = build_set_images(catalog, "photos-a-1", "dvd+r", out, capacity=CAPACITY)
    assert len(infos) >= 2
    assert [r.name for r in catalog.images("photos-a-1")] == [i.name for i in infos]
    assert {v.name for v in volumes} <= {f for i in infos for f in i.checksums}
    for info in infos:
        verify_recorded_image(catalog, info.path)
        check = catalog.latest_verification(f"image:{info.name}", IMAGE_VERIFIED)
        assert check is not None and check.ok
    target = tmp_path / "burned.img"
    result = burn_recorded_image(catalog, infos[0].path, f"stdio:{target}")
    assert result.ok
    [burn] = catalog.burns(infos[0].name)
    assert burn.ok and burn.readback_sha256 == infos[0].sha256
    assert catalog.latest_verification(f"image:{infos[0].name}", BURNED_READBACK).ok
    # A damaged burn found by a later read-back is recorded as failed.
    with open(target, "r+b") as disc:
        disc.seek(infos[0].size // 2)
        disc.write(b"\xff" * 16)
    with pytest.raises(BurnMismatch):
        burn_recorded_image(catalog, infos[0].path, f"stdio:{target}", verify_only=True)
    assert [b.ok for b in catalog.burns(infos[0].name)] == [True, False]
    assert not catalog.latest_verification(f"image:{infos[0].name}", BURNED_READBACK).ok


def test_a_volume_that_changed_since_it_was_recorded_is_refused(catalog, tmp_path: Path) -> None:
    volumes = record_set(catalog, tmp_path)
    data = bytearray(volumes[0].read_bytes())
    data[100] ^= 0xFF
    volumes[0].write_bytes(bytes(data))
    out = tmp_path / "discs"
    [info] = build_set_images(catalog, "photos-a-1", "dvd+r", out)  # takes the recorded checksum
    subject = f"image:{info.name}"
    with pytest.raises(ChecksumMismatch, match=f"{volumes[0].name} reads back"):
        verify_recorded_image(catalog, info.path)
    assert not catalog.latest_verification(subject, IMAGE_VERIFIED).ok
    # A failed image is built again, not carried forward; its volume is still damaged.
    first = os.stat(info.path).st_ino
    [again] = build_set_images(catalog, "photos-a-1", "dvd+r", out)
    assert os.stat(again.path).st_ino != first
    with pytest.raises(ChecksumMismatch, match=volumes[0].name):
        verify_recorded_image(catalog, again.path)
    # Put right, the rebuilt image passes.
    data[100] ^= 0xFF
    volumes[0].write_bytes(bytes(data))
    [good] = build_set_images(catalog, "photos-a-1", "dvd+r", out)
    verify_recorded_image(catalog, good.path)
    assert catalog.latest_verification(subject, IMAGE_VERIFIED).ok
    assert build_set_images(catalog, "photos-a-1", "dvd+r", out) == [good]  # now carried forward


def test_verification_checks_the_sidecar_against_the_catalog(catalog, tmp_path: Path) -> None:
    volumes = record_set(catalog, tmp_path)
    [info] = build_set_images(catalog, "photos-a-1", "dvd+r", tmp_path / "discs")
    archive = catalog.get_archive(volumes[0].name)
    catalog.put_archive(replace(archive, sha256="0" * 64))
    with pytest.raises(ChecksumMismatch, match="catalog records 0000"):
        verify_recorded_image(catalog, info.path)
    assert not catalog.latest_verification(f"image:{info.name}", IMAGE_VERIFIED).ok


def test_an_image_changed_after_building_is_not_burned(catalog, tmp_path: Path) -> None:
    record_set(catalog, tmp_path)
    [info] = build_set_images(catalog, "photos-a-1", "dvd+r", tmp_path / "discs")
    with open(info.path, "r+b") as image:
        image.seek(info.size - 100)
        image.write(b"junk")
    with pytest.raises(ChecksumMismatch, match="changed since it was built"):
        burn_recorded_image(catalog, info.path, f"stdio:{tmp_path / 'b.img'}")
    assert catalog.burns(info.name) == []
    assert not (tmp_path / "b.img").exists()


def test_missing_set_or_volume(catalog, tmp_path: Path) -> None:
    with pytest.raises(InputNotFound, match="no archive set 'nope'"):
        plan_set(catalog, "nope", "dvd+r")
    volumes = record_set(catalog, tmp_path)
    volumes[1].unlink()
    with pytest.raises(InputNotFound, match=f"volume {volumes[1].name} is not at"):
        plan_set(catalog, "photos-a-1", "dvd+r")


def test_killed_image_writes_are_removed_by_the_next_build(catalog, tmp_path: Path) -> None:
    """SIGKILL while an image is written leaves a temporary file; the next build removes it."""
    import os
    import subprocess
    import sys
    import time

    from icefloe.fsutil import atomic_output

    record_set(catalog, tmp_path, nbytes=500_000)
    out = tmp_path / "discs"
    out.mkdir()
    killed = subprocess.run(
        [sys.executable, "-c",
         "import os, signal, sys\n"
         "from pathlib import Path\n"
         "from icefloe.fsutil import atomic_output\n"
         "with atomic_output(Path(sys.argv[1])) as fh:\n"
         "    fh.write(b'\\0' * 1_000_000); fh.flush()\n"
         "    os.kill(os.getpid(), signal.SIGKILL)\n",
         str(out / "photos-a-1-disc-01-of-01.iso")],
        capture_output=True, timeout=60,
    )
    assert killed.returncode == -9
    (left,) = [p for p in out.iterdir() if p.name.endswith(".part")]
    assert left.name.startswith(".photos-a-1-disc-01-of-01.iso.") and left.stat().st_size == 1_000_000
    then = time.time() - 60
    os.utime(left, (then, then))
    keep = out / "notes.part"  # not an image's temporary name
    keep.write_bytes(b"mine")
    os.utime(keep, (then, then))
    with atomic_output(out / "other.iso") as live:  # a live writer's file stays
        live.write(b"x")
        (live_part,) = [p for p in out.iterdir() if p.name.startswith(".other.iso.")]
        os.utime(live_part, (then, then))
        infos = build_set_images(catalog, "photos-a-1", "dvd+r", out, capacity=CAPACITY)
        assert live_part.exists()
    assert not left.exists() and keep.exists()
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".iso")) == sorted(
        ["other.iso", *(Path(i.path).name for i in infos)]
    )


def test_images_are_owner_only_like_the_catalog(catalog, tmp_path: Path) -> None:
    import os
    import stat

    record_set(catalog, tmp_path, nbytes=500_000)
    out = tmp_path / "work" / "discs" / "photos-a-1"
    old = os.umask(0o022)
    try:
        infos = build_set_images(catalog, "photos-a-1", "dvd+r", out, capacity=CAPACITY)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    made = [Path(i.path) for i in infos] + [Path(f"{i.path}.json") for i in infos]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in made), [oct(p.stat().st_mode) for p in made]
