"""`icefloe uploads list` and `icefloe uploads abort`: the multipart uploads left open (and billed)."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import timedelta
from typing import Optional

import typer

from icefloe.cli.app import app, info, open_catalog, open_store, print_json
from icefloe.cli.helptext import BY_HAND, INSPECT
from icefloe.cli.render import Column, echo_rows, when
from icefloe.errors import UsageError

uploads_app = typer.Typer(help="Open multipart uploads: list them, abort them.", no_args_is_help=True)
app.add_typer(uploads_app, name="uploads", rich_help_panel=BY_HAND)

UPLOAD_COLUMNS = (Column("upload"), Column("started"), Column("parts", right=True), Column("file"))


@uploads_app.command("list", rich_help_panel=INSPECT)
def uploads_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the multipart uploads the vault or bucket holds open (and bills for)."""
    with open_catalog() as catalog:
        uploads = open_store(catalog).list_uploads()
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
    upload_id: Optional[str] = typer.Argument(
        None, help="The upload to abort (one that starts with - goes after --: `abort -- -Kx…`)."
    ),
    older_than: Optional[str] = typer.Option(
        None, "--older-than", help="Abort every open upload started longer ago than this (1d, 12h)."
    ),
) -> None:
    """Abort an open upload (its stored parts are freed), or every one older than an age."""
    if (upload_id is None) == (older_than is None):
        raise UsageError("give either an upload ID or --older-than AGE (see `icefloe uploads list`)")
    with open_catalog() as catalog:
        store = open_store(catalog)
        if upload_id is not None:
            aborted = [store.abort_upload(upload_id)]
        else:
            aborted = store.abort_uploads_older_than(parse_age(older_than))
    for u in aborted:
        typer.echo(u.upload_id)
    info(f"aborted {len(aborted)} upload(s)")
