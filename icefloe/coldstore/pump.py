"""Sending a file's parts: a coordinator per upload, and one budget of senders, part buffers
and bandwidth shared by every upload of the process.

An upload's coordinator (the calling thread) lends a buffer from the :class:`Budget` for
each part in file order and hands the part to one of the budget's senders. The sender reads
the part into it, hands it to the whole-file SHA-256 (a thread of its own, fed in file
order), asks the backend whether the service already holds that part (a resume), and
otherwise sends it. A buffer goes back to the budget once its part is acknowledged (or has
failed) and is hashed, so all the volumes of a set uploading at once hold at most
``concurrency x part size`` bytes of parts between them, and share one bandwidth limit.

A failure leaves the multipart upload open and every acknowledged part recorded: the next
try (a task retry, a rerun, a UI Retry) asks the service which parts it holds and sends the
rest. Only ``uploads abort``, the stale-upload cleanup and an abandoned source abort one.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from icefloe.errors import IcefloeError
from icefloe.progress import Progress
from icefloe.coldstore import awserrors
from icefloe.coldstore.base import LocalFile
from icefloe.coldstore.throttle import MeteredBody, RateLimiter, Unlimited, limiter

R = TypeVar("R")
T = TypeVar("T")


class Budget:
    """Senders, part buffers and a bandwidth limit for the uploads that share it.

    Memory: at most ``concurrency x part_size`` bytes of part buffers are lent or kept for
    reuse at once (one larger part may go alone), however many uploads take from it. The
    buffers are reused, so their pages are faulted in once rather than for every part.
    """

    def __init__(
        self,
        concurrency: int,
        part_size: int,
        bandwidth_bps: int = 0,
        *,
        executor: Executor | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.limit = concurrency * part_size
        self.pace: RateLimiter | Unlimited = limiter(bandwidth_bps)
        self._executor = executor
        self._cond = threading.Condition()
        self._lent = 0
        self._kept: list[bytearray] = []
        self.peak = 0  # the most bytes lent at once

    @property
    def executor(self) -> Executor:
        with self._cond:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="icefloe-part")
            return self._executor

    def take(self, size: int) -> bytearray:
        """A buffer of ``size`` bytes, once the budget has room for it."""
        with self._cond:
            while self._lent and self._lent + size > self.limit:
                self._cond.wait()
            self._lent += size
            self.peak = max(self.peak, self._lent)
            for i, buffer in enumerate(self._kept):
                if len(buffer) == size:
                    return self._kept.pop(i)
            while self._kept and self._lent + sum(map(len, self._kept)) > max(self.limit, size):
                self._kept.pop(0)  # of another size: make room
        return bytearray(size)

    def give(self, buffer: bytearray) -> None:
        with self._cond:
            self._lent -= len(buffer)
            self._kept.append(buffer)
            self._cond.notify_all()


_BUDGETS: dict[tuple[int, int, int], Budget] = {}
_BUDGETS_LOCK = threading.Lock()


def shared_budget(concurrency: int, part_size: int, bandwidth_bps: int) -> Budget:
    """The process's budget for these settings: every upload asking with the same ones (the
    volumes of a set, uploaded by concurrent tasks) shares its senders, memory and bandwidth."""
    key = (concurrency, part_size, bandwidth_bps)
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(key)
        if budget is None:
            budget = _BUDGETS[key] = Budget(concurrency, part_size, bandwidth_bps)
        return budget


class PartLog(Generic[T]):
    """Part receipts written as parts finish, many to a transaction, by one thread of its own.

    A sender hands its receipt over and goes on with its next part instead of queueing for
    the catalog's write lock and its fsync (one commit per part held every sender up behind
    the others). ``close`` (or leaving the ``with`` block, also on an error) writes what is
    left. A receipt not yet written when the process dies costs no upload: the next try asks
    the service which parts it holds and checks each against the local bytes, so only the
    record is written again, the part is not sent again.
    """

    def __init__(self, write: Callable[[list[T]], None]) -> None:
        self._write = write
        self._cond = threading.Condition()
        self._pending: list[T] = []
        self._closed = False
        self._error: BaseException | None = None
        self.batches = 0  # transactions written
        self._thread = threading.Thread(target=self._run, name="icefloe-partlog", daemon=True)
        self._thread.start()

    def add(self, receipt: T) -> None:
        with self._cond:
            if self._error is not None:
                raise self._error
            self._pending.append(receipt)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                batch, self._pending = self._pending, []
                if not batch:
                    return
            try:
                self._write(batch)
                self.batches += 1
            except BaseException as exc:  # noqa: BLE001 - raised by add and close instead
                with self._cond:
                    self._error = exc
                    self._pending.clear()
                return

    def close(self) -> None:
        """Write every receipt added so far; raises what a write raised."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> PartLog[T]:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the error already on its way matters more
            pass


@dataclass(frozen=True)
class Part:
    index: int  # 0-based
    start: int
    end: int  # exclusive


@dataclass(frozen=True)
class Sent(Generic[R]):
    receipts: list[R]  # one per part, in order
    sha256: str | None  # of the whole file, when asked for
    sent: int
    reused: int


class _Lent:
    """A part buffer and the work still reading it (the send, the whole-file hash); it goes
    back to the budget when none is."""

    def __init__(self, budget: Budget, buffer: bytearray) -> None:
        self.budget, self.buffer = budget, buffer
        self._holds = 1
        self._lock = threading.Lock()

    def hold(self) -> None:
        with self._lock:
            self._holds += 1

    def release(self) -> None:
        with self._lock:
            self._holds -= 1
            last = self._holds == 0
        if last:
            self.budget.give(self.buffer)


class InOrderSha256:
    """The whole file's SHA-256, fed the parts in file order, whichever thread has them, on a
    thread of its own. A part is its bytes, or a function that returns them when its turn
    comes (a ranged download reads back a part that arrived early). ``done`` is called once a
    part was hashed (or, after ``close``, will never be: a part past one that never came)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self._cond = threading.Condition()
        self._ready: dict[int, tuple[memoryview | Callable[[], memoryview], Callable[[], None]]] = {}
        self._next = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="icefloe-sha256", daemon=True)
        self._thread.start()

    def due(self, index: int) -> bool:
        """Whether part ``index`` is the next to be hashed (every part before it was taken)."""
        with self._cond:
            return self._next == index

    def feed(self, index: int, data: memoryview | Callable[[], memoryview], done: Callable[[], None]) -> None:
        with self._cond:
            if not self._closed:
                self._ready[index] = (data, done)
                self._cond.notify()
                return
        done()  # a part was lost: the digest is moot, the upload fails

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._next not in self._ready and not self._closed:
                    self._cond.wait()
                item = self._ready.pop(self._next, None)
                if item is None:
                    return
                self._next += 1
            data, done = item
            try:
                self.digest.update(data() if callable(data) else data)
            finally:
                done()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        for _, done in self._ready.values():
            done()
        self._ready.clear()


def send_parts(
    f: LocalFile,
    part_size: int,
    budget: Budget,
    *,
    held: Callable[[Part, memoryview], R | None],
    send: Callable[[Part, memoryview], R],
    progress: Progress,
    hash_whole: bool = True,
) -> Sent[R]:
    """Every part read and sent by one of the budget's senders: ``held`` returns the receipt
    of a part the service already holds, else ``send`` sends it and returns its receipt.

    This thread only lends buffers, in file order, and hands the parts out: a sender reads
    its part itself and hands it to the whole file's SHA-256 (:class:`InOrderSha256`), so nothing
    between two parts of one sender waits for another thread."""
    count = -(-f.size // part_size)
    receipts: list[R | None] = [None] * count
    whole = InOrderSha256() if hash_whole else None
    failures: list[BaseException] = []
    futures: list[Future] = []
    tally = {"sent": 0, "reused": 0}
    tally_lock = threading.Lock()

    def run(part: Part, lent: _Lent) -> R:
        try:
            data = f.pread_into(lent.buffer, part.start, part.end)
        except BaseException:
            if whole is not None:
                whole.close()  # it would wait for this part forever, holding later ones' buffers
            raise
        if whole is not None:
            lent.hold()
            whole.feed(part.index, data, lent.release)
        receipt = held(part, data)
        if receipt is not None:
            progress.on_progress(part.end - part.start)
            with tally_lock:
                tally["reused"] += 1
            return receipt
        receipt = send(part, data)
        with tally_lock:
            tally["sent"] += 1
        return receipt

    def finished(index: int, lent: _Lent, future: Future) -> None:
        if not future.cancelled():
            exc = future.exception()
            if exc is not None:
                failures.append(exc)
            else:
                receipts[index] = future.result()
        lent.release()  # after the failure is noted: no further part starts after it

    try:
        for index in range(count):
            part = Part(index, index * part_size, min(f.size, (index + 1) * part_size))
            lent = _Lent(budget, budget.take(part.end - part.start))
            if failures:
                lent.release()
                break
            future = budget.executor.submit(run, part, lent)
            futures.append(future)
            future.add_done_callback(lambda fut, i=index, b=lent: finished(i, b, fut))
    except BaseException:
        for future in futures:
            future.cancel()  # parts not yet started; those in flight finish (and are recorded)
        raise
    finally:
        wait(futures)
        if whole is not None:
            whole.close()
    if failures:
        raise failures[0]
    if any(r is None for r in receipts):
        raise IcefloeError(f"{f.path}: a part was neither sent nor found (a bug)")
    sha256 = whole.digest.hexdigest() if whole is not None else None
    return Sent(receipts, sha256, tally["sent"], tally["reused"])  # type: ignore[arg-type]


def send_body(
    request: Callable[[MeteredBody], dict],
    data,
    progress: Progress,
    pace: RateLimiter | Unlimited,
    *,
    where: awserrors.Where,
    operation: str,
    backoff: awserrors.Backoff,
    sleep: Callable[[float], None],
) -> dict:
    """One request carrying ``data``, retried with backoff; each attempt counts and paces its
    bytes, and a failed attempt takes back the progress it reported."""

    def attempt():
        body = MeteredBody(data, progress.on_progress, pace)
        try:
            return request(body)
        except BaseException:
            body.rewind()
            raise

    return awserrors.call(attempt, where, operation, backoff, sleep=sleep)
