"""`icefloe upload FILE`: one archive to cold storage, resumable; prints its id.

It replaces the upload script of the original routine (as `inventory` and `jobs` replace the
other two), with the keys left to boto3's credential chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from icefloe.cli.app import app, info, open_catalog, open_store, print_json, progress_bar
from icefloe.cli.helptext import BY_HAND
from icefloe.errors import UsageError

MIB = 1024 * 1024


@app.command(rich_help_panel=BY_HAND)
def upload(
    file: Path = typer.Argument(..., help="The file to store (usually an archive icefloe made)."),
    description: Optional[str] = typer.Option(
        None, "--description", "-d",
        help="Archive description (printable ASCII, at most 1,024 characters). "
        "Default: icefloe's JSON description, which `catalog rebuild` reads back.",
    ),
    part_size: Optional[int] = typer.Option(
        None, "--part-size", help="Part size in MiB, a power of two (default: coldstore.part_size_mib)."
    ),
    concurrency: Optional[int] = typer.Option(
        None, "--concurrency", "-j", help="Parts in flight (default: coldstore.concurrency)."
    ),
    name: Optional[str] = typer.Option(None, "--name", help="Archive name (default: the file's name)."),
    partition: Optional[str] = typer.Option(None, "--partition", help="Partition label to record."),
    force: bool = typer.Option(
        False, "--force",
        help="Send the file even if the catalog records a copy of it (a vault then holds two).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print id, size and checksums as JSON."),
) -> None:
    """Upload one file to cold storage and print its archive id (vault) or key (S3).

    An interrupted upload of the same file resumes: only the parts the service lacks are sent.
    A copy the catalog records is checked first (S3: HEAD; vault: its last inventory); one
    found gone is sent again.
    """
    if concurrency is not None and concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, not {concurrency}")
    with open_catalog() as catalog:
        store = open_store(catalog, concurrency)
        with progress_bar(file.name) as bar:
            stored = store.upload(
                file,
                name=name,
                description=description,
                partition=partition,
                part_size=part_size * MIB if part_size is not None else None,
                concurrency=concurrency,
                progress=bar,
                force=force,
            )
    if as_json:
        print_json(
            {
                "archive_id": stored.remote_id,
                "backend": stored.backend,
                "container": stored.container,
                "size": stored.size,
                "sha256": stored.sha256,
                "tree_hash": stored.tree_hash,
                "checksum": stored.server_checksum,
                "part_size": stored.part_size,
                "parts_sent": stored.parts_sent,
                "parts_reused": stored.parts_reused,
                "already_stored": stored.already_stored,
                "remote_check": stored.remote_check,
            }
        )
        return
    typer.echo(stored.remote_id)
    if stored.already_stored:
        info(f"{file} was already stored in {stored.backend} {stored.container} "
             f"({stored.remote_check}); nothing sent")
    elif stored.parts_reused:
        info(f"resumed: {stored.parts_reused} parts were already stored, {stored.parts_sent} sent")
