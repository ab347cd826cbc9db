"""`icefloe restore`: from cold storage or from discs, every file checked.

`icefloe recover` restores every set the same way once it has rebuilt the catalog.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import typer

from icefloe.cli.app import app, catalog_if_exists, info, open_catalog, print_json, progress_bar, settings
from icefloe.cli.helptext import RESTORE
from icefloe.cli.password import archive_password
from icefloe.errors import UsageError
from icefloe.passwords import check_for_reading, source

MAX_LISTED = 10
Tier = Literal["Expedited", "Standard", "Bulk"]  # restore.tier's choices; --help lists them


def tier_option() -> Any:
    """--tier, as `restore` and `recover` take it (a new Option each: help finishing edits it)."""
    return typer.Option(None, "--tier", case_sensitive=False, help="How fast, and how dear (default: restore.tier).")


class Bars:
    """One progress bar at a time: a download, then the next, then the extraction."""

    def __init__(self) -> None:
        self._stack = ExitStack()

    def __call__(self, label: str):
        self._stack.close()
        self._stack = ExitStack()
        return self._stack.enter_context(progress_bar(label))

    def close(self) -> None:
        self._stack.close()


def _confirm(estimate_line: str, yes: bool) -> None:
    info(estimate_line)
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("not starting the retrieval without confirmation: add --yes to accept the estimate above")
    typer.confirm("Start the retrieval?", abort=True, err=True)


def _password():
    return archive_password(settings().archive)


def show_results(results, as_json: bool) -> None:
    if as_json:
        print_json([r.to_json() for r in results])
    for result in results:
        report = result.report
        info(report.summary())
        for line in report.volume_problems:
            info(f"  {line}")
        for problem in report.problems[:MAX_LISTED]:
            info(f"  {problem.kind}: {problem.path}: {problem.detail}")
        if len(report.problems) > MAX_LISTED:
            info(f"  ... and {len(report.problems) - MAX_LISTED} more (--json lists them all)")
    for result in results:
        result.report.raise_for_problems()


@app.command(rich_help_panel=RESTORE)
def restore(
    names: list[str] | None = typer.Argument(
        None, help="An archive or archive set name; with --from-discs, the discs: ISO files or mounted disc folders.",
        show_default=False,
    ),
    to: Path = typer.Option(..., "--to", help="The folder to restore into (created if missing)."),
    partition: str | None = typer.Option(
        None, "--partition", help="Restore every archive set of this partition, each into TO/<set>."
    ),
    from_discs: bool = typer.Option(False, "--from-discs", help="Restore from discs or ISO images, not cold storage."),
    path: str | None = typer.Option(None, "--path", help="Only entries matching this glob (e.g. 'photos/2019/*')."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the retrieval jobs instead of exiting (they take hours on AWS)."),
    tier: Tier | None = tier_option(),
    yes: bool = typer.Option(False, "--yes", "-y", help="Start retrievals without asking about the cost."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files that differ from the backup."),
    keep_downloads: bool = typer.Option(False, "--keep-downloads", help="Keep the downloaded volumes afterwards."),
    as_json: bool = typer.Option(False, "--json", help="Print what was restored, and every problem, as JSON."),
) -> None:
    """Restore files from cold storage (vault or S3) or from discs, checking every file.

    From cold storage the archives are retrieved first (cost and time are shown, and asked
    about unless --yes); without --wait the command exits once the retrievals are requested
    (exit code 75): run it again later to continue. Every file is checked against the
    manifest's SHA-256 and gets its modification time back; files that verify are kept even
    when others fail. After losing the catalog run `icefloe catalog rebuild` first.
    """
    from icefloe.restore import restore_from_discs

    bars = Bars()
    try:
        if from_discs:
            if not names or partition:
                raise UsageError("--from-discs takes the discs (ISO files or mounted folders) as arguments, "
                                 "and no --partition")
            catalog = catalog_if_exists()
            try:
                results = restore_from_discs(
                    [Path(n) for n in names], to, password=_password(), catalog=catalog, select=path,
                    overwrite=overwrite, progress_for=bars,
                )
            finally:
                if catalog is not None:
                    catalog.close()
        else:
            results = _from_coldstore(names, to, partition, path, wait, tier, yes, overwrite, keep_downloads, bars)
    finally:
        bars.close()
    show_results(results, as_json)


def _from_coldstore(names, to, partition, select, wait, tier, yes, overwrite, keep_downloads, bars):
    from icefloe.restore import resolve_sets

    if names and len(names) > 1:
        raise UsageError("name one archive or set (or use --partition, or --from-discs for discs)")
    name = names[0] if names else None
    again = f"icefloe restore {'--partition ' + partition if partition else name} --to {to}"
    with open_catalog() as catalog:
        sets = resolve_sets(catalog, name, partition)
    return restore_sets(sets, to, select=select, wait=wait, tier=tier, yes=yes, overwrite=overwrite,
                         keep_downloads=keep_downloads, bars=bars, per_set=partition is not None, again=again)


def restore_sets(sets, to, *, select, wait, tier, yes, overwrite, keep_downloads, bars, per_set, again):
    """Retrieve (after showing the cost) and restore ``sets`` from cold storage into ``to``."""
    from icefloe.coldstore import open_coldstore
    from icefloe.restore import plan_restore, restore_from_coldstore, restore_options, start_retrievals

    cfg = settings()
    options = restore_options(cfg.restore, keep_downloads=keep_downloads or None)
    download_dir = cfg.work_dir / "restore"
    password = _password()
    with open_catalog() as catalog:
        store = open_coldstore(cfg.coldstore, catalog)
        check_for_reading(catalog, sets, password, source(cfg.archive))  # before any retrieval
        plan = plan_restore(
            store, catalog, sets, download_dir=download_dir, tier=tier or cfg.restore.tier,
            prices=cfg.restore.prices, storage_class=cfg.coldstore.storage_class,
        )
        if plan.to_request:
            _confirm(plan.estimate.describe(), yes)
            count = len(plan.to_request)
            plan = start_retrievals(store, plan, days=cfg.restore.days)
            info(f"requested {count} retrieval{'s' if count != 1 else ''} (tier {plan.tier})")
        else:
            info(f"no retrieval to start: the {len(plan.volumes)} archive(s) of {len(plan.sets)} set(s) "
                 "are already downloaded or being retrieved")
        return restore_from_coldstore(
            store, catalog, plan, to, download_dir=download_dir, password=password, options=options,
            wait=wait, per_set=per_set, select=select, overwrite=overwrite, again=again,
            progress_for=bars,
        )
