"""`icefloe mirror`: rsync the partitions to the mirror target now, with a progress bar.

It runs the library directly (no Prefect server needed, no retries): the nightly flow
(flows/mirror.py) is what retries connection trouble with backoff.
"""

from __future__ import annotations

from typing import Optional

import typer

from icefloe.cli.app import app, info, open_catalog, print_json, progress_bar, settings
from icefloe.cli.helptext import ROUTINE
from icefloe.errors import IcefloeError, MirrorFailed, UsageError
from icefloe.mirror import RESULT_VERSION, MirrorResult, run_mirror, target_for
from icefloe.units import size


def _describe(result: MirrorResult) -> str:
    verb = "would send" if result.dry_run else "sent"
    deleted = "would delete" if result.dry_run else "deleted"
    return (
        f"{result.label} -> {result.target}: {verb} {result.files_transferred} file(s) "
        f"({size(result.transferred_size if result.dry_run else result.bytes_sent)}), "
        f"{deleted} {result.files_deleted}, in {result.duration_s:.1f} s"
    )


@app.command(rich_help_panel=ROUTINE)
def mirror(
    label: Optional[str] = typer.Argument(
        None, help="The partition to mirror (default: every configured partition).", show_default=False
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", "-n", help="List what would change and change nothing (not recorded)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run summaries as JSON on stdout."),
    max_delete: Optional[int] = typer.Option(
        None, "--max-delete", min=0, show_default=False,
        help="Allow this many deletions in this run instead of mirror.max_delete.",
    ),
    allow_empty: bool = typer.Option(
        False,
        "--allow-empty",
        help="Mirror LABEL even if it holds only its sentinel (after a clear): empties its mirror.",
    ),
    checksum: bool = typer.Option(
        False, "--checksum", help="Compare every byte, not size and time (slower; the clear gate wants one run).",
    ),
) -> None:
    """Mirror backup partitions to mirror.target with rsync now, as the nightly flow does.

    A partition without its sentinel file is refused so an unmounted disk never wipes the
    mirror; an empty one deletes nothing unless --allow-empty; and rsync never deletes more
    than mirror.max_delete (or --max-delete) files in one run.
    """
    cfg = settings()
    if allow_empty and label is None:
        raise UsageError("--allow-empty needs a LABEL: it empties that partition's mirror")
    if label is not None:
        cfg.partition_folder(label)  # an unknown label or missing folder: one line before anything runs
    labels = [label] if label is not None else [p.label for p in cfg.partitions]
    if not labels:
        raise UsageError("no partitions are configured; add [[partitions]] to the configuration")
    target_for(cfg, labels[0])  # so is a missing or malformed mirror.target
    summaries: list[dict] = []
    failures: list[tuple[str, IcefloeError]] = []
    with open_catalog() as catalog:
        for name in labels:
            try:
                with progress_bar(f"mirror {name}") as bar:
                    result = run_mirror(
                        cfg, name, catalog=catalog, dry_run=dry_run, allow_empty=allow_empty,
                        max_delete=max_delete, progress=bar, check=False, checksum=checksum,
                    )
            except IcefloeError as exc:
                failures.append((name, exc))
                summaries.append({"version": RESULT_VERSION, "label": name, "ok": False, "error": exc.message})
                if len(labels) > 1:
                    info(f"{name}: not mirrored: {exc.message}")
                continue
            summaries.append(result.summary())
            info(_describe(result))
            for warning in result.warnings:
                info(f"{name}: warning: {warning}")
            if dry_run and not as_json:
                for line in result.changes:
                    typer.echo(line)
                if result.changes_total > len(result.changes):
                    info(f"{name}: ... and {result.changes_total - len(result.changes)} more change(s)")
            if result.error is not None:
                failures.append((name, result.error))
                if len(labels) > 1:
                    info(f"{name}: not mirrored: {result.error.message}")
    if as_json:
        print_json(summaries)
    if len(failures) == 1 and len(labels) == 1:
        raise failures[0][1]
    if failures:
        names = ", ".join(name for name, _ in failures)
        raise MirrorFailed(f"{len(failures)} of {len(labels)} partitions were not mirrored ({names}); see above")
