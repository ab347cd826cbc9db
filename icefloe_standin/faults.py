"""Injected failures: transient service errors and corrupted response bodies.

Every injected error is one botocore retries (standard and legacy modes): a 500 or 503, a
request timeout, or throttling. A faulted request is refused before it reaches the service,
so it changes nothing (AWS can also fail after applying a request; see docs/standin.md).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    code: str
    status: int
    message: str


GLACIER_FAULTS = (
    Fault("ServiceUnavailableException", 500, "Service is unavailable. Try again later."),
    Fault("ServiceUnavailableException", 503, "Service is unavailable. Try again later."),
    Fault("RequestTimeoutException", 408, "The request timed out. Try again."),
    Fault("ThrottlingException", 400, "Rate exceeded."),
)
S3_FAULTS = (
    Fault("InternalError", 500, "We encountered an internal error. Please try again."),
    Fault("ServiceUnavailable", 503, "Please reduce your request rate."),
    Fault(
        "RequestTimeout",
        400,
        "Your socket connection to the server was not read from or written to within "
        "the timeout period.",
    ),
    Fault("SlowDown", 503, "Please reduce your request rate."),
)


class FaultInjector:
    """Decides which requests fail, and how.

    Without a seed the faults are spread evenly: the running total of ``rate`` is kept and
    a request fails each time it crosses a whole number, so exactly ``rate`` of requests
    fail, and the kinds rotate. With a seed each request fails with probability ``rate``
    and the kind is drawn at random, repeatably for the same seed and request order.
    """

    def __init__(self, rate: float, seed: int | None = None) -> None:
        self._rate = rate
        self._rng = random.Random(seed) if seed is not None else None
        self._carry = 0.0
        self._turn = 0
        self._lock = threading.Lock()

    def pick(self, service: str) -> Fault | None:
        """The fault for the next request to ``service`` ("glacier" or "s3"), or None."""
        if self._rate <= 0:
            return None
        kinds = GLACIER_FAULTS if service == "glacier" else S3_FAULTS
        with self._lock:
            if self._rng is not None:
                if self._rng.random() >= self._rate:
                    return None
                return self._rng.choice(kinds)
            self._carry += self._rate
            if self._carry < 1.0:
                return None
            self._carry -= 1.0
            self._turn += 1
            return kinds[(self._turn - 1) % len(kinds)]


class Corrupter:
    """Flips one byte in the body of the next N responses of chosen operations."""

    def __init__(self) -> None:
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()

    def arm(self, operation: str, count: int = 1) -> None:
        """``operation`` is ``"GetJobOutput"`` (any service) or ``"glacier.GetJobOutput"``."""
        with self._lock:
            if count > 0:
                self._pending[operation] = self._pending.get(operation, 0) + count
            else:
                self._pending.pop(operation, None)

    def pending(self) -> dict[str, int]:
        with self._lock:
            return dict(self._pending)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def take(self, operation: str) -> bool:
        """True (and one fewer pending) if this response of ``operation`` is to be corrupted."""
        bare = operation.split(".", 1)[-1]
        with self._lock:
            for key in (operation, bare):
                if self._pending.get(key, 0) > 0:
                    self._pending[key] -= 1
                    if not self._pending[key]:
                        del self._pending[key]
                    return True
        return False


def flip_byte(
    chunks: Iterable[bytes], offset: int, on_flip: Callable[[], None] | None = None
) -> Iterator[bytes]:
    """Yield ``chunks`` with the byte at ``offset`` of the whole stream inverted."""
    pos = 0
    for chunk in chunks:
        if pos <= offset < pos + len(chunk):
            mutable = bytearray(chunk)
            mutable[offset - pos] ^= 0xFF
            chunk = bytes(mutable)
            if on_flip is not None:
                on_flip()
        pos += len(chunk)
        yield chunk
