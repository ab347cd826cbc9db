"""Cold-storage commands: upload, uploads list/abort, inventory request/show, jobs.

They replace the three scripts of the original routine (upload, request an inventory, read a
job's output by id), with the keys left to boto3's credential chain.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Optional

import typer

from icefloe.cli.app import app, info, open_catalog, print_json, progress_bar, settings
from icefloe.cli.helptext import BY_HAND, INSPECT
from icefloe.cli.render import Column, echo_rows, when
from icefloe.errors import UsageError
from icefloe.units import size

MIB = 1024 * 1024


def _store(catalog, concurrency: int | None = None):
    from icefloe.coldstore import open_coldstore

    return open_coldstore(settings().coldstore, catalog, concurrency=concurrency)


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
        store = _store(catalog, concurrency)
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


uploads_app = typer.Typer(help="Open multipart uploads: list them, abort them.", no_args_is_help=True)
app.add_typer(uploads_app, name="uploads", rich_help_panel=BY_HAND)

UPLOAD_COLUMNS = (Column("upload"), Column("started"), Column("parts", right=True), Column("file"))


@uploads_app.command("list", rich_help_panel=INSPECT)
def uploads_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the multipart uploads the vault or bucket holds open (and bills for)."""
    with open_catalog() as catalog:
        uploads = _store(catalog).list_uploads()
    if as_json:
        print_json([asdict(u) for u in uploads])
        return
    if not uploads:
        info("no open uploads")
        return
    echo_rows([[u.upload_id, when(u.started_at), "not ours" if u.parts_done is None else f"{u.parts_done} done",
                u.local_path or u.key or u.description] for u in uploads], UPLOAD_COLUMNS)


def parse_age(text: str) -> timedelta:
    """'90m', '12h', '1d', '2w' → a timedelta."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise UsageError(f"--older-than {text!r} is not an age such as 90m, 12h, 1d or 2w")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return timedelta(**{unit: float(match[1])})


@uploads_app.command("abort", rich_help_panel=BY_HAND)
def uploads_abort(
    upload_id: Optional[str] = typer.Argument(None, help="The upload to abort."),
    older_than: Optional[str] = typer.Option(
        None, "--older-than", help="Abort every open upload started longer ago than this (1d, 12h)."
    ),
) -> None:
    """Abort an open upload (its stored parts are freed), or every one older than an age."""
    if (upload_id is None) == (older_than is None):
        raise UsageError("give either an upload ID or --older-than AGE (see `icefloe uploads list`)")
    with open_catalog() as catalog:
        store = _store(catalog)
        if upload_id is not None:
            aborted = [store.abort_upload(upload_id)]
        else:
            aborted = store.abort_uploads_older_than(parse_age(older_than))
    for u in aborted:
        typer.echo(u.upload_id)
    info(f"aborted {len(aborted)} upload(s)")


inventory_app = typer.Typer(help="Inventories of the vault or bucket.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory", rich_help_panel=BY_HAND)

INVENTORY_COLUMNS = (Column("archive"), Column("size", right=True), Column("created"), Column("id"))
JOB_COLUMNS = (Column("job"), Column("kind"), Column("status"), Column("created"), Column("target", optional=True))


@inventory_app.command("request", rich_help_panel=BY_HAND)
def inventory_request(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Start an inventory job and print its id (a vault takes about 4 hours; S3 is at once)."""
    with open_catalog() as catalog:
        job = _store(catalog).request_inventory()
    if as_json:
        print_json(asdict(job))
        return
    typer.echo(job.job_id)
    info(f"then: icefloe jobs {job.job_id} --output inventory.json")


@inventory_app.command("show", rich_help_panel=INSPECT)
def inventory_show(
    file: Path = typer.Argument(..., help="An inventory fetched with `icefloe jobs ID --output`."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print an inventory readably: one line per archive, with icefloe's descriptions decoded."""
    from icefloe.coldstore import parse_inventory

    if not file.is_file():
        raise UsageError(f"{file}: no such file")
    inventory = parse_inventory(file)
    if as_json:
        print_json([asdict(i) for i in inventory.items])
        return
    info(f"{inventory.backend} {inventory.container}, taken {when(inventory.date)}: {len(inventory.items)} archives")
    echo_rows([[f"{item.parsed.partition or '-'}/{item.parsed.name}" if item.parsed else item.description,
                size(item.size), when(item.created), item.remote_id] for item in inventory.items],
              INVENTORY_COLUMNS)


@app.command(rich_help_panel=INSPECT)
def jobs(
    job_id: Optional[str] = typer.Argument(None, help="A job to describe (or fetch with --output)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Write the finished job's output to this file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List jobs (in-progress ones too), describe one, or fetch a finished job's output."""
    if output is not None and job_id is None:
        raise UsageError("--output needs a JOB_ID (see `icefloe jobs`)")
    with open_catalog() as catalog:
        store = _store(catalog)
        if job_id is None:
            found = store.list_jobs()
            if as_json:
                print_json([asdict(j) for j in found])
            elif not found:
                info("no jobs")
            else:
                echo_rows([[j.job_id, j.kind, j.status, when(j.created), j.target] for j in found], JOB_COLUMNS)
            return
        if output is None:
            job = store.describe_job(job_id)
            if as_json:
                print_json(asdict(job))
            else:
                echo_rows([[job.job_id, job.kind, job.status, when(job.created), job.target]], JOB_COLUMNS)
            return
        with progress_bar(output.name) as bar:
            fetched = store.fetch_job_output(job_id, output, progress=bar)
    if as_json:
        print_json(asdict(fetched))
        return
    typer.echo(fetched.path)
    info(size(fetched.size) + (f", checked against {fetched.verified}" if fetched.verified else ""))
