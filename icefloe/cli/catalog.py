"""Commands that stand on the foundation alone: init, standin, catalog."""

from __future__ import annotations

import csv
import io
import json
import os
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from icefloe.cli.app import app, info, open_catalog, print_json, settings
from icefloe.cli.helptext import INSPECT, SET_UP
from icefloe.cli.render import Column, echo_rows, joined, plural, short_set
from icefloe.config import DEFAULT_CONFIG, STARTER
from icefloe.errors import UsageError
from icefloe.fsutil import atomic_write_bytes
from icefloe.units import size



class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"  # the same as --json
    markdown = "markdown"
    html = "html"


@app.command(rich_help_panel=SET_UP)
def init(
    path: Path = typer.Argument(DEFAULT_CONFIG, help="Where to write the starter file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter icefloe.toml to edit."""
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (use --force to overwrite it)")
    if path.is_dir():
        raise UsageError(f"{path} is a folder")
    atomic_write_bytes(path, STARTER.encode())
    info(f"wrote {path}: add your [[partitions]], then run `icefloe status`")


@app.command(rich_help_panel=SET_UP)
def standin(
    port: int = typer.Option(9566, "--port", "-p", help="Port on 127.0.0.1 (0 picks a free one)."),
) -> None:
    """Run the local AWS stand-in (S3 and the Glacier vault API) in the foreground.

    Point icefloe (or any AWS client) at it with AWS_ENDPOINT_URL=http://127.0.0.1:PORT.
    Tune it with ICEFLOE_STANDIN_* variables (docs/standin.md): job delay, inventory lag,
    fault rate, latency, bandwidth cap.
    """
    from icefloe.cli.app import standin_package

    kit = standin_package()
    kit.serve_forever("127.0.0.1", port, kit.options_from_env(os.environ))


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


def _checks_summary(checks: tuple[str, ...], set_name: str) -> str:
    """``7 ok`` or ``5 ok; missing: 7z.002 inventory_seen``: what still needs doing shows.

    The archives and images are named without their set's name, which the listing shows.
    """
    states: dict[str, list[str]] = {"ok": [], "FAILED": [], "missing": []}
    for check in checks:
        what, _, word = check.rpartition(" ")
        subject, _, kind = what.partition(": ")
        if subject.startswith(set_name) and len(subject) > len(set_name) + 1:
            subject = subject[len(set_name) + 1:]
        states.setdefault(word, []).append(f"{subject} {kind}")
    parts = [f"{len(states['ok'])} ok"]
    parts += [f"{word}: {', '.join(whats)}" for word, whats in states.items() if word != "ok" and whats]
    return "; ".join(parts)


FIND_COLUMNS = (Column("path"), Column("size", right=True), Column("partition"), Column("set"),
                Column("copies"), Column("checks"))


@app.command("find", rich_help_panel=INSPECT)
def find_cmd(
    pattern: str = typer.Argument(..., help="A glob such as '*/2019/*.jpg', or part of a name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON, with every copy id and check."),
) -> None:
    """Is this file backed up, and where? Searches the manifests in the catalog.

    For each file that matches: its size, partition and archive set, how many cold-storage
    copies and discs hold it, and the state of their checks (the ones still missing or failed
    are named). --json lists the archives, copy ids, discs and every check.
    """
    from dataclasses import asdict

    from icefloe.report import find

    with open_catalog() as cat:
        found = find(cat, pattern)
    if as_json:
        print_json([asdict(loc) for loc in found])
        return
    if not found:
        raise UsageError(f"no archived file matches {pattern!r}")
    rows = [[loc.path, size(loc.size), loc.partition, short_set(loc.set_name, loc.partition),
             f"{plural(len(loc.cold_copies), 'cold copy', 'cold copies')}, {plural(len(loc.discs), 'disc')}",
             _checks_summary(loc.checks, loc.set_name)] for loc in found]
    echo_rows(rows, FIND_COLUMNS)
