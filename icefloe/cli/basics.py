"""Commands that stand on the foundation alone: init, standin, catalog."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Optional

import typer

from icefloe.cli.app import app, info, open_catalog, print_json, settings
from icefloe.config import DEFAULT_CONFIG, STARTER
from icefloe.errors import UsageError
from icefloe.fsutil import atomic_write_bytes

FORMATS = ("table", "csv", "json", "markdown", "html")


@app.command()
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


@app.command()
def standin(
    port: int = typer.Option(9566, "--port", "-p", help="Port on 127.0.0.1 (0 picks a free one)."),
) -> None:
    """Run the local AWS stand-in (S3 and the Glacier vault API) in the foreground.

    Point icefloe (or any AWS client) at it with AWS_ENDPOINT_URL=http://127.0.0.1:PORT.
    Tune it with ICEFLOE_STANDIN_* variables (docs/standin.md): job delay, inventory lag,
    fault rate, latency, bandwidth cap.
    """
    from icefloe.standin import options_from_env, serve_forever

    serve_forever("127.0.0.1", port, options_from_env(os.environ))


catalog_app = typer.Typer(
    help="The archive record: every archive, its copies and their checks.",
    invoke_without_command=True,
)
app.add_typer(catalog_app, name="catalog")


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


@catalog_app.callback()
def catalog(
    ctx: typer.Context,
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json, markdown or html."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to a file."),
) -> None:
    """Print the catalog: one row per archive, with its copies and checks."""
    if ctx.invoked_subcommand is not None:
        return
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "json":
        with open_catalog() as cat:
            text = json.dumps(cat.report(), indent=2)
    elif fmt == "html":
        from icefloe.household import household_page

        with open_catalog() as cat:
            text = household_page(cat, settings())
    elif fmt == "table":
        rows = flat_report()
        if output is None:
            from rich.console import Console
            from rich.table import Table

            table = Table(title="icefloe catalog")
            for head in (rows[0] if rows else {"archive": ""}):
                table.add_column(head)
            for row in rows:
                table.add_row(*(str(v) for v in row.values()))
            Console().print(table)
            return
        text = render(rows, "markdown")
    else:
        text = render(flat_report(), fmt)
    if output is not None:
        atomic_write_bytes(output, text.encode())
        info(f"wrote {output}")
    else:
        typer.echo(text, nl=False)


@app.command("find")
def find_cmd(
    pattern: str = typer.Argument(..., help="A glob such as '*/2019/*.jpg', or part of a name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Is this file backed up, and where? Searches the manifests in the catalog.

    For each match: the partition, the archive set and its volumes, the cold-storage ids,
    the discs holding it, and the state of every copy's verification.
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
    for loc in found:
        typer.echo(f"{loc.path}  ({loc.size} bytes, partition {loc.partition}, set {loc.set_name})")
        typer.echo(f"  archives: {', '.join(loc.archives)}")
        typer.echo(f"  cold storage: {', '.join(loc.cold_copies) or 'not stored yet'}")
        typer.echo(f"  discs: {', '.join(loc.discs) or 'none'}")
        for check in loc.checks:
            typer.echo(f"  {check}")
