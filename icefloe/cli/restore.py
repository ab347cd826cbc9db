"""`icefloe restore` (from cold storage or from discs) and `icefloe catalog rebuild`."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

import typer

from icefloe.cli.app import app, info, open_catalog, print_json, progress_bar, settings, state
from icefloe.cli.basics import catalog_app
from icefloe.cli.helptext import RESTORE
from icefloe.errors import UsageError
from icefloe.fsutil import atomic_write_bytes
from icefloe.passwords import check_for_reading, source

MAX_LISTED = 10
Tier = Literal["Expedited", "Standard", "Bulk"]  # restore.tier's choices; --help lists them


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
    tier: Tier | None = typer.Option(None, "--tier", case_sensitive=False,
                                     help="How fast, and how dear (default: restore.tier)."),
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
    from icefloe.restore import resolve_sets

    if names and len(names) > 1:
        raise UsageError("name one archive or set (or use --partition, or --from-discs for discs)")
    name = names[0] if names else None
    again = f"icefloe restore {'--partition ' + partition if partition else name} --to {to}"
    with open_catalog() as catalog:
        sets = resolve_sets(catalog, name, partition)
    return _restore_sets(sets, to, select=select, wait=wait, tier=tier, yes=yes, overwrite=overwrite,
                         keep_downloads=keep_downloads, bars=bars, per_set=partition is not None, again=again)


def _restore_sets(sets, to, *, select, wait, tier, yes, overwrite, keep_downloads, bars, per_set, again):
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

    result, snapshot, used = _rebuild(settings(), wait=wait, fresh=fresh)
    if as_json:
        print_json({**asdict(result), "snapshot": asdict(snapshot)})
        return
    if not used:
        info("the archive password is not set, so the catalog snapshot was not read: cleared sets "
             "and manifests come back once it is set and the rebuild runs again")
    else:
        info(snapshot.summary())
    info(result.summary())


def _rebuild(cfg, *, wait: bool, fresh: bool, again: str = "icefloe catalog rebuild"):
    """The newest catalog snapshot, then the inventory: (result, snapshot, snapshot used)."""
    from icefloe.coldstore import open_coldstore, parse_inventory
    from icefloe.coldstore.snapshots import SnapshotStore
    from icefloe.restore import rebuild_catalog, restore_options
    from icefloe.restore.fromsnapshot import SnapshotRebuild, merge_s3_snapshot, merge_vault_snapshot
    from icefloe.restore.retrieval import wait_for_job
    from tasks.archive import archive_password

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


RECOVER_TOML = """\
# Written by `icefloe recover` on a new machine: enough to read the cold store back.
# Add your [[partitions]] (see `icefloe init`) before archiving again.
work_dir = "icefloe-work"

[coldstore]
backend = "{backend}"
region = "{region}"
{where}
"""


@app.command(rich_help_panel=RESTORE)
def recover(
    to: Path = typer.Option(..., "--to", help="The folder to restore everything into (each set in TO/<set>)."),
    bucket: str | None = typer.Option(None, "--bucket", help="The S3 bucket the backups are in."),
    vault: str | None = typer.Option(None, "--vault", help="The Glacier vault the backups are in."),
    region: str = typer.Option("us-east-1", "--region", help="The AWS region of the bucket or vault."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the jobs and retrievals (hours on AWS)."),
    tier: Tier | None = typer.Option(None, "--tier", case_sensitive=False,
                                     help="How fast, and how dear (default: restore.tier)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Start the retrievals without asking about the cost."),
    fresh: bool = typer.Option(False, "--fresh", help="Request a new vault inventory even if one exists."),
    as_json: bool = typer.Option(False, "--json", help="Print what was restored as JSON."),
) -> None:
    """Bring everything back on a new machine: configuration, catalog, then every set.

    Needs the AWS credentials, the archive password (in ICEFLOE_ARCHIVE_PASSWORD) and the
    bucket or vault name. Writes a starter icefloe.toml when there is none, rebuilds the
    catalog (the newest catalog snapshot, then the inventory), shows the cost and time of
    retrieving everything, and restores every archive set into TO/<set>, each file checked.
    Without --wait it stops while jobs run (exit code 75): run the same command again later.
    """
    from icefloe.config import DEFAULT_CONFIG

    if bucket and vault:
        raise UsageError("give --bucket or --vault, not both")
    path = state().config_path or Path(os.environ.get("ICEFLOE_CONFIG") or DEFAULT_CONFIG)
    if not path.exists():
        if not (bucket or vault):
            raise UsageError(f"{path} does not exist: give --bucket NAME (or --vault NAME) to write it")
        where = f'bucket = "{bucket}"' if bucket else f'vault = "{vault}"'
        backend = "s3" if bucket else "glacier"
        atomic_write_bytes(path, RECOVER_TOML.format(backend=backend, region=region, where=where).encode())
        info(f"wrote {path} for the {backend} {bucket or vault} in {region}")
        state().config_path = path  # settings are read on first use, below
    elif bucket or vault:
        raise UsageError(f"{path} exists already: drop --bucket/--vault, or run elsewhere")
    cfg = settings()
    again = f"icefloe recover --to {to}"
    result, snapshot, used = _rebuild(cfg, wait=wait, fresh=fresh, again=again)
    info(snapshot.summary() if used else "the archive password is not set: the catalog snapshot was not read")
    info(result.summary())
    with open_catalog() as catalog:
        sets = [s.name for s in catalog.archive_sets()]
    if not sets:
        raise UsageError(f"the {cfg.coldstore.backend} {cfg.coldstore.bucket if cfg.coldstore.backend == 's3' else cfg.coldstore.vault} "
                         "holds no icefloe archive sets: check the name and region")
    bars = _Bars()
    try:
        results = _restore_sets(sets, to, select=None, wait=wait, tier=tier, yes=yes, overwrite=False,
                                keep_downloads=False, bars=bars, per_set=True, again=again)
    finally:
        bars.close()
    _show(results, as_json)
