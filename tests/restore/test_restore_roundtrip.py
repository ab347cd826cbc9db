"""The must-hold round trip, both backends: partition -> archives -> cold store -> everything
lost -> catalog rebuilt from the inventory -> restore -> every file byte-identical, mtimes too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from helpers import snapshot
from restore_helpers import FAST, LABEL, PASSWORD, Stored

from icefloe.catalog import INVENTORY_SEEN, Catalog
from icefloe.coldstore import open_coldstore
from icefloe.restore import (
    plan_restore,
    rebuild_catalog,
    resolve_sets,
    restore_from_coldstore,
    start_retrievals,
)

PRICES = {"glacier:Bulk": 0.0025, "s3:DEEP_ARCHIVE:Bulk": 0.0025}


def test_round_trip_from_cold_storage_alone(standin, stored: Stored, tmp_path: Path) -> None:
    standin.set_options(job_delay_s=1)
    with Catalog.open(stored.catalog_path) as catalog:
        store = open_coldstore(stored.cfg, catalog, endpoint_url=standin.url)
        rebuilt = rebuild_catalog(store, catalog, work_dir=tmp_path / "work", wait=True, options=FAST)
        assert (rebuilt.sets, rebuilt.archives, rebuilt.copies, rebuilt.foreign) == (1, len(stored.volumes), len(stored.volumes), 0)
        assert [a.name for a in catalog.archives(set_name=stored.set_name)] == stored.volumes
        assert all(catalog.latest_verification(f"archive:{v}", INVENTORY_SEEN).ok for v in stored.volumes)

        sets = resolve_sets(catalog, partition=LABEL)
        assert sets == [stored.set_name]
        plan = plan_restore(store, catalog, sets, download_dir=tmp_path / "work" / "restore", tier="Bulk",
                            prices=PRICES, storage_class=stored.cfg.storage_class)
        assert plan.estimate.archives == len(stored.volumes) and plan.estimate.usd is not None
        plan = start_retrievals(store, plan, days=1)
        results = restore_from_coldstore(
            store, catalog, plan, tmp_path / "restored", download_dir=tmp_path / "work" / "restore",
            password=PASSWORD, options=FAST, wait=True, per_set=True,
        )
        [result] = results
        result.report.raise_for_problems()
        assert snapshot(tmp_path / "restored" / stored.set_name) == stored.original
        assert result.report.manifest_source == "archive"
        # The rebuilt catalog learned the manifest: `icefloe find` works again.
        assert any(e.path == "documents/notes.txt" for e in catalog.manifest(stored.set_name))
        assert catalog.get_archive_set(stored.set_name).encrypted is True
        # Verified downloads are not kept.
        assert not any((tmp_path / "work" / "restore" / stored.set_name).iterdir())


def _discs(tmp_path: Path, capacity: int) -> tuple[dict, list[Path], str]:
    """photos-a archived in 1 MiB volumes, put on discs of ``capacity`` bytes, then everything
    but the ISO images deleted."""
    import shutil

    from restore_helpers import MIB, archive, forget_catalog, make_partition

    from icefloe.disc.records import build_set_images

    part = make_partition(tmp_path / "photos-a")
    original = snapshot(part)
    catalog = Catalog.open(tmp_path / "work" / "catalog.sqlite")
    result = archive(part, tmp_path / "work" / "archives", catalog, volume_size=MIB)
    infos = build_set_images(catalog, result.set_name, "dvd+r", tmp_path / "isos", capacity=capacity)
    shutil.rmtree(part)
    shutil.rmtree(result.directory)
    forget_catalog(catalog)
    for sidecar in (tmp_path / "isos").glob("*.json"):
        sidecar.unlink()
    return original, [Path(i.path) for i in infos], result.set_name


def test_round_trip_from_the_iso_images_alone(tmp_path: Path) -> None:
    from restore_helpers import MIB

    from icefloe.restore import restore_from_discs

    original, isos, set_name = _discs(tmp_path, 3 * MIB)
    assert len(isos) >= 2  # the set spans several discs
    [result] = restore_from_discs(isos, tmp_path / "restored", password=PASSWORD)
    result.report.raise_for_problems()
    assert result.set_name == set_name and result.report.manifest_source == "archive"
    assert snapshot(tmp_path / "restored") == original


def test_round_trip_from_a_mounted_disc_and_an_image(tmp_path: Path) -> None:
    """One disc 'mounted' (its files in a folder, as on a drive), the others as ISO files."""
    from restore_helpers import MIB

    from icefloe.restore import restore_from_discs
    from icefloe.restore.sources import iso_root_files

    original, isos, _ = _discs(tmp_path, 3 * MIB)
    mounted = tmp_path / "media" / "disc1"
    mounted.mkdir(parents=True)
    for item in iso_root_files(isos[0]):
        with item.opener() as src:
            (mounted / item.name).write_bytes(src.read())
    assert (mounted / "RESTORE.txt").is_file()
    [result] = restore_from_discs([mounted, *isos[1:]], tmp_path / "restored", password=PASSWORD)
    result.report.raise_for_problems()
    assert snapshot(tmp_path / "restored") == original


def test_discs_of_two_sets_burned_by_other_tools_restore_each_set_in_its_folder(tmp_path: Path) -> None:
    """Discs made with genisoimage (Rock Ridge + Joliet, no UDF) and a plain folder, two sets."""
    import shutil
    import subprocess

    from restore_helpers import MIB, archive, make_partition

    from icefloe.restore import restore_from_discs

    sets = {}
    with Catalog.open(tmp_path / "catalog.sqlite") as catalog:
        for seed, name in ((1, "a"), (2, "b")):
            part = make_partition(tmp_path / f"part-{name}", big=MIB // 2, seed=seed)
            when = datetime(2024, 1, seed, tzinfo=UTC)  # set names carry the time they were made
            sets[name] = (snapshot(part), archive(part, tmp_path / f"archives-{name}", catalog, volume_size=MIB // 2,
                                                  now=when))
    a, b = sets["a"][1], sets["b"][1]
    iso = tmp_path / "a.iso"
    subprocess.run(["genisoimage", "-quiet", "-J", "-R", "-o", str(iso), str(a.directory)], check=True)
    folder = tmp_path / "copied-b"
    shutil.copytree(b.directory, folder)
    results = restore_from_discs([iso, folder], tmp_path / "restored", password=PASSWORD)
    assert sorted(r.set_name for r in results) == sorted([a.set_name, b.set_name])
    for result in results:
        result.report.raise_for_problems()
    assert snapshot(tmp_path / "restored" / a.set_name) == sets["a"][0]
    assert snapshot(tmp_path / "restored" / b.set_name) == sets["b"][0]
