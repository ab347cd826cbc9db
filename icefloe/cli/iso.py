"""`icefloe iso` builds disc images and reads every file back; `icefloe verify-image` reads them back
again, any time later. One module: both check an image against the records `iso` wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from icefloe.cli.app import app, catalog_if_exists, info, open_catalog, print_json, progress_bar, settings
from icefloe.cli.helptext import BY_HAND
from icefloe.errors import InputNotFound, UsageError
from icefloe.units import size

# Spelled out so --help lists them without importing the disc code (a test holds it equal
# to icefloe.disc's DISC_SECTORS).
DiscType = Literal["dvd+r", "dvd-r", "dvd+r-dl", "dvd-r-dl", "bd-r", "bd-r-dl"]


def _disc_type(disc: str | None) -> str:
    from icefloe.disc.capacity import check_disc_type

    disc = disc or settings().archive.disc
    if disc == "none":
        raise UsageError("archive.disc is \"none\": pass --disc dvd+r (or another disc type)")
    return check_disc_type(disc)


def _describe(image) -> dict:
    return {
        "image": image.path, "disc": f"{image.disc_index}/{image.disc_count}",
        "disc_type": image.disc_type, "size": image.size, "sectors": image.sectors,
        "sha256": image.sha256, "files": len(image.files),
    }


@app.command(rich_help_panel=BY_HAND)
def iso(
    source: str = typer.Argument(..., help="An archive set name from the catalog, or a folder."),
    disc: DiscType | None = typer.Option(
        None, "--disc", "-d", help="The disc type (default: archive.disc).", show_default=False,
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder, or the .iso file for a folder source "
        "(default: <work_dir>/discs/<set> for a set, ./<folder>.iso for a folder).",
        show_default=False,
    ),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Show the discs, write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Build disc images (ISO 9660 + Joliet + Rock Ridge + UDF) and read every file back.

    An archive set gets one image per disc: its volumes, the manifest, RESTORE.txt and
    SHA256SUMS.txt; the images are recorded in the catalog.

    A folder becomes one image holding the tree as it is.

    Prints the image paths.
    """
    from icefloe.disc.plan import plan_tree
    from icefloe.disc.records import plan_set

    disc_type = _disc_type(disc)
    folder = Path(source)
    catalog = None
    if folder.is_dir():
        plans = [plan_tree(folder, disc_type)]
        if out is None:
            target_dir, names = Path.cwd(), [f"{plans[0].set_name}.iso"]
        elif out.suffix.lower() == ".iso":
            target_dir, names = out.parent, [out.name]
        else:
            target_dir, names = out, [f"{plans[0].set_name}.iso"]
    else:
        if "/" in source or source.endswith(".iso") or not settings().catalog_path.exists():
            raise InputNotFound(f"{source} is neither a folder nor an archive set in the catalog")
        catalog = open_catalog()
        plans = plan_set(catalog, source, disc_type, redundancy=settings().archive.disc_redundancy)
        target_dir = out or settings().work_dir / "discs" / source
        names = [p.image_name for p in plans]
    try:
        if dry_run:
            _show_plans(plans, names, as_json)
            return
        _build(plans, target_dir, names, catalog, as_json)
    finally:
        if catalog is not None:
            catalog.close()


def _show_plans(plans, names, as_json: bool) -> None:
    rows = [
        {
            "image": name, "disc": f"{p.index}/{p.count}", "disc_type": p.disc_type,
            "sectors": p.sectors, "capacity_sectors": p.capacity_sectors,
            "free_bytes": p.free_sectors * 2048, "volumes": list(p.volumes),
            "entries": len(p.entries),
        }
        for p, name in zip(plans, names)
    ]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        used = 100 * row["sectors"] / row["capacity_sectors"]
        vols = ", ".join(row["volumes"]) or f"{row['entries']} entries"
        typer.echo(f"{row['image']}  {row['disc_type']}  {used:.1f}% full  {vols}")


def _build(plans, target_dir: Path, names, catalog, as_json: bool) -> None:
    from icefloe.disc.image import build_image, check_space, remove_image_leftovers
    from icefloe.disc.records import record_image, verify_recorded_image

    remove_image_leftovers(target_dir)
    check_space(target_dir, sum(p.size for p in plans))
    built = []
    for plan, name in zip(plans, names):
        with progress_bar(f"write {name}") as bar:
            image = build_image(plan, target_dir / name, progress=bar)
        if catalog is not None:
            record_image(catalog, image)
        with progress_bar(f"verify {name}") as bar:
            verify_recorded_image(catalog, image.path, progress=bar)
        info(f"{name}: {size(image.size)}, every file read back through UDF and matched")
        built.append(image)
    if catalog is not None and built:
        from icefloe.disc.records import label_set

        for page in label_set(catalog, built[0].set_name, built):
            info(f"label page: {page}")
    if as_json:
        print_json([_describe(b) for b in built])
    else:
        for image in built:
            typer.echo(image.path)


@app.command("verify-image", rich_help_panel=BY_HAND)
def verify_image_cmd(
    images: list[Path] = typer.Argument(..., help="Image files built by icefloe (with their .json sidecar)."),
) -> None:
    """Read every file of an image back through UDF and compare with its recorded SHA-256."""
    from icefloe.disc.records import verify_recorded_image

    catalog = catalog_if_exists()
    try:
        for image in images:
            with progress_bar(f"verify {image.name}") as bar:
                verify_recorded_image(recorded(catalog, image), image, progress=bar)
            info(f"{image.name}: every file matched")
    finally:
        if catalog is not None:
            catalog.close()


def recorded(catalog, image: Path):
    """The catalog, when it records this image (so verifications, and burns, are written for it)."""
    if catalog is None:
        return None
    return catalog if any(r.name == image.name for r in catalog.images()) else None
