"""`icefloe init`: a commented starter icefloe.toml."""

from __future__ import annotations

from pathlib import Path

import typer

from icefloe.cli.app import app, info
from icefloe.cli.helptext import SET_UP
from icefloe.config import DEFAULT_CONFIG, STARTER
from icefloe.errors import UsageError
from icefloe.fsutil import atomic_write_bytes


@app.command(rich_help_panel=SET_UP)
def init(
    path: Path = typer.Argument(DEFAULT_CONFIG, help="Where to write the starter file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter icefloe.toml to edit."""
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (use --force to overwrite it)")
    if path.is_dir():
        raise UsageError(f"{path} is a folder")
    atomic_write_bytes(path, STARTER.encode())
    info(f"wrote {path}: add your [[partitions]], then run `icefloe status`")
