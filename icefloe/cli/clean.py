"""`icefloe clean [--dry-run]`: free work_dir of the volumes and disc images of cleared sets."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from icefloe.cli.app import app, info, open_catalog, print_json, settings
from icefloe.cli.helptext import BY_HAND
from icefloe.cli.render import echo_wrapped, plural
from icefloe.units import size

CLEAN_VERSION = 1  # the shape of `icefloe clean --json`; bump on incompatible change


def _shown(path: str, work_dir: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(work_dir.resolve()))
    except ValueError:
        return path


@app.command(rich_help_panel=BY_HAND)
def clean(
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="List what would be removed; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print what was removed and kept as JSON."),
) -> None:
    """Remove the archive volumes and disc images of cleared sets from work_dir.

    A set is cleaned once it is cleared: every copy was verified and its partition emptied.
    Only the files the catalog names as its volumes and images go; a set still in progress,
    a file another process is reading, manifests, label pages and the catalog stay. Run it
    again after an interruption: it finishes what is left.
    """
    from icefloe.clean import plan_and_clean

    work_dir = settings().work_dir
    with open_catalog() as catalog:
        result = plan_and_clean(catalog, work_dir, dry_run=dry_run)
    if as_json:
        print_json({"version": CLEAN_VERSION, "dry_run": dry_run, "work_dir": str(work_dir),
                    "removed": [asdict(f) for f in result.removed],  # in a dry run: would be
                    "kept": [asdict(k) for k in result.kept], "bytes": result.nbytes,
                    "sets_cleaned": result.sets_cleaned, "sets_not_cleared": result.sets_not_cleared})
        return
    verb = "would remove" if dry_run else "removed"
    current = None
    for item in result.removed:
        if item.set_name != current:
            typer.echo(item.set_name)
            current = item.set_name
        typer.echo(f"  {verb}  {item.kind} {Path(item.path).name}  ({size(item.size)})")
    for kept in result.kept:
        echo_wrapped(f"kept  {_shown(kept.path, work_dir)}: {kept.reason}")
    what = f"{plural(len(result.removed), 'file')} ({size(result.nbytes)}) of {plural(len(result.sets_cleaned), 'cleared set')}"
    if not result.removed:
        what = "nothing: no cleared set has files left in work_dir"
    tail = f"; {plural(result.sets_not_cleared, 'set')} not cleared, untouched" if result.sets_not_cleared else ""
    info(f"{verb} {what}{tail}" + ("; nothing was changed" if dry_run and result.removed else ""))
