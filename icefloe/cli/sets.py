"""`icefloe sets`: archive sets with their lifecycle state; `sets show SET` and `sets verify SET`:
what one set holds, and checking it again; `sets abandon SET --yes`: giving one up."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Optional

import typer

from icefloe.cli.app import app, info, open_catalog, print_json, progress_bar, settings
from icefloe.cli.helptext import BY_HAND, INSPECT
from icefloe.cli.password import archive_password
from icefloe.cli.render import Column, echo_rows, echo_wrapped, plural, when
from icefloe.errors import ChecksFailed, IcefloeError, UsageError
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


SHOW_VERSION = 1  # the shape of `icefloe sets show --json`; bump on incompatible change
VERIFY_VERSION = 1  # the shape of `icefloe sets verify --json`

VOLUME_COLUMNS = (Column("volume"), Column("size", right=True), Column("local"), Column("testzip"))
DISC_COLUMNS = (Column("disc"), Column("label"), Column("volume id"), Column("local"), Column("verified"),
                Column("last check"))
COPY_COLUMNS = (Column("archive"), Column("where"), Column("checksum"), Column("confirmed"))
FILE_COLUMNS = (Column("path"), Column("size", right=True), Column("modified"))


def _check(c: dict) -> str:
    if c["ok"] is None:
        return "never"
    return f"{'ok' if c['ok'] else 'FAILED'} {when(c['at'])[:10]}"


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")


@sets_app.command("show")
def show(
    name: str = typer.Argument(..., help="The set (see `icefloe sets`)."),
    files: bool = typer.Option(False, "--files", help="Also list every file the set holds."),
    as_json: bool = typer.Option(False, "--json", help="Print it as JSON."),
) -> None:
    """What one archive set holds and where its copies are.

    Its files (count, size, date range), its volumes and whether they are still in work_dir,
    its discs (the name on the sleeve label, the ISO volume id, the last disc check), its
    cold-storage copies with their checks (server checksum; inventory or HEAD confirmation),
    and its clear.
    """
    from icefloe.setview import describe, file_entries

    with open_catalog() as catalog:
        view = describe(catalog, name)
        entries = file_entries(catalog, name) if files else []
    data = asdict(view)
    if as_json:
        print_json({"version": SHOW_VERSION, **data,
                    **({"file_list": [asdict(e) for e in entries]} if files else {})})
        return
    echo_wrapped(f"{view.name}: {view.state}, partition {view.partition}, made {when(view.created_at)}"
                 + (", encrypted" if view.encrypted else ", NOT encrypted"))
    span = f", modified {view.oldest} to {view.newest}" if view.oldest else ""
    echo_wrapped(f"files: {view.files:,} ({size(view.total_bytes)}){span}")
    if view.volumes:
        echo_rows([(v["name"], size(v["size"]), "yes" if v["local"] else "no", _check(v["testzip"]))
                   for v in data["volumes"]], VOLUME_COLUMNS, title="volumes")
    if view.discs:
        echo_rows([(d["image"], d["label"].removeprefix(f"{view.name}, "), d["volume_id"],
                    "yes" if d["local"] else "no", _check(d["verified"]),
                    _check({"ok": d["last_check_ok"], "at": d["last_check_at"]}))
                   for d in data["discs"]], DISC_COLUMNS, title="discs")
    else:
        typer.echo("discs: none")
    if view.copies:
        echo_rows([(c["archive"], f"{c['backend']} {c['container']}", _check(c["server_checksum"]),
                    _check(c["confirmed"])) for c in data["copies"]], COPY_COLUMNS, title="cold storage")
    else:
        typer.echo("cold storage: no copies yet")
    if view.cleared_at:
        echo_wrapped(f"cleared {when(view.cleared_at)}: the partition was emptied behind it"
                     + ("" if any(v.local for v in view.volumes) or any(d.local for d in view.discs)
                        else "; its files are cleaned from work_dir"))
    elif view.abandoned_at:
        echo_wrapped(f"abandoned {when(view.abandoned_at)}: no clear waits on it")
    else:
        echo_wrapped(f"not cleared yet ({view.state}): `icefloe clear {view.partition} --dry-run` "
                     "lists the gates still open")
    if files:
        echo_rows([(e.path, size(e.size), _day(e.mtime_ns)) for e in entries], FILE_COLUMNS, title="files")


def _stores(catalog):
    """``store_for(backend, container)``: the cold store holding a copy, the configured one
    or the same account's other bucket or vault the copy was stored in."""
    from icefloe.coldstore import open_coldstore

    cfg = settings().coldstore

    def store_for(backend: str, container: str):
        update = {"backend": backend, ("bucket" if backend == "s3" else "vault"): container}
        return open_coldstore(cfg.model_copy(update=update), catalog)

    return store_for


@sets_app.command("verify")
def verify(
    name: str = typer.Argument(..., help="The set (see `icefloe sets`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check a set again and record what was found: testzip of its volumes while they are in
    work_dir, a HEAD of each S3 copy, the newest inventory for vault copies, and a full read
    of its disc images while they are in work_dir. One line per check; the exit code is
    non-zero when any failed."""
    from icefloe.setcheck import FAILED, verify_set

    cfg = settings()
    with open_catalog() as catalog, progress_bar(f"testzip {name}") as bar:
        lines = verify_set(catalog, name, password=_password(archive_password, cfg),
                           store_for=_stores(catalog), workers=cfg.archive.workers, progress=bar)
    failed = [c for c in lines if c.status == FAILED]
    if as_json:
        print_json({"version": VERIFY_VERSION, "set": name, "ok": not failed,
                    "checks": [asdict(c) for c in lines]})
    else:
        for c in lines:
            echo_wrapped(f"{c.status:<7} {c.check:<9} {c.subject}: {c.detail}")
    if failed:
        raise ChecksFailed(f"{name}: {plural(len(failed), 'check')} of {len(lines)} failed")
    if not as_json:
        info(f"{name}: {plural(len(lines), 'check')}, none failed"
             + (f" ({sum(c.status != 'ok' for c in lines)} skipped)" if any(c.status != "ok" for c in lines) else ""))


def _password(read, cfg) -> str | None:
    """The archive password when one is available (an unencrypted set needs none)."""
    try:
        return read(cfg.archive)
    except IcefloeError:
        return None
