"""The disc tasks composed in a flow on the shared Prefect harness."""

from __future__ import annotations

from pathlib import Path

from disc_helpers import record_set, sha256_file

from icefloe.catalog import BURNED_READBACK, IMAGE_VERIFIED, Catalog
from icefloe.config import load_settings


def test_build_verify_and_burn_tasks(prefect_harness, workspace: Path, tmp_path: Path) -> None:
    from prefect import flow

    from tasks.disc import build_images_task, burn_image_task, verify_image_task

    config = str(workspace / "icefloe.toml")
    settings = load_settings(Path(config), {})
    with Catalog.open(settings.catalog_path) as catalog:
        record_set(catalog, tmp_path, name="photos-a-7")
    target = tmp_path / "burned.img"

    @flow
    def discs(set_name: str, config: str, device: str) -> list[tuple[str, str, str]]:
        results = []
        for image in build_images_task(set_name, config=config):
            verified = verify_image_task(image, config=config)
            burned = burn_image_task(image, config=config, device=device)
            results.append((image, verified, burned))
        return results

    [(image, verified, burned)] = discs("photos-a-7", config, f"stdio:{target}")
    assert Path(image) == settings.work_dir / "discs" / "photos-a-7" / "photos-a-7-disc-01-of-01.iso"
    assert verified == burned == sha256_file(Path(image))
    name = Path(image).name
    with Catalog.open(settings.catalog_path) as catalog:
        assert [r.sha256 for r in catalog.images("photos-a-7")] == [verified]
        assert catalog.latest_verification(f"image:{name}", IMAGE_VERIFIED).ok
        assert catalog.latest_verification(f"image:{name}", BURNED_READBACK).ok
