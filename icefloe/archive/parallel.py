"""Running archive work on every core: py7zr compresses on one thread, so icefloe uses processes.

A ``Runner`` maps a function over jobs and returns the results in job order. ``InlineRunner``
runs them here, one after the other (``workers=1``, and tests that monkeypatch). ``PoolRunner``
runs them in ``spawn``ed processes: ``fork`` is unsafe in a process with threads, and Prefect
runs tasks in threads. Workers report progress through one shared counter that the parent
publishes while it waits; the first failure cancels what has not started and is raised.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from icefloe.progress import Progress

J = TypeVar("J")
R = TypeVar("R")
# Jobs get a ``report(nbytes)`` callable for progress.
WorkFn = Callable[[Any, Callable[[int], None] | None], Any]

_counter: Any = None  # the worker's shared progress counter (a multiprocessing.Value)


def _init_worker(counter: Any) -> None:
    global _counter
    _counter = counter


def _report(nbytes: int) -> None:
    with _counter.get_lock():
        _counter.value += nbytes


def _call(fn: WorkFn, job: Any) -> Any:
    return fn(job, _report if _counter is not None else None)


class InlineRunner:
    """Runs jobs in this process, in order."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def map(self, fn: WorkFn, jobs: Sequence[Any], order: Sequence[int] | None = None) -> list[Any]:
        results: dict[int, Any] = {}
        for i in order if order is not None else range(len(jobs)):
            results[i] = fn(jobs[i], self._progress.on_progress)
        return [results[i] for i in range(len(jobs))]

    def close(self) -> None:
        pass


class PoolRunner:
    """Runs jobs in ``workers`` processes; ``order`` is the submission order (longest first)."""

    def __init__(self, workers: int, progress: Progress, poll_s: float = 0.2) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._counter = ctx.Value("q", 0)
        self._seen = 0
        self._progress = progress
        self._poll_s = poll_s
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(self._counter,)
        )

    def _publish(self) -> None:
        with self._counter.get_lock():
            now = self._counter.value
        if now != self._seen:
            self._progress.on_progress(now - self._seen)
            self._seen = now

    def map(self, fn: WorkFn, jobs: Sequence[Any], order: Sequence[int] | None = None) -> list[Any]:
        futures: dict[Future, int] = {}
        for i in order if order is not None else range(len(jobs)):
            futures[self._pool.submit(_call, fn, jobs[i])] = i
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=self._poll_s, return_when=FIRST_EXCEPTION)
                self._publish()
                for fut in done:
                    if fut.exception() is not None:
                        raise fut.exception()  # type: ignore[misc]
        except BaseException:
            for fut in pending:
                fut.cancel()
            wait(pending)  # let running jobs finish before the caller removes their files
            raise
        self._publish()
        results = {futures[f]: f.result() for f in futures}
        return [results[i] for i in range(len(jobs))]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_runner(workers: int, progress: Progress) -> InlineRunner | PoolRunner:
    return PoolRunner(workers, progress) if workers > 1 else InlineRunner(progress)
