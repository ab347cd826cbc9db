"""The clear tasks: gates read at that moment, the plan, and a staged move a transaction settles.

``stage_clear`` moves the partition's archived files into its trash folder; its ``on_commit``
hook purges them and its ``on_rollback`` hook puts them back, so the flow wraps it in a
Prefect transaction (docs/clear.md). The hooks receive only the transaction, so the task keeps
what they need there (partition path, stamp, sets, config); the moved files are read back from
the clear's journal. Every task reads live state, so none is cached.
"""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.transactions import Transaction, get_transaction

from icefloe.catalog import Catalog
from icefloe.clear import (
    TRASH_DIR,
    ClearIncomplete,
    ClearPlan,
    Gate,
    PartitionClear,
    StagedClear,
    gate_error,
    recover,
)
from icefloe.clear.trash import rollback_staged
from icefloe.errors import IcefloeError, UsageError
from icefloe.partitions import finish_handover
from icefloe.units import exact_size
from tasks.common import artifact_key, settings_for, stage

LIST_LIMIT = 200  # paths listed in an artifact or a task result; the counts are always whole


def _gate_rows(label: str, gates: list[Gate]) -> list[dict[str, str]]:
    if not gates:
        return [{"gate": "-", "subject": f"partition:{label}", "status": "ok",
                 "detail": "every archive set of this partition is cleared already"}]
    return [{"gate": g.kind, "subject": g.subject, "status": "ok" if g.ok else "missing",
             "detail": g.detail} for g in gates]


def plan_summary(plan: ClearPlan) -> dict[str, Any]:
    """The plan as a small picklable value: counts in full, paths up to LIST_LIMIT."""
    return {
        "label": plan.label, "partition": plan.partition, "sets": list(plan.sets),
        "files": len(plan.entries), "bytes": plan.total_bytes,
        "paths": list(plan.files[:LIST_LIMIT]),
        "kept": len(plan.kept), "kept_paths": [[k.path, k.reason] for k in plan.kept[:LIST_LIMIT]],
    }


def report_markdown(summary: dict[str, Any], *, dry_run: bool, active: str | None = None) -> str:
    """What a clear removed (or would remove) and what it kept, and why."""
    label = summary["label"]
    verb = "would remove" if dry_run else "removed"
    head = f"### Clear of {label}: {'dry run' if dry_run else 'done'}"
    lines = [
        head, "",
        "| figure | value |", "|---|---|",
        f"| partition | `{summary['partition']}` |",
        f"| archive sets | {', '.join(summary['sets']) or 'none pending'} |",
        f"| files {verb} | {summary['files']:,} |",
        f"| bytes {verb} | {exact_size(summary['bytes'])} |",
        f"| files kept | {summary['kept']:,} |",
    ]
    if active is not None:
        lines.append(f"| active partition now | {active} |")
    if summary["paths"]:
        lines += ["", f"**Files {verb}:**", "```", *summary["paths"], "```"]
        if summary["files"] > len(summary["paths"]):
            lines.append(f"... and {summary['files'] - len(summary['paths']):,} more")
    if summary["kept_paths"]:
        lines += ["", "**Kept:**", "", "| path | why |", "|---|---|"]
        lines += [f"| `{p}` | {why} |" for p, why in summary["kept_paths"]]
        if summary["kept"] > len(summary["kept_paths"]):
            lines.append(f"\n... and {summary['kept'] - len(summary['kept_paths']):,} more")
    return "\n".join(lines) + "\n"


@stage(
    name="check-gates",
    task_run_name="check gates {label}",
    cache_policy=NO_CACHE,  # gates are read from the catalog at this moment, never remembered
)
def check_gates_task(label: str, config: str | None = None) -> int:
    """Every clear gate as a table artifact; fails with GateNotMet's one line if any is missing."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        clear = PartitionClear.from_settings(catalog, settings, label)
        gates = clear.gates()
        create_table_artifact(
            _gate_rows(label, gates), key=artifact_key("clear-gates", label),
            description=f"clear gates of {label}: {sum(not g.ok for g in gates)} missing",
        )
    error = gate_error(label, gates)  # the same reading the table shows
    if error is not None:
        raise error
    get_run_logger().info("%s: all %d clear gates hold", label, len(gates))
    return len(gates)


@stage(
    name="plan-clear",
    task_run_name="plan clear {label}",
    cache_policy=NO_CACHE,
)
def plan_clear_task(label: str, config: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """What a clear would remove and keep (reads only); a dry run publishes it as an artifact."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        summary = plan_summary(PartitionClear.from_settings(catalog, settings, label).plan())
    if dry_run:
        create_markdown_artifact(report_markdown(summary, dry_run=True),
                                 key=artifact_key("clear", label), description=f"clear {label} (dry run)")
    get_run_logger().info("%s: %d files (%s) to remove, %d kept", label, summary["files"],
                          exact_size(summary["bytes"]), summary["kept"])
    return summary


def require_confirmation(summary: dict[str, Any], confirm: bool) -> None:
    if not confirm:
        raise UsageError(
            f"clearing {summary['label']} deletes {summary['files']} files ({exact_size(summary['bytes'])}) "
            f"from {summary['partition']}; run again with confirm=True, or dry_run=True to list them"
        )


@stage(
    name="stage-clear",
    task_run_name="stage clear {label}",
    # A failed stage has put every file back, so another attempt is safe.
    cache_policy=NO_CACHE,  # an action on the partition as it is now
)
def stage_clear(label: str, config: str | None = None) -> dict[str, Any]:
    """Finish any clear a crash interrupted, re-read the gates, move the files into the trash.

    Run it inside ``transaction()``: commit purges the trash, rollback puts the files back.
    """
    logger = get_run_logger()
    settings = settings_for(config)
    path = settings.partition(label).path
    with Catalog.open(settings.catalog_path) as catalog:
        for done in recover(path, catalog):
            logger.warning("%s: an interrupted clear (%s) was %s first", label, done.stamp, done.action)
        clear = PartitionClear.from_settings(catalog, settings, label)
        plan = clear.plan()
        staged = clear.stage(plan)
    txn = get_transaction()
    if txn is not None:  # what the hooks need; they get nothing but the transaction
        txn.set("clear", {"label": label, "partition": str(path), "stamp": staged.stamp,
                          "sets": list(staged.sets), "config": config})
    logger.info("%s: %d files moved to %s", label, len(staged.moved), staged.stamp_dir)
    summary = plan_summary(plan)
    moved = set(staged.moved)
    summary.update(
        stamp=staged.stamp, files=len(staged.moved),
        bytes=sum(e.size for e in plan.entries if e.path in moved),
        paths=list(staged.moved[:LIST_LIMIT]), kept=len(staged.kept),
        kept_paths=[[k.path, k.reason] for k in staged.kept[:LIST_LIMIT]],
    )
    return summary


@stage(
    name="recover-clear",
    task_run_name="recover clear {label}",
    cache_policy=NO_CACHE,
)
def recover_clear(label: str, config: str | None = None) -> list[str]:
    """Finish (or undo) a clear a crash interrupted, before anything else reads the partition."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        done = recover(settings.partition(label).path, catalog)
    for item in done:
        get_run_logger().warning("%s: an interrupted clear (%s) was %s", label, item.stamp, item.action)
    return [f"{item.stamp} {item.action}" for item in done]


def _hook_target(txn: Transaction) -> dict[str, Any] | None:
    try:
        return txn.get("clear")
    except ValueError:  # the stage failed before it moved anything (and put back what it had)
        return None


def _staged(target: dict[str, Any]) -> StagedClear:
    """Commit and rollback read the moved files from the journal; they need only where it is."""
    return StagedClear(target["label"], target["partition"], target["stamp"], tuple(target["sets"]), ())


@stage_clear.on_commit
def _purge_on_commit(txn: Transaction) -> None:
    target = _hook_target(txn)
    if target is None:
        return
    settings = settings_for(target["config"])
    try:
        with Catalog.open(settings.catalog_path) as catalog:
            clear = PartitionClear.from_settings(catalog, settings, target["label"])
            # Built from the target, not the journal, so a second run after a commit is a no-op.
            clear.commit(_staged(target))
    except Exception as exc:
        # Prefect rolls back after a failed commit hook and logs the error; keep it for the flow.
        txn.set("commit_error", f"{type(exc).__name__}: {exc}")
        raise


@stage_clear.on_rollback
def _restore_on_rollback(txn: Transaction) -> None:
    target = _hook_target(txn)
    if target is None:
        return
    staged = _staged(target)
    left = rollback_staged(staged)  # a stamp already gone (hooks may run twice) is a no-op
    if left:
        txn.logger.error("%d files could not be put back (first: %s); they stay in %s",
                         len(left), left[0], staged.stamp_dir)


def failed_commit(txn: Transaction) -> str | None:
    """The error a commit hook of this transaction's tasks kept, if one failed."""
    for child in txn.children:
        error = child.get("commit_error", None)
        if error:
            return error
    return None


@stage(
    name="confirm-clear",
    task_run_name="confirm clear {label}",
    cache_policy=NO_CACHE,
)
def confirm_clear(label: str, stamp: str, sets: list[str], config: str | None = None,
                  commit_error: str | None = None) -> bool:
    """Check what the transaction did: committed (sets cleared, trash gone) or rolled back."""
    settings = settings_for(config)
    stamp_dir = settings.partition(label).path / TRASH_DIR / stamp
    with Catalog.open(settings.catalog_path) as catalog:
        cleared = all((s := catalog.get_archive_set(name)) is not None and s.cleared_at for name in sets)
    why = commit_error or "the commit did not finish"
    if stamp_dir.exists():
        raise ClearIncomplete(
            f"clearing {label} failed ({why}) and some files could not be put back; look in "
            f"{stamp_dir}, then run clear again"
        )
    if not cleared:
        raise IcefloeError(
            f"clearing {label} failed after the files were moved ({why}); every file was put "
            "back and nothing was cleared: fix the cause, then run clear again"
        )
    return True


@stage(
    name="switch-active-partition",
    task_run_name="switch active partition from {label}",
    cache_policy=NO_CACHE,
)
def switch_active_partition(label: str, config: str | None = None) -> str:
    """After a clear: the other partition becomes active when this one still is, once per
    committed clear (``finish_handover``), also when a crash stopped the clear that owed it."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        active = finish_handover(catalog, settings, label)
    get_run_logger().info("active partition: %s", active)
    return active


@stage(name="report-clear", task_run_name="report clear {label}", cache_policy=NO_CACHE)
def report_clear(label: str, summary: dict[str, Any], active: str) -> None:
    """The removed and kept files as a markdown artifact ``clear-<label>``."""
    create_markdown_artifact(report_markdown(summary, dry_run=False, active=active),
                             key=artifact_key("clear", label), description=f"clear {label}")
