"""What every icefloe task shares: which failures are retried and how often, artifact keys,
and progress as an artifact."""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.logging import get_run_logger
from prefect.tasks import exponential_backoff

from icefloe.catalog import Catalog
from icefloe.config import Settings, load_settings
from icefloe.errors import IcefloeError
from icefloe.progress import Progress, ProgressCounter


def is_transient(exc: BaseException) -> bool:
    """Retry only what may pass: icefloe's retryable errors and OS-level I/O trouble."""
    if isinstance(exc, IcefloeError):
        return exc.retryable
    return isinstance(exc, (ConnectionError, TimeoutError))


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` for tasks: retries transient failures, never bad input."""
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 - we only classify it
        return is_transient(exc)
    return False


# One retry policy for every stage. The library already retries a single request with its own
# backoff (icefloe.coldstore.awserrors), so a stage retry is for an outage: waits of 30 s, 60 s
# and 120 s ride out a router or server reboot, and only transient errors are retried at all.
RETRIES = 3
RETRY_BACKOFF_S = 30
RETRY = {
    "retries": RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=RETRY_BACKOFF_S),
    "retry_jitter_factor": 0.2,
    "retry_condition_fn": retry_if_transient,
}

ARTIFACT_SUBJECT_MAX = 60


def artifact_key(prefix: str, subject: str = "") -> str:
    """``prefix-subject`` as Prefect allows artifact keys: lowercase letters, digits, dashes."""
    slug = re.sub(r"[^a-z0-9-]+", "-", subject.lower()).strip("-")[:ARTIFACT_SUBJECT_MAX].strip("-")
    return f"{prefix}-{slug}" if slug else prefix


STAGE_LABEL = "icefloe.stage"
_failed_stages: dict[Any, list[tuple[str, BaseException]]] = {}
_failed_lock = threading.Lock()


def remember_failure(task: Any, task_run: Any, state: Any) -> None:
    """``on_failure`` hook: note the failed stage and its error for the flow run, in this
    process, so the flow's failure can name it (the server may learn of it only later)."""
    try:
        error = state.result(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 - an unreadable result still names the stage
        error = exc
    if not isinstance(error, BaseException):
        error = IcefloeError(state.message or "failed")
    with _failed_lock:
        _failed_stages.setdefault(str(task_run.flow_run_id), []).append((task_run.name, error))


def failed_stages(flow_run_id: Any) -> list[tuple[str, BaseException]]:
    """The stages of a flow run that failed in this process, first first; forgets them."""
    with _failed_lock:
        return _failed_stages.pop(str(flow_run_id), [])


# A label update waits on the server's database write: about 2 s on the SQLite a household
# server runs, which every stage paid before its work. One thread sends them in order instead.
_labeller = ThreadPoolExecutor(max_workers=1, thread_name_prefix="icefloe-stage-label")
_log = logging.getLogger("icefloe.stages")


def _send_label(flow_run_id: Any, name: str) -> None:
    try:
        from prefect import get_client

        with get_client(sync_client=True) as client:
            client.update_flow_run_labels(flow_run_id, {STAGE_LABEL: name})
    except Exception as exc:  # noqa: BLE001 - a label must never fail the work
        _log.debug("stage label not set: %s", exc)


def _label_stage() -> None:
    """Label the flow run with the stage that starts, so a run whose process died (no failure
    of its own to report) is notified with the stage it was in. Sent beside the work (with
    this context's Prefect settings), not before it."""
    from prefect.context import TaskRunContext

    context = TaskRunContext.get()
    run = context.task_run if context else None
    if run is None or run.flow_run_id is None:
        return
    _labeller.submit(contextvars.copy_context().run, _send_label, run.flow_run_id, run.name)


def stage(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``@task`` for an icefloe stage, retried by ``RETRY``: as it starts it labels its flow run
    with its name, and a failure is remembered so the flow's failure names it (flows/stages.py)."""

    def decorate(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)  # Prefect reads the signature and source through __wrapped__
        def run(*args: Any, **kwargs: Any) -> Any:
            _label_stage()
            return fn(*args, **kwargs)

        hooks = [remember_failure, *options.pop("on_failure", [])]
        return task(on_failure=hooks, **{**RETRY, **options})(run)

    return decorate


def settings_for(config: str | None) -> Settings:
    """Settings for a flow run: the named file, else $ICEFLOE_CONFIG, else ./icefloe.toml."""
    return load_settings(Path(config) if config else None, os.environ)


@contextmanager
def catalog_and_store(settings: Settings) -> Iterator[tuple[Catalog, Any]]:
    """The catalog, open, and the configured vault or bucket (a ColdStore) that records in it."""
    from icefloe.coldstore import open_coldstore  # boto3: only for the stages that need it

    with Catalog.open(settings.catalog_path) as catalog:
        yield catalog, open_coldstore(settings.coldstore, catalog)


def named_by_file(verb: str, parameter: str) -> Callable[..., str]:
    """A ``task_run_name`` naming the stage by a file's name, not its full path, so the run's
    stage list and every log line stay short: "upload photos-a-20261201T020000Z.7z.001"."""

    def name(parameters: dict[str, Any]) -> str:
        return f"{verb} {Path(str(parameters.get(parameter) or '')).name}"

    return name


# While the CLI runs a flow in this process, each stage is drawn on the terminal too.
_TERMINAL: list[Callable[[str], Progress]] = []


@contextmanager
def stage_bars(make_bar: Callable[[str], Progress]) -> Iterator[None]:
    """While open, the progress of every stage run in this process also goes to
    ``make_bar(stage description)`` (the CLI draws a rich bar per stage)."""
    _TERMINAL.append(make_bar)
    try:
        yield
    finally:
        _TERMINAL.remove(make_bar)


class ArtifactProgress(ProgressCounter):
    """The progress contract published as a Prefect progress artifact, updated in place (and
    drawn on the terminal inside ``stage_bars``). A stage that finishes ends at 100%, also
    one whose total was not known ahead; one that fails keeps the figure it reached."""

    def __init__(self, description: str, interval: float = 2.0) -> None:
        super().__init__(interval=interval)
        self._finished = False
        self._artifact_id = create_progress_artifact(progress=0.0, description=description)
        self._bars = [make(description) for make in list(_TERMINAL)]

    def on_queued(self, total: int, label: str) -> None:
        super().on_queued(total, label)
        for bar in self._bars:
            bar.on_queued(total, label)

    def on_progress(self, nbytes: int) -> None:
        super().on_progress(nbytes)
        for bar in self._bars:
            bar.on_progress(nbytes)

    @property
    def percent(self) -> float:
        return 100.0 if self._finished else super().percent

    def flush(self) -> None:
        try:
            update_progress_artifact(self._artifact_id, progress=round(self.percent, 1))
        except Exception as exc:  # noqa: BLE001 - progress must never fail the work
            get_run_logger().debug("progress artifact not updated: %s", exc)

    def on_done(self) -> None:
        # The contract calls on_done from a ``finally``: an error on its way out means a failure.
        self._finished = sys.exc_info()[1] is None
        super().on_done()
        for bar in self._bars:
            bar.on_done()
