"""`icefloe catalog`: the archive record as a table, csv, markdown, json or the household's page;
`icefloe catalog rebuild`: the record back from cold storage after losing it."""

from __future__ import annotations

import csv
import io
import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from icefloe.cli.app import app, info, open_catalog, print_json, settings
from icefloe.cli.helptext import INSPECT, RESTORE
from icefloe.cli.render import Column, echo_rows, joined
from icefloe.errors import UsageError
from icefloe.fsutil import atomic_write_bytes
from icefloe.units import size


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"  # the same as --json
    markdown = "markdown"
    html = "html"


catalog_app = typer.Typer(
    help="The archive record: every archive, its copies and their checks.",
    invoke_without_command=True,
)
app.add_typer(catalog_app, name="catalog", rich_help_panel=INSPECT)


def render(rows: list[dict], fmt: str) -> str:
    """Rows of flat values as csv, markdown or html text."""
    if not rows:
        return ""
    heads = list(rows[0])
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=heads)
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        for row in rows:
            lines.append("| " + " | ".join(str(row[h]).replace("|", "\\|") for h in heads) + " |")
        return "\n".join(lines) + "\n"
    raise UsageError(f"unknown format {fmt!r}")


def flat_report() -> list[dict]:
    with open_catalog() as cat:
        report = cat.report()
    return [
        {
            **{k: v for k, v in row.items() if k not in ("copies", "checks")},
            "copies": " ".join(row["copies"]),
            "checks": " ".join(f"{k}={'ok' if ok else 'FAILED'}" for k, ok in row["checks"].items()),
        }
        for row in report
    ]


CATALOG_COLUMNS = (Column("archive"), Column("size", right=True), Column("partition", optional=True),
                   Column("volume", right=True, optional=True), Column("copies"), Column("checks"))


CHECK_WORDS = {"testzip": "tested", "server_checksum": "checksum", "inventory_seen": "inventory"}


def _checks_cell(checks: dict[str, bool]) -> str:
    """``tested, checksum, inventory`` for the checks passed; a failed one says so."""
    return joined(CHECK_WORDS.get(kind, kind) + ("" if ok else " FAILED") for kind, ok in checks.items())


def _catalog_rows(report: list[dict]) -> list[list[str]]:
    return [[row["archive"], size(row["size"]), row["partition"], row["volume"],
             joined(sorted({c.rsplit(":", 1)[0] for c in row["copies"]})), _checks_cell(row["checks"])]
            for row in report]


@catalog_app.callback()
def catalog(
    ctx: typer.Context,
    fmt: Format = typer.Option(Format.table, "--format", "-f", case_sensitive=False,
                               help="How to print it; a file from --output is written the same way."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON, sizes in bytes (as --format json)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to a file."),
) -> None:
    """Print the catalog: one row per archive, with its copies and checks.

    The table fits the terminal: when the columns do not, each archive is a short record.
    Sizes are binary (KiB, MiB, GiB); --json and csv give them in bytes, with the full copy
    ids and the checksums.
    """
    if ctx.invoked_subcommand is not None:
        return
    if as_json and fmt not in (Format.table, Format.json):
        raise UsageError(f"--json and --format {fmt.value} ask for two formats: give one")
    if as_json or fmt is Format.json:
        with open_catalog() as cat:
            text = json.dumps(cat.report(), indent=2) + "\n"
    elif fmt is Format.html:
        from icefloe.household import household_page

        with open_catalog() as cat:
            text = household_page(cat, settings())
    elif fmt is Format.table:
        if output is None:
            with open_catalog() as cat:
                report = cat.report()
            if not report:
                info("the catalog holds no archives yet")
                return
            echo_rows(_catalog_rows(report), CATALOG_COLUMNS)
            return
        text = render(flat_report(), "markdown")
    else:
        text = render(flat_report(), fmt.value)
    if output is not None:
        atomic_write_bytes(output, text.encode())
        info(f"wrote {output}")
    else:
        typer.echo(text, nl=False)


@catalog_app.command("rebuild", rich_help_panel=RESTORE)
def rebuild(
    wait: bool = typer.Option(False, "--wait", help="Wait for the inventory job (about 4 hours on AWS)."),
    fresh: bool = typer.Option(False, "--fresh", help="Request a new inventory even if a finished one exists."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Recreate the catalog from cold storage: the newest catalog snapshot, then the inventory.

    Needs only the AWS credentials, the vault or bucket name in icefloe.toml and the archive
    password. The snapshot (kept after every archive and clear) brings back which sets were
    cleared, the manifests (so `find` answers at once) and the active partition; the
    vault's inventory or the bucket's listing adds every archive beyond it, from the
    descriptions icefloe wrote at upload. Without --wait a vault job still running makes the
    command exit (code 75): run it again once the job has finished.
    """
    from dataclasses import asdict

    result, snapshot, used = rebuild_from_coldstore(settings(), wait=wait, fresh=fresh)
    if as_json:
        print_json({**asdict(result), "snapshot": asdict(snapshot)})
        return
    if not used:
        info("the archive password is not set, so the catalog snapshot was not read: cleared sets "
             "and manifests come back once it is set and the rebuild runs again")
    else:
        info(snapshot.summary())
    info(result.summary())


def rebuild_from_coldstore(cfg, *, wait: bool, fresh: bool, again: str = "icefloe catalog rebuild"):
    """The newest catalog snapshot, then the inventory: (result, snapshot, snapshot used)."""
    from icefloe.coldstore import open_coldstore, parse_inventory
    from icefloe.coldstore.snapshots import SnapshotStore
    from icefloe.restore import rebuild_catalog, restore_options
    from icefloe.restore.fromsnapshot import SnapshotRebuild, merge_s3_snapshot, merge_vault_snapshot
    from icefloe.restore.retrieval import wait_for_job
    from icefloe.cli.password import archive_password

    password = archive_password(cfg.archive)
    use_snapshot = password is not None or not cfg.archive.encrypt
    options = restore_options(cfg.restore)
    snapshot = SnapshotRebuild(None)
    with open_catalog() as catalog:
        store = open_coldstore(cfg.coldstore, catalog)
        snaps = SnapshotStore(cfg.coldstore)
        if use_snapshot and cfg.coldstore.backend == "s3":
            snapshot = merge_s3_snapshot(snaps, catalog, work_dir=cfg.work_dir, password=password)
        result = rebuild_catalog(store, catalog, work_dir=cfg.work_dir, wait=wait, fresh=fresh,
                                 options=options, again=again)
        if use_snapshot and cfg.coldstore.backend != "s3":
            waiter = (lambda job_id: wait_for_job(store, job_id, options=options)) if wait else None
            snapshot = merge_vault_snapshot(
                store, catalog, parse_inventory(Path(result.inventory_path)), work_dir=cfg.work_dir,
                password=password, wait_for_job=waiter, again=again,
            )
    return result, snapshot, use_snapshot
