"""A token bucket shared by the threads of one upload, so the configured bandwidth limit holds
for the upload as a whole, not per connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """At most ``rate`` bytes per second on average, with bursts of ``burst`` bytes.

    ``take(n)`` blocks until ``n`` bytes may go. The clock and sleep are passed in so tests
    run it deterministically.
    """

    def __init__(
        self,
        rate: int,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        # A quarter second of data: smooth enough, and a 16 KiB socket write never waits twice.
        self.burst = burst if burst is not None else max(rate // 4, 64 * 1024)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._stamp = clock()

    def take(self, nbytes: int) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            # Going into debt keeps big requests simple: the next caller waits it off.
            self._tokens -= nbytes
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


class Unlimited:
    def take(self, nbytes: int) -> None:
        pass


def limiter(rate: int) -> RateLimiter | Unlimited:
    return RateLimiter(rate) if rate > 0 else Unlimited()


class MeteredBody:
    """A request body over bytes in memory that counts and paces what goes on the wire.

    botocore reads a body twice: once to hash it while the request is built, then to send
    it. Only the second read is progress: the client's ``request-created`` hook calls
    :meth:`signal_transferring` after signing (s3transfer does the same). Progress is
    reported every ``REPORT_EVERY`` bytes (the socket takes 16 KiB at a time). If the
    request fails, :meth:`rewind` takes back what it had reported.
    """

    REPORT_EVERY = 256 * 1024

    def __init__(self, data, on_bytes: Callable[[int], None], pace: RateLimiter | Unlimited):
        self._view = memoryview(data).cast("B")
        self._pos = 0
        self._on_bytes, self._pace = on_bytes, pace
        self._transferring = False
        self._base = 0  # where sending started
        self._reported = 0  # position up to which progress was reported

    @property
    def counted(self) -> int:
        return self._reported - self._base

    def signal_transferring(self) -> None:
        self._transferring = True
        self._base = self._reported = self._pos

    def signal_not_transferring(self) -> None:
        self._transferring = False

    def read(self, size: int = -1) -> memoryview:
        # A view, not a copy: hashlib and sockets take views.
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        chunk = self._view[self._pos : end]
        self._pos = end
        if self._transferring and len(chunk):
            self._pace.take(len(chunk))
            if end - self._reported >= self.REPORT_EVERY or end == len(self._view):
                self._on_bytes(end - self._reported)
                self._reported = end
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._view)}[whence]
        self._pos = max(0, min(len(self._view), base + offset))
        if self._transferring and self._reported > self._pos:
            # botocore rewinds a body to send it again; take back what was reported past here.
            self._on_bytes(max(self._pos, self._base) - self._reported)
            self._reported = max(self._pos, self._base)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def __len__(self) -> int:
        return len(self._view)

    def rewind(self) -> None:
        """The request failed: what it reported was not delivered."""
        if self._reported > self._base:
            self._on_bytes(self._base - self._reported)
        self._reported = self._base
        self._transferring = False


def signal_transferring(request, **kwargs) -> None:  # botocore event handler
    body = getattr(request, "body", None)
    if hasattr(body, "signal_transferring"):
        body.signal_transferring()
