"""`icefloe find PATTERN`: is this file backed up, and where? The manifests in the catalog say."""

from __future__ import annotations

import typer

from icefloe.cli.app import app, open_catalog, print_json
from icefloe.cli.helptext import INSPECT
from icefloe.cli.render import Column, echo_rows, plural, short_set
from icefloe.errors import UsageError
from icefloe.units import size


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
