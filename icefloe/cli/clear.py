"""`icefloe clear LABEL`: delete a partition's archived files once every copy is verified.

It calls the library directly (fast, and usable without a Prefect server). The clear-partition
deployment (flows/clear.py) runs the same clear inside a Prefect transaction.
"""

from __future__ import annotations

from typing import Any

import typer

from icefloe.catalog import Catalog
from icefloe.clear import ClearResult, Gate, clear_partition
from icefloe.cli.app import app, info, open_catalog, print_json, settings
from icefloe.cli.helptext import ROUTINE
from icefloe.config import Settings
from icefloe.partitions import active_partition, finish_handover
from icefloe.units import size

CLEAR_VERSION = 1  # the shape of `icefloe clear --json`


def gate_dict(gate: Gate) -> dict[str, Any]:
    """A gate as `clear --json` and `status --json` print it."""
    return {"subject": gate.subject, "kind": gate.kind, "ok": gate.ok, "detail": gate.detail}


def _clear_json(result: ClearResult, active: str) -> dict[str, Any]:
    removed = set(result.removed)
    return {
        "version": CLEAR_VERSION, "label": result.label, "dry_run": result.dry_run,
        "partition": result.plan.partition, "gates": [gate_dict(g) for g in result.gates],
        "would_remove": list(result.plan.files) if result.dry_run else [],
        "removed": list(result.removed),
        "bytes": result.plan.total_bytes if result.dry_run
        else sum(e.size for e in result.plan.entries if e.path in removed),
        "kept": [{"path": k.path, "reason": k.reason} for k in (result.plan.kept if result.dry_run else result.kept)],
        "sets_cleared": list(result.sets_cleared), "active": active,
    }


def _print_clear(result: ClearResult, active: str) -> None:
    if result.gates:
        info(f"{result.label}: all {len(result.gates)} clear gates hold")
    if result.dry_run:
        for path in result.plan.files:
            typer.echo(f"would remove  {path}")
        for kept in result.plan.kept:
            typer.echo(f"keep          {kept.path}  ({kept.reason})")
        info(f"{result.label}: would remove {len(result.plan.entries)} file(s) "
             f"({size(result.plan.total_bytes)}) from {result.plan.partition}, keep {len(result.plan.kept)}; "
             "nothing was changed (pass --yes to clear)")
        return
    for path in result.removed:
        typer.echo(f"removed  {path}")
    for kept in result.kept:
        typer.echo(f"kept     {kept.path}  ({kept.reason})")
    if not result.sets_cleared:
        info(f"{result.label}: nothing to clear (every archive set is cleared already)")
    else:
        info(f"{result.label}: removed {len(result.removed)} file(s), kept {len(result.kept)}; "
             f"cleared {', '.join(result.sets_cleared)}")
    info(f"active partition: {active}")


@app.command(rich_help_panel=ROUTINE)
def clear(
    label: str = typer.Argument(..., help="The partition to clear (its label in icefloe.toml)."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="List what would be removed and kept; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Really delete (nothing is deleted without it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the gates, removed and kept files as JSON."),
) -> None:
    """Delete a partition's archived files once every copy of them is verified.

    Every gate is read from the catalog now: each archive passed testzip, is in cold storage
    with a matching checksum confirmed by an inventory or HEAD, each disc image was verified
    (and read back after burning, when a burner is configured), and the last mirror run
    succeeded. If any is missing nothing changes. Files written after the archive was made
    are kept. The files go to a trash folder first and are purged only when all moved; on
    any failure they are put back. Afterwards the other partition becomes the active one.
    """
    cfg = settings()
    cfg.partition_folder(label)  # an unknown label or a missing folder: one line, before the catalog opens
    from contextlib import nullcontext

    from icefloe.lease import Lease, partition_lease_name

    with open_catalog() as catalog, (nullcontext() if dry_run else Lease(
        catalog, partition_lease_name(label), f"icefloe clear {label}"
    ).acquire()):  # one archive or clear of a partition at a time
        result = clear_partition(catalog, cfg, label, confirm=yes, dry_run=dry_run)
        if dry_run:
            active = active_partition(catalog, cfg)
        else:
            active = finish_handover(catalog, cfg, label)
        snapshot_note = _snapshot_after_clear(catalog, cfg) if result.sets_cleared else None
    if snapshot_note:
        info(snapshot_note)
    if as_json:
        print_json(_clear_json(result, active))
    else:
        _print_clear(result, active)


def _snapshot_after_clear(catalog: Catalog, cfg: Settings) -> str | None:
    """Keep the cleared state offsite; a failure is one line, the clear itself stands."""
    from icefloe.coldstore.snapshots import backup_catalog
    from icefloe.errors import IcefloeError
    from icefloe.cli.password import archiving_password

    if not cfg.coldstore.catalog_snapshots:
        return None
    try:
        backup_catalog(cfg, catalog, archiving_password(cfg.archive))
    except IcefloeError as exc:
        return (f"the clear is done, but the catalog snapshot was not stored ({exc.message}); "
                "the next archive or clear stores one")
    return None
