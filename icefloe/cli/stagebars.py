"""One rich progress bar per stage while a flow runs in this process (`icefloe archive`).

Each stage's progress artifact (tasks/common.py) also feeds a bar here, named by the stage
in a few words ("testzip photos-a-2026…", "upload …7z.001"), so a run reads as a list of
stages filling up in 80 columns. Off a terminal nothing is drawn: the log lines stay.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from icefloe.progress import ProgressCounter

NAME_WIDTH = 34


def short(text: str, width: int = NAME_WIDTH) -> str:
    """``text`` in at most ``width`` characters, its middle cut: both ends tell stages apart
    (the verb in front, the volume or disc number at the back)."""
    if len(text) <= width:
        return text.ljust(width)
    keep = width - 1
    back = 2 * keep // 3  # the end tells one volume or disc from the next
    return text[: keep - back] + "…" + text[len(text) - back:]


class StageBar(ProgressCounter):
    """The progress contract drawn as one line of a rich ``Progress``."""

    def __init__(self, bars: Any, task_id: Any) -> None:
        super().__init__(interval=0.1)
        self._bars, self._task_id = bars, task_id

    def flush(self) -> None:
        self._bars.update(self._task_id, total=self.total or None, completed=self.done)

    def on_done(self) -> None:
        if sys.exc_info()[1] is None:  # finished: a full bar, also when its total was unknown
            end = max(self.total, self.done, 1)
            self._bars.update(self._task_id, total=end, completed=end)
        else:
            self.flush()


@contextmanager
def stage_progress(console: Any = None) -> Iterator[list[StageBar]]:
    """Draw every stage that starts meanwhile; yields the bars made so far (for tests)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from tasks.common import stage_bars

    console = console or Console(stderr=True)
    made: list[StageBar] = []
    if not console.is_terminal:
        yield made
        return
    columns = (TextColumn("{task.description}"), BarColumn(bar_width=18), DownloadColumn(binary_units=True),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        def make(stage: str) -> StageBar:
            bar = StageBar(bars, bars.add_task(short(stage), total=None))
            made.append(bar)
            return bar

        with stage_bars(make):
            yield made
