"""A failed flow run names its failed stage.

When a stage fails, the stages waiting for it never run, and the flow often fails on one of
those ("upstream task failed"): the flow's own error then hides the reason. Every icefloe flow
re-raises a stage's failure as :class:`StageFailed`, naming the stage (its task run name, as
the UI shows it) and carrying the stage's own error and exit code. The run's state message,
which the notifications quote, then reads "archive-partition failed at consolidate photos-a:
<reason>".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from prefect.runtime import flow_run

from icefloe.errors import IcefloeError, StageFailed
from tasks.common import failed_stages

F = TypeVar("F", bound=Callable[..., Any])


def names_failed_stage(fn: F) -> F:
    """Wrap a flow function: a stage's failure leaves it as StageFailed (under ``@flow``)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StageFailed:
            raise
        except Exception as exc:
            stage, cause = failed_stage(flow_run.id)
            if cause is None:
                raise  # no stage failed: the flow's own error (bad input, a disc not inserted)
            if isinstance(exc, IcefloeError):
                if str(exc) not in str(cause):
                    raise  # the flow's own summary of its stages says more
                cause = exc  # the stage's error as it was raised, its type and exit code intact
            raise StageFailed(flow_run.flow_name or fn.__name__, stage, cause) from exc
        finally:
            failed_stages(flow_run.id)  # forget them: also the ones the flow handled itself

    return run  # type: ignore[return-value]


def failed_stage(flow_run_id: Any) -> tuple[str | None, BaseException | None]:
    """The first task run of a flow run that failed, and its exception: as this process saw
    it fail, else as the server has it (a run that this process only watched)."""
    seen = failed_stages(flow_run_id)
    if seen:
        return seen[0]
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    if flow_run_id is None:
        return None, None
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
        )
    for run in runs:
        if run.state is None or not (run.state.is_failed() or run.state.is_crashed()):
            continue
        try:
            error = run.state.result(raise_on_failure=False)
        except Exception as exc:  # noqa: BLE001 - an unreadable result still names the stage
            error = IcefloeError(run.state.message or str(exc))
        if not isinstance(error, BaseException):
            error = IcefloeError(run.state.message or "failed")
        return run.name, error
    return None, None
