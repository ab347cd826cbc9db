"""Look for what waits on the owner, once a day: a partition above its fill threshold whose
archive has not started, and an archive set whose clear has waited on its gates for more than
notify.gate_wait_days. Each is emitted as a Prefect event; the "icefloe: needs attention"
automation (`icefloe notify install`) sends it to the configured channels. Once a week the
weekly-summary flow sends the household the week in plain words (icefloe/summary.py).
"""

from __future__ import annotations

from prefect import flow

from flows.stages import names_failed_stage
from icefloe.summary import Summary
from tasks.watch import emit_concerns_task, emit_summary_task


@flow(name="watch-partitions", flow_run_name="watch partitions", description=__doc__)
@names_failed_stage
def watch_partitions(config: str | None = None) -> list[str]:
    """Emit one event per concern; returns them as "kind: subject".

    Args:
        config: the icefloe.toml to use (default: $ICEFLOE_CONFIG, else ./icefloe.toml).
    """
    return emit_concerns_task(config)


@flow(name="weekly-summary", flow_run_name="weekly summary",
      description="The week in plain words: is everything safe, what was archived, what it costs.")
@names_failed_stage
def weekly_summary(config: str | None = None) -> Summary:
    """Emit the weekly summary; the "icefloe: weekly summary" automation sends it.

    Args:
        config: the icefloe.toml to use (default: $ICEFLOE_CONFIG, else ./icefloe.toml).
    """
    return emit_summary_task(config)
