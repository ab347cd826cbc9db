"""The clear tasks: gates read at that moment, the plan, and a staged move a transaction settles.

``stage_clear`` moves the partition's archived files into its trash folder; its ``on_commit``
hook purges them and its ``on_rollback`` hook puts them back, so the flow wraps it in a
Prefect transaction (docs/clear.md). The hooks receive only the transaction, so the task keeps
what they need there (the staged clear without its file list, and the config); the moved files
are read back from the clear's journal. Every task reads live state, so none is cached. The
tasks hand ``ClearSummary`` records (icefloe.clear.summary) to each other and to the flow.
"""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.transactions import Transaction, get_transaction

from icefloe.catalog import Catalog
from icefloe.clear import Gate, PartitionClear, StagedClear, gate_error, recover
from icefloe.clear.summary import ClearSummary, confirm_settled
from icefloe.clear.trash import rollback_staged
from icefloe.partitions import finish_handover
from icefloe.units import exact_size
from tasks.common import artifact_key, settings_for, stage


def _gate_rows(label: str, gates: list[Gate]) -> list[dict[str, str]]:
    if not gates:
        return [{"gate": "-", "subject": f"partition:{label}", "status": "ok",
                 "detail": "every archive set of this partition is cleared already"}]
    return [{"gate": g.kind, "subject": g.subject, "status": "ok" if g.ok else "missing",
             "detail": g.detail} for g in gates]


def report_markdown(summary: ClearSummary, *, dry_run: bool, active: str | None = None) -> str:
    """What a clear removed (or would remove) and what it kept, and why."""
    label = summary.label
    verb = "would remove" if dry_run else "removed"
    head = f"### Clear of {label}: {'dry run' if dry_run else 'done'}"
    lines = [
        head, "",
        "| figure | value |", "|---|---|",
        f"| partition | `{summary.partition}` |",
        f"| archive sets | {', '.join(summary.sets) or 'none pending'} |",
        f"| files {verb} | {summary.files:,} |",
        f"| bytes {verb} | {exact_size(summary.bytes)} |",
        f"| files kept | {summary.kept:,} |",
    ]
    if active is not None:
        lines.append(f"| active partition now | {active} |")
    if summary.paths:
        lines += ["", f"**Files {verb}:**", "```", *summary.paths, "```"]
        if summary.files > len(summary.paths):
            lines.append(f"... and {summary.files - len(summary.paths):,} more")
    if summary.kept_paths:
        lines += ["", "**Kept:**", "", "| path | why |", "|---|---|"]
        lines += [f"| `{p}` | {why} |" for p, why in summary.kept_paths]
        if summary.kept > len(summary.kept_paths):
            lines.append(f"\n... and {summary.kept - len(summary.kept_paths):,} more")
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


@stage(name="plan-clear", task_run_name="plan clear {label}", cache_policy=NO_CACHE)
def plan_clear_task(label: str, config: str | None = None, dry_run: bool = False) -> ClearSummary:
    """What a clear would remove and keep (reads only); a dry run publishes it as an artifact."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        summary = ClearSummary.of_plan(PartitionClear.from_settings(catalog, settings, label).plan())
    if dry_run:
        create_markdown_artifact(report_markdown(summary, dry_run=True),
                                 key=artifact_key("clear", label), description=f"clear {label} (dry run)")
    get_run_logger().info("%s: %d files (%s) to remove, %d kept", label, summary.files,
                          exact_size(summary.bytes), summary.kept)
    return summary


@stage(
    name="stage-clear",
    task_run_name="stage clear {label}",
    # A failed stage has put every file back, so another attempt is safe.
    cache_policy=NO_CACHE,  # an action on the partition as it is now
)
def stage_clear(label: str, config: str | None = None) -> ClearSummary:
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
        txn.set("clear", (_target(staged), config))
    logger.info("%s: %d files moved to %s", label, len(staged.moved), staged.stamp_dir)
    return ClearSummary.of_staged(plan, staged)


@stage(name="recover-clear", task_run_name="recover clear {label}", cache_policy=NO_CACHE)
def recover_clear(label: str, config: str | None = None) -> list[str]:
    """Finish (or undo) a clear a crash interrupted, before anything else reads the partition."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        done = recover(settings.partition(label).path, catalog)
    for item in done:
        get_run_logger().warning("%s: an interrupted clear (%s) was %s", label, item.stamp, item.action)
    return [f"{item.stamp} {item.action}" for item in done]


def _target(staged: StagedClear) -> StagedClear:
    """Commit and rollback read the moved files from the journal; they need only where it is."""
    return StagedClear(staged.label, staged.partition, staged.stamp, staged.sets, ())


def _hook_target(txn: Transaction) -> tuple[StagedClear, str | None] | None:
    try:
        return txn.get("clear")
    except ValueError:  # the stage failed before it moved anything (and put back what it had)
        return None


@stage_clear.on_commit
def _purge_on_commit(txn: Transaction) -> None:
    target = _hook_target(txn)
    if target is None:
        return
    staged, config = target
    settings = settings_for(config)
    try:
        with Catalog.open(settings.catalog_path) as catalog:
            clear = PartitionClear.from_settings(catalog, settings, staged.label)
            # Built from the target, not the journal, so a second run after a commit is a no-op.
            clear.commit(staged)
    except Exception as exc:
        # Prefect rolls back after a failed commit hook and logs the error; keep it for the flow.
        txn.set("commit_error", f"{type(exc).__name__}: {exc}")
        raise


@stage_clear.on_rollback
def _restore_on_rollback(txn: Transaction) -> None:
    target = _hook_target(txn)
    if target is None:
        return
    staged = target[0]
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


@stage(name="confirm-clear", task_run_name="confirm clear {staged.label}", cache_policy=NO_CACHE)
def confirm_clear(staged: ClearSummary, config: str | None = None, commit_error: str | None = None) -> None:
    """Check what the transaction did: committed (sets cleared, trash gone) or rolled back."""
    with Catalog.open(settings_for(config).catalog_path) as catalog:
        confirm_settled(catalog, staged, commit_error)


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
def report_clear(label: str, summary: ClearSummary, active: str) -> None:
    """The removed and kept files as a markdown artifact ``clear-<label>``."""
    create_markdown_artifact(report_markdown(summary, dry_run=False, active=active),
                             key=artifact_key("clear", label), description=f"clear {label}")
