"""What every icefloe task shares: which failures are retried, and progress as an artifact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.logging import get_run_logger

from icefloe.config import Settings, load_settings
from icefloe.errors import IcefloeError
from icefloe.progress import ProgressCounter


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


def settings_for(config: str | None) -> Settings:
    """Settings for a flow run: the named file, else $ICEFLOE_CONFIG, else ./icefloe.toml."""
    return load_settings(Path(config) if config else None, os.environ)


class ArtifactProgress(ProgressCounter):
    """The progress contract published as a Prefect progress artifact, updated in place."""

    def __init__(self, description: str, interval: float = 2.0) -> None:
        super().__init__(interval=interval)
        self._artifact_id = create_progress_artifact(progress=0.0, description=description)

    def flush(self) -> None:
        try:
            update_progress_artifact(self._artifact_id, progress=round(self.percent, 1))
        except Exception as exc:  # noqa: BLE001 - progress must never fail the work
            get_run_logger().debug("progress artifact not updated: %s", exc)

    def on_done(self) -> None:
        if self.total:
            self.done = max(self.done, self.total)
        super().on_done()
