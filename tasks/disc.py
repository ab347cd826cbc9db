"""Disc tasks: build a set's images, verify an image, burn it and read it back.

Each is one library call (icefloe.disc.records) plus retries for transient trouble, a
progress artifact and a log line. They take and return strings, so results pickle and cache.
"""

from __future__ import annotations

from pathlib import Path

from prefect.artifacts import create_table_artifact
from prefect.logging import get_run_logger

from icefloe.catalog import Catalog
from icefloe.disc.records import (
    build_set_images,
    burn_recorded_image,
    verify_recorded_image,
)
from tasks.common import ArtifactProgress, artifact_key, named_by_file, settings_for, stage


@stage(name="build-disc-images", task_run_name="disc images {set_name}")
def build_images_task(
    set_name: str,
    config: str | None = None,
    disc_type: str | None = None,
    out_dir: str | None = None,
) -> list[str]:
    """Write one image per disc for an archive set and record them; returns the image paths."""
    settings = settings_for(config)
    disc = disc_type or settings.archive.disc
    out = Path(out_dir) if out_dir else settings.work_dir / "discs" / set_name
    with Catalog.open(settings.catalog_path) as catalog:
        infos = build_set_images(
            catalog, set_name, disc, out, progress_for=lambda label: ArtifactProgress(f"write {label}"),
            redundancy=settings.archive.disc_redundancy,
        )
    create_table_artifact(
        key=artifact_key("disc-images", set_name),
        table=[
            {"image": i.name, "disc": f"{i.disc_index}/{i.disc_count}", "type": i.disc_type,
             "bytes": i.size, "sha256": i.sha256}
            for i in infos
        ],
        description=f"Disc images of {set_name}",
    )
    get_run_logger().info("wrote %d %s image(s) for %s", len(infos), disc, set_name)  # which ones: the table artifact
    return [i.path for i in infos]


@stage(name="verify-disc-image", task_run_name=named_by_file("verify", "image_path"))
def verify_image_task(image_path: str, config: str | None = None) -> str:
    """Read every file of the image back through UDF; records IMAGE_VERIFIED; returns its SHA-256."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        info = verify_recorded_image(
            catalog, image_path, progress=ArtifactProgress(f"verify {Path(image_path).name}")
        )
    get_run_logger().info("%d files read back and matched", len(info.files))  # the run names the image
    return info.sha256


@stage(
    name="burn-disc-image",
    task_run_name=named_by_file("burn", "image_path"),
    # Retried only on a busy drive (DeviceBusy): nothing was written then.
)
def burn_image_task(
    image_path: str,
    config: str | None = None,
    device: str | None = None,
    tool: str | None = None,
) -> str:
    """Burn the image and read its sectors back; records the burn; returns the read-back SHA-256."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        result = burn_recorded_image(
            catalog, image_path, device or settings.archive.burner,
            tool=tool or settings.archive.burn_tool,
            progress=ArtifactProgress(f"burn {Path(image_path).name}"),
        )
    get_run_logger().info("burned to %s and read back: SHA-256 %s…", result.device, result.readback_sha256[:16])
    return result.readback_sha256
