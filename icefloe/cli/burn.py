"""`icefloe burn IMAGE --device DEV`: burn an image, then read its sectors back and compare."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from icefloe.cli.app import app, catalog_if_exists, info, print_json, progress_bar, settings
from icefloe.cli.helptext import BY_HAND
from icefloe.cli.iso import recorded
from icefloe.errors import UsageError
from icefloe.units import size

# Spelled out so --help lists them without importing the disc code (a test holds them equal
# to icefloe.disc's TOOLS).
BurnTool = Literal["xorriso", "growisofs"]


@app.command(rich_help_panel=BY_HAND)
def burn(
    image: Path = typer.Argument(..., help="The .iso file to burn."),
    device: str | None = typer.Option(
        None, "--device", "-D", help="/dev/sr0, or stdio:/path/file to write into a file "
        "(default: archive.burner).", show_default=False,
    ),
    tool: BurnTool | None = typer.Option(
        None, "--tool", help="The burning program (default: archive.burn_tool).", show_default=False,
    ),
    verify_only: bool = typer.Option(
        False, "--verify-only", help="Do not burn; read back a disc burned before and compare.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Burn an image, then read the image's sectors back from the disc and compare SHA-256."""
    from icefloe.disc.records import burn_recorded_image

    cfg = settings().archive
    device = device or (cfg.burner if cfg.burner != "none" else None)
    if not device:
        raise UsageError("no burner given: pass --device /dev/sr0 (or stdio:/path/file), or set archive.burner")
    catalog = catalog_if_exists()
    try:
        with progress_bar(f"burn {image.name}") as bar:
            result = burn_recorded_image(
                recorded(catalog, image), image, device, tool=tool or cfg.burn_tool,
                verify_only=verify_only, progress=bar,
            )
    finally:
        if catalog is not None:
            catalog.close()
    if as_json:
        print_json({"image": result.image, "device": result.device, "size": result.size,
                    "sha256": result.readback_sha256, "ok": result.ok})
    else:
        info(f"{image.name}: {size(result.size)} read back from {device} and matched")
