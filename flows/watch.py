"""Look for what waits on the owner, once a day: a partition above its fill threshold whose
archive has not started, and an archive set whose clear has waited on its gates for more than
notify.gate_wait_days. Each is emitted as a Prefect event; the "icefloe: needs attention"
automation (`icefloe notify install`) sends it to the configured channels.
"""

from __future__ import annotations

from prefect import flow

from flows.stages import names_failed_stage
from tasks.watch import emit_concerns_task


@flow(name="watch-partitions", flow_run_name="watch partitions", description=__doc__)
@names_failed_stage
def watch_partitions(config: str | None = None) -> list[str]:
    """Emit one event per concern; returns them as "kind: subject".

    Args:
        config: the icefloe.toml to use (default: $ICEFLOE_CONFIG, else ./icefloe.toml).
    """
    return emit_concerns_task(config)
