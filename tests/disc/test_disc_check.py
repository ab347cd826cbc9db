"""`icefloe discs check`: a good and a damaged image read end to end, both recorded."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from disc_helpers import record_set
from helpers import invoke, ok, one_line_error

from icefloe.catalog import Catalog
from icefloe.config import load_settings
from icefloe.disc.check import check_disc, discs_due
from icefloe.disc.records import build_set_images
from icefloe.restore.sources import iso_root_files

SECTOR = 2048


@pytest.fixture
def images(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("ICEFLOE_CONFIG", raising=False)
    settings = load_settings(workspace / "icefloe.toml")
    settings.catalog_path.parent.mkdir(parents=True, exist_ok=True)
    with Catalog.open(settings.catalog_path) as catalog:
        (workspace / "src").mkdir()
        record_set(catalog, workspace / "src", nbytes=1_500_000)
        [info] = build_set_images(catalog, "photos-a-1", "dvd+r", workspace / "isos", capacity=6 * 1024 * 1024)
    good = Path(info.path)
    scratched, ruined = workspace / "scratched.iso", workspace / "ruined.iso"
    shutil.copyfile(good, scratched)
    shutil.copyfile(good, ruined)
    data = good.read_bytes()
    vol = next(f for f in iso_root_files(good) if ".7z." in f.name)
    with vol.opener() as handle:
        at = data.find(handle.read(4096))
    rng = random.Random(1)
    with open(scratched, "r+b") as handle:
        for sector in rng.sample(range(at // SECTOR, (at + vol.size) // SECTOR), 5):
            handle.seek(sector * SECTOR)
            handle.write(rng.randbytes(SECTOR))
    par2 = next(f for f in iso_root_files(good) if ".vol" in f.name)
    with par2.opener() as handle:
        par2_at = data.find(handle.read(65536))
    with open(ruined, "r+b") as handle:  # every volume sector and the recovery file overwritten
        handle.seek(at)
        handle.write(b"\1" * vol.size)
        handle.seek(par2_at)
        handle.write(b"\0" * par2.size)
    return good, scratched, ruined


def test_a_good_and_a_damaged_image_are_both_recorded(images, workspace: Path, capsys) -> None:
    good, scratched, ruined = images
    out = invoke(capsys, "discs", "check", str(good), str(scratched), "--json")
    assert out.returncode == 6, out.stderr  # a damaged disc is a finding, not a crash
    assert "burn a new copy" in one_line_error(out, after_report=True)
    rows = json.loads(out.stdout)
    assert [r["ok"] for r in rows] == [True, False]
    first, second = rows
    assert first["damaged_blocks"] == 0 and first["margin_blocks"] == first["recovery_blocks"] > 0
    assert first["source_blocks"] > 0 and first["sectors"] == good.stat().st_size // SECTOR
    assert 0 < second["damaged_blocks"] <= 5 and second["margin_blocks"] == second["recovery_blocks"] - second["damaged_blocks"]
    assert second["margin_blocks"] > 0
    settings = load_settings(workspace / "icefloe.toml")
    with Catalog.open(settings.catalog_path) as catalog:
        recorded = catalog.disc_checks("photos-a-1-disc-01-of-01")
        assert [(c.ok, c.source) for c in recorded] == [(True, str(good)), (False, str(scratched))]
        assert all(c.checked_at for c in recorded)
        # Checked just now: not due; a year and a day later: due.
        assert discs_due(catalog) == []
        later = datetime.now(UTC) + timedelta(days=366)
        [due] = discs_due(catalog, now=later)
        assert due["disc"] == "photos-a-1-disc-01-of-01" and due["last_ok"] is False


def test_damage_beyond_the_recovery_data_has_a_negative_margin(images) -> None:
    _, _, ruined = images
    result = check_disc(ruined)
    assert not result.ok and result.margin_blocks < 0 and "NOT repairable" in (result.detail or "")


def test_a_disc_never_checked_is_due_a_year_after_its_image(images, workspace: Path) -> None:
    settings = load_settings(workspace / "icefloe.toml")
    with Catalog.open(settings.catalog_path) as catalog:
        assert discs_due(catalog) == []
        [due] = discs_due(catalog, now=datetime.now(UTC) + timedelta(days=400))
        assert due["last_checked"] is None


def test_a_check_killed_midway_records_nothing_and_leaves_no_copies(images, workspace: Path, monkeypatch,
                                                                    capsys) -> None:
    import tempfile

    import icefloe.disc.check as check

    good, _, _ = images
    made: list[str] = []
    real_tmp = tempfile.TemporaryDirectory

    def tracked(*args, **kwargs):
        handle = real_tmp(*args, **kwargs)
        made.append(handle.name)
        return handle

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the kill, while par2 verify runs

    real_run = check.subprocess.run
    monkeypatch.setattr(check.tempfile, "TemporaryDirectory", tracked)
    monkeypatch.setattr(check.subprocess, "run", killed)
    killed_run = invoke(capsys, "discs", "check", str(good))
    assert killed_run.returncode == 130 and "run the same command again" in one_line_error(killed_run, after_report=True)
    assert made and not any(Path(m).exists() for m in made)
    settings = load_settings(workspace / "icefloe.toml")
    with Catalog.open(settings.catalog_path) as catalog:
        assert catalog.disc_checks() == []
    monkeypatch.setattr(check.subprocess, "run", real_run)
    ok(invoke(capsys, "discs", "check", str(good)))
    with Catalog.open(settings.catalog_path) as catalog:
        assert [c.ok for c in catalog.disc_checks()] == [True]



def test_each_disc_gets_a_printable_label_page(images, workspace: Path) -> None:
    from dataclasses import replace

    from icefloe.catalog import ManifestEntry
    from icefloe.disc.label import label_path

    good, _, _ = images
    page = label_path(good)
    text = page.read_text("utf-8")
    assert "disc 1 of 1" in text and "photos-a-1" in text
    assert "photos-a-1.7z.001" in text and "RESTORE.txt" in text
    assert "password" not in text  # not encrypted: no password to ask for
    assert not list(page.parent.glob(".*.part"))
    # An encrypted set over two discs, with its manifest: dates, password, the other disc.
    settings = load_settings(workspace / "icefloe.toml")
    with Catalog.open(settings.catalog_path) as catalog:
        aset = replace(catalog.get_archive_set("photos-a-1"), encrypted=True)
        entries = [ManifestEntry("a.jpg", "file", 10, 1_262_347_200 * 10**9),  # 2010-01-01 12:00 UTC
                   ManifestEntry("b.jpg", "file", 10, 1_593_604_800 * 10**9)]  # 2020-07-01 12:00 UTC
        catalog.put_archive_set(aset, entries)
        for image in catalog.images("photos-a-1"):
            Path(image.path).unlink()
        two = build_set_images(catalog, "photos-a-1", "dvd+r", workspace / "two", capacity=2 * 1024 * 1024)
    assert len(two) >= 2
    first = label_path(two[0].path).read_text("utf-8")
    assert f"disc 1 of {len(two)}" in first and "2010-01-01 to 2020-07-01" in first
    assert "password" in first and two[1].name in first and two[0].name not in first.split("kept together")[1]
