"""`icefloe archive LABEL`: the whole archive pipeline for one partition as a Prefect flow run."""

from __future__ import annotations

import typer

from icefloe.cli.app import app, info, print_json, state
from icefloe.cli.flowrun import config_param, run_flow
from icefloe.cli.helptext import ROUTINE
from icefloe.cli.password import check_archiving_password
from icefloe.units import size


@app.command(rich_help_panel=ROUTINE)
def archive(
    label: str = typer.Argument(..., help="The partition to archive, as configured."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Show what would be archived."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run the whole archive pipeline for one partition as a Prefect flow run.

    Consolidate into tested 7z archives, write and verify the disc images (burn and read back
    when a burner is configured), upload to cold storage, mirror, and reconcile an inventory.
    The run shows in the Prefect UI; a failed stage can be retried there without redoing the
    stages before it. Clear the partition afterwards with `icefloe clear LABEL`.
    """
    from flows.archive import archive_partition

    cfg = state().settings()
    cfg.partition_folder(label)  # a typo or a missing folder fails here, before Prefect starts
    if not dry_run:
        check_archiving_password(cfg)  # so does a missing or wrong password
    from icefloe.cli.stagebars import stage_progress

    with stage_progress():  # a bar per stage on a terminal
        result = run_flow(archive_partition, label=label, dry_run=dry_run, config=config_param())
    from dataclasses import asdict

    shown = asdict(result)  # an ArchivePlan (dry run) or an ArchiveRun
    if not dry_run:
        from icefloe.passwords import describe

        shown["encryption"] = describe(cfg.archive)
    if as_json:
        print_json(shown)
    elif dry_run:
        info(f"{label}: {result.files} files, {size(result.bytes)} would be archived "
             f"({result.disc} discs, {result.backend} {result.container})")
    else:
        info(f"{label}: set {result.set_name}, {len(result.volumes)} archive(s), "
             f"{len(result.images)} disc image(s), stored as {', '.join(result.stored)}; "
             f"{shown['encryption']}")
