"""Slow links: a byte-rate cap on request and response bodies.

The stand-in's server closes every connection after one response (werkzeug's development
server does), so a cap per request body and per response body is a cap per connection.
Pacing sleeps in slices of at most a tenth of a second's worth of bytes, so a paused
stream never holds more than one slice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO

MIN_SLICE = 1024
MAX_SLICE = 64 * 1024


def slice_size(rate: int) -> int:
    return max(MIN_SLICE, min(MAX_SLICE, rate // 10))


class Pacer:
    """Sleeps as needed so that bytes reported through ``__call__`` flow at most at ``rate``."""

    def __init__(
        self,
        rate: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self._sent = 0

    def __call__(self, nbytes: int) -> None:
        self._sent += nbytes
        delay = self._start + self._sent / self.rate - self._clock()
        if delay > 0:
            self._sleep(delay)


class PacedInput:
    """A WSGI input stream read no faster than the pacer allows."""

    def __init__(self, stream: IO[bytes], pacer: Pacer) -> None:
        self._stream = stream
        self._pacer = pacer
        self._slice = slice_size(pacer.rate)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            out = bytearray()
            while chunk := self.read(self._slice):
                out += chunk
            return bytes(out)
        data = self._stream.read(min(size, self._slice))
        self._pacer(len(data))
        return data

    def readline(self, size: int | None = -1) -> bytes:
        limit = self._slice if size is None or size < 0 else min(size, self._slice)
        data = self._stream.readline(limit)
        self._pacer(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


def paced_chunks(chunks: Iterable[bytes], pacer: Pacer) -> Iterator[bytes]:
    """Re-slice a response body and pace it."""
    step = slice_size(pacer.rate)
    for chunk in chunks:
        for i in range(0, len(chunk), step):
            piece = chunk[i : i + step]
            pacer(len(piece))
            yield piece
