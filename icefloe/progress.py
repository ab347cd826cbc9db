"""The progress contract between long-running library work and whoever shows it.

The library calls a ``Progress``; the CLI draws a rich bar from it and a Prefect task
updates a progress artifact. Calls may come from several threads at once.

Contract:
- ``on_queued(total, label)`` once, before any bytes move; ``total`` may be 0 when unknown.
- ``on_progress(nbytes)`` as bytes are done; negative when a retry rewinds.
- ``on_done()`` once, whether the work succeeded or not.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Progress(Protocol):
    def on_queued(self, total: int, label: str) -> None: ...

    def on_progress(self, nbytes: int) -> None: ...

    def on_done(self) -> None: ...


class NullProgress:
    """Progress that goes nowhere."""

    def on_queued(self, total: int, label: str) -> None:
        pass

    def on_progress(self, nbytes: int) -> None:
        pass

    def on_done(self) -> None:
        pass


class BytesOnly:
    """Passes only bytes (and rewinds) on to ``outer``: for the steps of one larger run, whose
    total and label were queued on ``outer`` once, and which ends there once."""

    def __init__(self, outer: Progress) -> None:
        self._outer = outer

    def on_queued(self, total: int, label: str) -> None:
        pass

    def on_progress(self, nbytes: int) -> None:
        self._outer.on_progress(nbytes)

    def on_done(self) -> None:
        pass


class ProgressCounter:
    """Thread-safe tally of a transfer, with the rate and ETA a display needs.

    Subclasses override ``flush`` to publish; it is called at most every ``interval``
    seconds (batched updates) and once at the end.
    """

    def __init__(self, interval: float = 0.5, clock=time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._interval = interval
        self.total = 0
        self.done = 0
        self.label = ""
        self.started = clock()
        self._last_flush = float("-inf")

    def on_queued(self, total: int, label: str) -> None:
        with self._lock:
            self.total, self.label, self.started = total, label, self._clock()
        self.flush()

    def on_progress(self, nbytes: int) -> None:
        with self._lock:
            self.done += nbytes
            now = self._clock()
            due = now - self._last_flush >= self._interval
            if due:
                self._last_flush = now
        if due:
            self.flush()

    def on_done(self) -> None:
        self.flush()

    @property
    def rate(self) -> float:
        elapsed = self._clock() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        rate = self.rate
        if rate <= 0 or not self.total:
            return None
        return max(self.total - self.done, 0) / rate

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0

    def flush(self) -> None:
        pass
