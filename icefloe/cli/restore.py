"""`icefloe restore` (from cold storage or from discs) and `icefloe catalog rebuild`."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import typer

from icefloe.cli.app import app, info, open_catalog, print_json, progress_bar, settings
from icefloe.cli.basics import catalog_app
from icefloe.errors import UsageError
from icefloe.passwords import check_for_reading, source

MAX_LISTED = 10


class _Bars:
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
    from icefloe.cli.archive import archive_password

    return archive_password(settings().archive)


def _show(results, as_json: bool) -> None:
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


@app.command()
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
    tier: str | None = typer.Option(None, "--tier", help="Expedited, Standard or Bulk (default: restore.tier)."),
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

    bars = _Bars()
    try:
        if from_discs:
            if not names or partition:
                raise UsageError("--from-discs takes the discs (ISO files or mounted folders) as arguments, "
                                 "and no --partition")
            catalog = open_catalog() if settings().catalog_path.exists() else None
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
    _show(results, as_json)


def _from_coldstore(names, to, partition, select, wait, tier, yes, overwrite, keep_downloads, bars):
    from icefloe.coldstore import open_coldstore
    from icefloe.restore import (
        plan_restore,
        resolve_sets,
        restore_from_coldstore,
        restore_options,
        start_retrievals,
    )

    if names and len(names) > 1:
        raise UsageError("name one archive or set (or use --partition, or --from-discs for discs)")
    name = names[0] if names else None
    cfg = settings()
    options = restore_options(cfg.restore, keep_downloads=keep_downloads or None)
    download_dir = cfg.work_dir / "restore"
    again = f"icefloe restore {'--partition ' + partition if partition else name} --to {to}"
    password = _password()
    with open_catalog() as catalog:
        store = open_coldstore(cfg.coldstore, catalog)
        sets = resolve_sets(catalog, name, partition)
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
        return restore_from_coldstore(
            store, catalog, plan, to, download_dir=download_dir, password=password, options=options,
            wait=wait, per_set=partition is not None, select=select, overwrite=overwrite, again=again,
            progress_for=bars,
        )


@catalog_app.command("rebuild")
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

    from icefloe.coldstore import open_coldstore, parse_inventory
    from icefloe.coldstore.snapshots import SnapshotStore
    from icefloe.restore import rebuild_catalog, restore_options
    from icefloe.restore.fromsnapshot import SnapshotRebuild, merge_s3_snapshot, merge_vault_snapshot
    from icefloe.restore.retrieval import wait_for_job
    from tasks.archive import archive_password

    cfg = settings()
    password = archive_password(cfg.archive)
    use_snapshot = password is not None or not cfg.archive.encrypt
    options = restore_options(cfg.restore)
    snapshot = SnapshotRebuild(None)
    with open_catalog() as catalog:
        store = open_coldstore(cfg.coldstore, catalog)
        snaps = SnapshotStore(cfg.coldstore)
        if use_snapshot and cfg.coldstore.backend == "s3":
            snapshot = merge_s3_snapshot(snaps, catalog, work_dir=cfg.work_dir, password=password)
        result = rebuild_catalog(store, catalog, work_dir=cfg.work_dir, wait=wait, fresh=fresh, options=options)
        if use_snapshot and cfg.coldstore.backend != "s3":
            waiter = (lambda job_id: wait_for_job(store, job_id, options=options)) if wait else None
            snapshot = merge_vault_snapshot(
                store, catalog, parse_inventory(Path(result.inventory_path)), work_dir=cfg.work_dir,
                password=password, wait_for_job=waiter, again="icefloe catalog rebuild",
            )
    if as_json:
        print_json({**asdict(result), "snapshot": asdict(snapshot)})
        return
    if not use_snapshot:
        info("the archive password is not set, so the catalog snapshot was not read: cleared sets "
             "and manifests come back once it is set and the rebuild runs again")
    else:
        info(snapshot.summary())
    info(result.summary())
