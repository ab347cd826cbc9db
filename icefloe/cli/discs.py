"""`icefloe discs check`: the discs in the safe, read end to end once a year."""

from __future__ import annotations

from pathlib import Path

import typer

from icefloe.cli.app import app, info, open_catalog, print_json
from icefloe.cli.helptext import ROUTINE

discs_app = typer.Typer(help="The discs in the safe: the yearly check of each.", no_args_is_help=True)
app.add_typer(discs_app, name="discs", rich_help_panel=ROUTINE)


@discs_app.command("check")
def discs_check(
    paths: list[Path] = typer.Argument(..., help="ISO images, disc devices (/dev/sr0) or mounted disc folders."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Read each disc end to end and record the recovery margin it has left in the catalog.

    Counts unreadable sectors and damaged PAR2 blocks; `icefloe status` lists the discs not
    checked for a year.
    """
    from dataclasses import asdict

    from icefloe.disc.check import check_disc, damage_verdict, record_check

    results = []
    with open_catalog() as catalog:
        for path in paths:
            info(f"reading {path} end to end ...")
            results.append(record_check(catalog, check_disc(path)))
    if as_json:
        print_json([asdict(r) for r in results])
    for r in results:
        info(f"{r.disc}: {'ok' if r.ok else 'DAMAGED'}: {r.detail}; margin {r.margin_blocks} of "
             f"{r.recovery_blocks} recovery blocks ({r.source_blocks} data blocks)")
    verdict = damage_verdict(results)
    if verdict is not None:
        raise verdict
