"""Running a flow in this process, as the commands that start a whole routine do.

A failed run becomes its failed stage's one line, so the person sees which stage to look at.
"""

from __future__ import annotations

from typing import Any

from icefloe.cli.app import state
from icefloe.cli.prefect_edge import quiet_tracebacks
from icefloe.errors import IcefloeError, StageFailed


def run_flow(flow: Any, **params: Any) -> Any:
    """Run a flow in this process; a failed run becomes its failed stage's one line."""
    quiet_tracebacks()
    flow_state = flow(**params, return_state=True)
    if flow_state.is_completed():
        return flow_state.result()
    error = flow_state.result(raise_on_failure=False)
    if isinstance(error, IcefloeError):
        raise error
    from flows.stages import failed_stage

    stage, cause = failed_stage(flow_state.state_details.flow_run_id)
    if cause is not None:
        raise StageFailed(flow.name, stage, cause)
    raise StageFailed(flow.name, None, error if isinstance(error, BaseException) else
                      IcefloeError(flow_state.message or "the run did not finish"))


def config_param() -> str | None:
    """The --config file as a flow parameter: an absolute path, or None for the default."""
    path = state().config_path
    return str(path.resolve()) if path else None
