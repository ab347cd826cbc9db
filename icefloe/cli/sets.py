"""`icefloe sets`: archive sets with their lifecycle state; `icefloe sets abandon SET --yes`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Optional

import typer

from icefloe.cli.app import app, info, open_catalog, print_json, settings
from icefloe.cli.helptext import BY_HAND, INSPECT
from icefloe.cli.render import Column, echo_rows, when
from icefloe.errors import UsageError
from icefloe.units import size

SETS_VERSION = 1  # the shape of `icefloe sets --json`; bump on incompatible change

sets_app = typer.Typer(
    help="Archive sets and where each is in its lifecycle: planned, consolidated, tested, "
    "imaged, stored, confirmed, cleared, or abandoned.",
    no_args_is_help=False,
)
app.add_typer(sets_app, name="sets", rich_help_panel=INSPECT)

SETS_COLUMNS = (Column("set"), Column("state"), Column("files", right=True), Column("size", right=True),
                Column("vol", right=True), Column("discs", right=True), Column("copies", right=True),
                Column("since", optional=True))


@sets_app.callback(invoke_without_command=True)
def sets(
    ctx: typer.Context,
    partition: Optional[str] = typer.Option(None, "--partition", "-p", help="Only this partition's sets."),
    as_json: bool = typer.Option(False, "--json", help="Print the sets as JSON."),
) -> None:
    """List the archive sets, oldest first, with their lifecycle state."""
    if ctx.invoked_subcommand is not None:
        return
    from icefloe.lifecycle import set_statuses

    with open_catalog() as catalog:
        rows = set_statuses(catalog, partition)
    if as_json:
        print_json({"version": SETS_VERSION, "sets": [asdict(r) for r in rows]})
        return
    if not rows:
        info("no archive sets yet" + (f" for {partition}" if partition else ""))
        return
    echo_rows([[r.name, r.state, f"{r.files:,}", size(r.total_bytes), r.volumes, r.images, r.copies, when(r.since)]
               for r in rows], SETS_COLUMNS)


@sets_app.command("abandon", rich_help_panel=BY_HAND)
def abandon(
    name: str = typer.Argument(..., help="The set to give up (see `icefloe sets`)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Really abandon it."),
    delete_remote: bool = typer.Option(
        False, "--delete-remote", help="Also delete its archives from cold storage (billed pro rata if young)."
    ),
    wait: bool = typer.Option(False, "--wait", help="When another run holds the partition, wait for it."),
) -> None:
    """Give a set up: no archive run carries it forward and no clear waits on it.

    Its open uploads are aborted; with --delete-remote its stored copies are deleted too.
    The next `icefloe archive` or `consolidate` of its partition makes a new set. Local files
    and disc images are left where they are.
    """
    from icefloe.lease import Lease, partition_lease_name
    from icefloe.lifecycle import abandon as mark, get_plan, release_remote, state_of

    with open_catalog() as catalog:
        state = state_of(catalog, name)
        aset, plan = catalog.get_archive_set(name), get_plan(catalog, name)
        label = aset.partition_label if aset else plan.partition_label  # type: ignore[union-attr]
        if not yes:
            raise UsageError(
                f"abandoning {name} ({state}) lets its partition be archived afresh"
                f"{' and deletes its stored copies' if delete_remote else ''}; pass --yes to do it"
            )
        with Lease(catalog, partition_lease_name(label), f"icefloe sets abandon {name}").acquire(wait=wait):
            mark(catalog, name, reason="icefloe sets abandon" + (" --delete-remote" if delete_remote else ""))
            opened = [u for u in catalog.uploads("open")
                      if u.local_path in {a.path for a in catalog.archives(set_name=name)}]
            aborted, deleted = [], []
            if opened or delete_remote:
                from icefloe.coldstore import open_coldstore

                store = open_coldstore(settings().coldstore, catalog)
                aborted, deleted = release_remote(catalog, store, name, delete_remote=delete_remote)
    info(f"{name}: abandoned (was {state}); {len(aborted)} open upload(s) aborted"
         + (f", {len(deleted)} stored cop{'y' if len(deleted) == 1 else 'ies'} deleted" if delete_remote else ""))
