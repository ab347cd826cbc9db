"""`icefloe recover`: a new machine after a disaster: configuration, catalog, then every set."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from icefloe.cli.app import app, info, open_catalog, settings, state
from icefloe.cli.catalog import rebuild_from_coldstore
from icefloe.cli.helptext import RESTORE
from icefloe.cli.restore import Bars, Tier, restore_sets, show_results, tier_option
from icefloe.errors import UsageError
from icefloe.fsutil import atomic_write_bytes

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
    tier: Tier | None = tier_option(),
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
    result, snapshot, used = rebuild_from_coldstore(cfg, wait=wait, fresh=fresh, again=again)
    info(snapshot.summary() if used else "the archive password is not set: the catalog snapshot was not read")
    info(result.summary())
    with open_catalog() as catalog:
        sets = [s.name for s in catalog.archive_sets()]
    if not sets:
        raise UsageError(f"the {cfg.coldstore.backend} {cfg.coldstore.bucket if cfg.coldstore.backend == 's3' else cfg.coldstore.vault} "
                         "holds no icefloe archive sets: check the name and region")
    bars = Bars()
    try:
        results = restore_sets(sets, to, select=None, wait=wait, tier=tier, yes=yes, overwrite=False,
                                keep_downloads=False, bars=bars, per_set=True, again=again)
    finally:
        bars.close()
    show_results(results, as_json)
