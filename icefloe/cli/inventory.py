"""`icefloe inventory reconcile`: the hourly inventory poll, by hand, without Prefect."""

from __future__ import annotations

import typer

from icefloe.cli.app import info, open_catalog, print_json, settings
from icefloe.cli.coldstore import _store, inventory_app
from icefloe.cli.helptext import ROUTINE


@inventory_app.command("reconcile", rich_help_panel=ROUTINE)
def inventory_reconcile(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Confirm stored copies against an inventory now, as the hourly poll does.

    Reads every unread inventory job of the configured vault or bucket, confirms the catalog's
    copies against it, and requests a new one while copies there are unconfirmed (an S3
    listing is read at once; a vault inventory takes about 4 hours). A size or checksum that differs from the catalog's fails with exit code 6.
    """
    from icefloe.confirmation import poll

    with open_catalog() as catalog:
        store = _store(catalog)
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
