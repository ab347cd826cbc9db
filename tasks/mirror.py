"""The mirror task: one partition, one rsync run, retried with backoff on connection trouble."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from icefloe.catalog import Catalog
from icefloe.errors import IcefloeError
from icefloe.mirror import MirrorResult, MirrorSummary, run_mirror
from icefloe.units import exact_size
from tasks.common import ArtifactProgress, artifact_key, settings_for, stage

ARTIFACT_CHANGES = 50


def report_markdown(label: str, result: MirrorResult | None, error: IcefloeError | None) -> str:
    """The run as a small markdown report: figures, warnings, the error, the first changes."""
    if result is None:
        return f"### Mirror of {label}: not run\n\n**{error.message if error else 'unknown error'}**\n"
    status = "dry run" if result.dry_run else "ok" if result.ok else f"FAILED (rsync exit {result.exit_code})"
    lines = [
        f"### Mirror of {label} to `{result.target}`: {status}",
        "",
        "| figure | value |",
        "|---|---|",
        f"| files transferred | {result.files_transferred:,} |",
        f"| files deleted | {result.files_deleted:,} |",
        f"| bytes sent | {exact_size(result.bytes_sent)} |",
        f"| new data (literal) | {exact_size(result.literal_bytes)} |",
        f"| partition size | {exact_size(result.total_size)} |",
        f"| duration | {result.duration_s:.1f} s |",
        f"| rsync exit code | {result.exit_code} |",
    ]
    if result.error is not None:
        lines += ["", f"**Error:** {result.error.message}"]
    if result.warnings:
        lines += ["", "**Warnings:**", *(f"- {w}" for w in result.warnings)]
    if result.changes:
        shown = result.changes[:ARTIFACT_CHANGES]
        more = result.changes_total - len(shown)
        lines += ["", "**Changes** (rsync --itemize-changes):", "```", *shown, "```"]
        if more > 0:
            lines.append(f"... and {more:,} more")
    return "\n".join(lines) + "\n"


@stage(
    name="mirror-partition",
    task_run_name="mirror {label}",
    cache_policy=NO_CACHE,  # a mirror is an action on tonight's data: never reuse a result
)
def mirror_partition_task(
    label: str, config: str | None = None, dry_run: bool = False, checksum: bool = False
) -> MirrorSummary:
    """rsync one partition to the mirror target and record the run in the catalog.

    ``checksum`` compares every byte (rsync --checksum) instead of size and mtime.
    """
    logger = get_run_logger()
    settings = settings_for(config)
    progress = ArtifactProgress(f"mirror {label}")
    with Catalog.open(settings.catalog_path) as catalog:
        try:
            result = run_mirror(
                settings, label, catalog=catalog, dry_run=dry_run, progress=progress, check=False,
                checksum=checksum,
            )
        except IcefloeError as exc:
            create_markdown_artifact(
                report_markdown(label, None, exc), key=artifact_key("mirror", label), description=f"mirror {label}"
            )
            raise
    create_markdown_artifact(
        report_markdown(label, result, result.error), key=artifact_key("mirror", label), description=f"mirror {label}"
    )
    logger.info(
        "%s -> %s: exit %s, %s file(s) transferred, %s deleted, %s bytes sent, %.1f s%s",
        label,
        result.target,
        result.exit_code,
        result.files_transferred,
        result.files_deleted,
        result.bytes_sent,
        result.duration_s,
        " (dry run)" if dry_run else "",
    )
    for warning in result.warnings:
        logger.warning("%s: %s", label, warning)
    result.raise_for_status()
    return result.record()
