"""`icefloe inventory request | show | reconcile`: inventories of the vault or bucket.

`request` and `show` (with `icefloe jobs ID --output`) replace the inventory script of the
original routine; `reconcile` is the hourly inventory poll, by hand, without Prefect.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from icefloe.cli.app import app, info, open_catalog, open_store, print_json, settings
from icefloe.cli.helptext import BY_HAND, INSPECT, ROUTINE
from icefloe.cli.render import Column, echo_rows, when
from icefloe.errors import UsageError
from icefloe.units import size

inventory_app = typer.Typer(help="Inventories of the vault or bucket.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory", rich_help_panel=BY_HAND)

INVENTORY_COLUMNS = (Column("archive"), Column("size", right=True), Column("created"), Column("id"))


@inventory_app.command("request", rich_help_panel=BY_HAND)
def inventory_request(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Start an inventory job and print its id (a vault takes about 4 hours; S3 is at once)."""
    with open_catalog() as catalog:
        job = open_store(catalog).request_inventory()
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


@inventory_app.command("reconcile", rich_help_panel=ROUTINE)
def inventory_reconcile(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Confirm stored copies against an inventory now, as the hourly poll does.

    Reads every unread inventory job of the configured vault or bucket, confirms the catalog's
    copies against it, and requests a new one while copies there are unconfirmed (an S3
    listing is read at once; a vault inventory takes about 4 hours). A size or checksum that differs from the catalog's fails with exit code 6.
    """
    from icefloe.confirmation import poll

    with open_catalog() as catalog:
        store = open_store(catalog)
        result = poll(store, catalog, settings().work_dir)
    if as_json:
        print_json({"readings": [r.summary() for r in result.readings], "requested": result.requested,
                    "running": result.running, "unconfirmed": result.unconfirmed,
                    "elsewhere": result.elsewhere})
    else:
        for reading in result.readings:
            s = reading.summary()
            if reading.ready:
                info(f"{s['job']}: {s['seen']} confirmed, {s['pending']} pending, {s['mismatched']} "
                     f"mismatched, {s['missing']} missing, {s['unknown']} not in the catalog")
            else:
                info(f"{s['job']}: still running; run `icefloe inventory reconcile` again later")
        info(f"{store.backend} {store.container}: {result.unconfirmed} copies still unconfirmed"
             + (f"; requested {result.requested}" if result.requested else ""))
        if result.elsewhere:
            info(f"{result.elsewhere} copies are in a vault or bucket no longer configured; they are "
                 "not polled for (point coldstore at it to confirm them)")
    for reading in result.readings:
        reading.raise_on_problems()
