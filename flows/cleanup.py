"""Abort multipart uploads left open longer than a given age (weekly).

An upload a crash left behind is resumed by rerunning it, but one nobody reruns still costs
storage. This lists the open uploads of the configured vault or bucket and aborts those older
than `older_than_hours`; the table artifact `stale-uploads` lists what was aborted.
"""

from __future__ import annotations

from prefect import flow

from flows.stages import names_failed_stage
from icefloe.coldstore import OpenUpload
from tasks.upload import abort_stale_uploads_task


@flow(name="cleanup-uploads", flow_run_name="cleanup uploads", description=__doc__)
@names_failed_stage
def cleanup_uploads(older_than_hours: float = 24, config: str | None = None) -> list[OpenUpload]:
    """Abort the multipart uploads open longer than ``older_than_hours``.

    Args:
        older_than_hours: age after which an open upload counts as abandoned.
        config: the icefloe.toml to use (default: $ICEFLOE_CONFIG, else ./icefloe.toml).
    """
    return abort_stale_uploads_task(older_than_hours, config)
