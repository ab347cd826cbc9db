"""`icefloe consolidate LABEL`: a partition into one tested 7z archive (in disc-sized volumes)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from icefloe.cli.app import app, info, open_catalog, print_json, progress_bar, settings
from icefloe.cli.helptext import BY_HAND
from icefloe.cli.password import archiving_password
from icefloe.units import size


def summary(result) -> dict:
    return {
        "set": result.set_name,
        "partition": result.partition_label,
        "directory": str(result.directory),
        "volumes": [
            {"name": v.name, "path": str(v.path), "size": v.size, "sha256": v.sha256} for v in result.volumes
        ],
        "manifest": str(result.manifest_path),
        "manifest_sha256": result.manifest_sha256,
        "files": result.file_count,
        "bytes": result.total_bytes,
        "archive_bytes": result.archive_bytes,
        "encrypted": result.encrypted,
        "encryption": "AES-256, names too" if result.encrypted else "off (archive.encrypt = false)",
        "seconds": round(result.seconds, 2),
    }


@app.command(rich_help_panel=BY_HAND)
def consolidate(
    label: str = typer.Argument(..., help="The partition to consolidate (its label in icefloe.toml)."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Where the set's folder goes (default: <work_dir>/archives)."
    ),
    no_volumes: bool = typer.Option(
        False, "--no-volumes", help="One archive file, not disc-sized volumes (refused if a disc cannot hold it)."
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", "-w", min=1, help="Compression processes (default: archive.workers)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    wait: bool = typer.Option(False, "--wait", help="When another run holds the partition, wait for it."),
) -> None:
    """Consolidate a partition into a tested 7z archive with its manifest, and record it.

    The partition's live set (see `icefloe sets`) is carried forward, never rebuilt; one whose
    consolidation never finished is removed and made again. One run per partition at a time.

    Photos and videos are stored as they are, everything else LZMA2-compressed; with a
    password (archive.password_env) data and names are AES-256 encrypted. With a disc type
    set (archive.disc) the archive is split into volumes of one disc each.
    """
    from icefloe.archive.records import archive_partition_set
    from icefloe.lease import Lease, partition_lease_name

    cfg = settings()
    cfg.partition_folder(label)  # an unknown label or a missing folder: one line, before the catalog opens
    password = archiving_password(cfg.archive)  # refused here, before anything is written
    with open_catalog() as catalog, Lease(
        catalog, partition_lease_name(label), f"icefloe consolidate {label}"
    ).acquire(wait=wait), progress_bar(f"consolidating {label}") as bar:
        done = archive_partition_set(catalog, cfg, label, password=password, progress=bar, out_dir=out,
                                     workers=workers, split=not no_volumes)
    for name in done.unfinished_removed:
        info(f"{label}: removed {name}, whose consolidation never finished")
    result = done.result
    if as_json:
        print_json({**summary(result), "carried_forward": done.carried_from is not None})
        return
    if done.carried_from is not None:
        info(f"{label}: set {result.set_name} is {done.carried_from}, carried forward (not rebuilt); "
             "`icefloe sets abandon` it to consolidate again")
    count = len(result.volumes)
    info(
        f"{label}: {result.file_count} files, {size(result.total_bytes)} -> "
        f"{size(result.archive_bytes)} in {count} volume{'s' if count != 1 else ''}"
        f", {'encrypted' if result.encrypted else 'NOT encrypted (archive.encrypt = false)'}; "
        f"tested in {result.seconds:.0f} s"
    )
    typer.echo(str(result.directory))
