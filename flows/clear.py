"""Clear a backup partition once every copy of its data is verified, then make the other one active.

Every gate of DESIGN.md is read from the catalog at that moment: each archive passed testzip, is
in cold storage with a matching server checksum and confirmed by an inventory (vault) or HEAD
(s3), each disc image was verified (and burned and read back when a burner is configured), and
the last mirror run succeeded. A missing gate fails the run and changes nothing (see the
`clear-gates-<label>` artifact). The files are first moved to a trash folder on the partition
inside a Prefect transaction: commit purges them, any failure puts them back. Needs
`confirm=True`; `dry_run=True` lists what would go (artifact `clear-<label>`).
"""

from __future__ import annotations

from datetime import datetime, timezone

from prefect import flow
from prefect.transactions import transaction

from flows.stages import names_failed_stage
from icefloe.clear.summary import ClearRun
from tasks.archive import hold_partition
from tasks.clear import (
    check_gates_task,
    confirm_clear,
    failed_commit,
    plan_clear_task,
    recover_clear,
    report_clear,
    stage_clear,
    switch_active_partition,
)
from tasks.snapshot import snapshot_catalog_task


@flow(name="clear-partition", flow_run_name="clear {label}", description=__doc__)
@names_failed_stage
def clear_partition_flow(
    label: str, confirm: bool = False, dry_run: bool = False, config: str | None = None
) -> ClearRun:
    """Clear one partition behind its gates; returns what was removed and the active partition.

    Args:
        label: the partition to clear, as configured in [[partitions]].
        confirm: really delete; without it (and without dry_run) the run fails before any change.
        dry_run: list what would be removed and kept, change nothing.
        config: the icefloe.toml to use (default: $ICEFLOE_CONFIG, else ./icefloe.toml).
    """
    if not dry_run:
        hold_partition(label, config, "clear")  # one archive or clear of a partition at a time
        recover_clear(label, config)
    check_gates_task(label, config)
    plan = plan_clear_task(label, config, dry_run=dry_run)
    if dry_run:
        return ClearRun(plan, dry_run=True, cleared=False)
    if not plan.sets:  # nothing pending; a clear a crash stopped may still owe the switch
        return ClearRun(plan, dry_run=False, cleared=False, active=switch_active_partition(label, config))
    plan.require_confirmation(confirm)
    stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}"
    # Nothing is written on commit: the key names this attempt in the logs and never matches
    # an earlier one, so a retried run stages and commits afresh.
    with transaction(key=f"clear-{label}-{stamp}", write_on_commit=False) as txn:
        staged = stage_clear(label, config)
    confirm_clear(staged, config, failed_commit(txn))
    active = switch_active_partition(label, config)
    report_clear(label, staged, active)
    snapshot = snapshot_catalog_task(config)  # the cleared state goes offsite too
    return ClearRun(staged, dry_run=False, cleared=True, active=active, snapshot=snapshot)
