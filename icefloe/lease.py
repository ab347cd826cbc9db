"""One archive or clear of a partition at a time: a lease recorded in the catalog.

Every process and machine that shares the catalog sees the same ``leases`` row, so a second
run is refused with one line naming the holder (or waits for it). A lease names its holder
(what runs: "icefloe consolidate photos-a", "archive photos-a (flow run ...)"), a token (who
may re-enter it: a flow run and the tasks inside it share one), the pid and host, and an expiry
the holder pushes forward while it works. A holder that died is recognised two ways: on the
same host its pid is gone; anywhere, its lease expired (nobody renewed it). Either can be
taken over. See docs/catalog.md, table ``leases``.

    with Lease(catalog, partition_lease_name("photos-a"), "icefloe consolidate photos-a"):
        ...   # renewed in the background until the block ends
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from icefloe.catalog import Catalog, now_iso
from icefloe.errors import IcefloeError, PartitionBusy

DEFAULT_TTL_S = 120.0  # a holder renews every ttl/4; a holder silent this long is presumed dead


def partition_lease_name(label: str) -> str:
    return f"partition:{label}"


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    token: str
    pid: int
    host: str
    acquired_at: str
    renewed_at: str
    expires_at: float  # seconds since the epoch

    def describe(self) -> str:
        return f"{self.holder} (pid {self.pid} on {self.host}, since {self.acquired_at[:19]}Z)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def current_lease(catalog: Catalog, name: str) -> LeaseInfo | None:
    with catalog.transaction() as conn:
        row = conn.execute("SELECT * FROM leases WHERE name=?", (name,)).fetchone()
    return LeaseInfo(**{k: row[k] for k in row.keys()}) if row else None


class Lease:
    """A lease on ``name`` for ``holder``; ``token`` lets a run re-enter its own lease (the
    default is this process). Use as a context manager, or ``acquire`` / ``release``."""

    def __init__(
        self,
        catalog: Catalog,
        name: str,
        holder: str,
        *,
        token: str | None = None,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
        pid: int | None = None,
        host: str | None = None,
    ) -> None:
        self.catalog, self.name, self.holder = catalog, name, holder
        self.pid = os.getpid() if pid is None else pid
        self.host = host or socket.gethostname()
        self.token = token or f"process:{self.host}:{self.pid}"
        self.ttl_s, self.clock = ttl_s, clock
        self._reentered = False
        self._held = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # -- taking and giving back ----------------------------------------------------------

    def _ours(self, row: LeaseInfo) -> bool:
        """Held by this run or this very process: re-entered, not taken."""
        return row.token == self.token or (row.pid == self.pid and row.host == self.host)

    def _takeable(self, row: LeaseInfo) -> bool:
        if row.token == self.token or self._ours(row):
            return True
        if row.expires_at < self.clock():
            return True  # nobody renewed it: its holder is gone, wherever it ran
        return row.host == self.host and not _pid_alive(row.pid)

    def try_acquire(self) -> LeaseInfo | None:
        """Take the lease; returns None when taken, else the lease that holds it."""
        stamp, expires = now_iso(), self.clock() + self.ttl_s
        with self.catalog.transaction() as conn:
            row = conn.execute("SELECT * FROM leases WHERE name=?", (self.name,)).fetchone()
            held = LeaseInfo(**{k: row[k] for k in row.keys()}) if row else None
            if held is not None and not self._takeable(held):
                return held
            self._reentered = held is not None and held.pid == self.pid and held.host == self.host
            if self._reentered:
                conn.execute("UPDATE leases SET renewed_at=?, expires_at=? WHERE name=?",
                             (stamp, max(expires, held.expires_at), self.name))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO leases (name, holder, token, pid, host, acquired_at,"
                    " renewed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (self.name, self.holder, self.token, self.pid, self.host, stamp, stamp, expires),
                )
        return None

    def acquire(self, *, wait: bool = False, poll_s: float = 2.0, timeout_s: float | None = None,
                sleep: Callable[[float], None] = time.sleep) -> Lease:
        """Take the lease, or raise PartitionBusy naming its holder; ``wait`` polls until free."""
        deadline = None if timeout_s is None else self.clock() + timeout_s
        while True:
            held = self.try_acquire()
            if held is None:
                self._held = True
                return self
            if not wait or (deadline is not None and self.clock() >= deadline):
                what = self.name.split(":", 1)[-1]
                raise PartitionBusy(
                    f"{what} is busy: {held.describe()} holds it; wait for it to finish, or pass "
                    "--wait to start when it does"
                )
            sleep(poll_s)

    def renew(self) -> bool:
        """Push the expiry forward; False when the lease is no longer ours (taken over)."""
        with self.catalog.transaction() as conn:
            cur = conn.execute(
                "UPDATE leases SET renewed_at=?, expires_at=? WHERE name=? AND token=?",
                (now_iso(), self.clock() + self.ttl_s, self.name, self.token),
            )
        return cur.rowcount == 1

    def release(self) -> None:
        """Give the lease back (a re-entered lease stays with the outer holder)."""
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=10)
        if not self._held or self._reentered:
            return
        self._held = False
        with self.catalog.transaction() as conn:
            conn.execute("DELETE FROM leases WHERE name=? AND token=? AND pid=?",
                         (self.name, self.token, self.pid))

    # -- keeping it ----------------------------------------------------------------------

    def start_renewing(
        self, while_running: FrameType | None = None, tick_s: float = 0.5,
        on_release: Callable[[], None] | None = None,
    ) -> None:
        """Renew every ttl/4 in a daemon thread. With ``while_running`` (a frame), release once
        that frame has returned (then call ``on_release``): the lease lasts exactly as long as
        the call it guards, however that call ends."""
        thread_id = threading.get_ident()

        def on_stack() -> bool:
            frame = sys._current_frames().get(thread_id)
            while frame is not None:
                if frame is while_running:
                    return True
                frame = frame.f_back
            return False

        def loop() -> None:
            last = self.clock()
            while not self._stop.wait(tick_s):
                if while_running is not None and not on_stack():
                    try:
                        self.release()
                    finally:
                        if on_release is not None:
                            on_release()
                    return
                if self.clock() - last >= self.ttl_s / 4:
                    last = self.clock()
                    try:
                        self.renew()
                    except IcefloeError:
                        pass  # the catalog was busy: the next tick tries again, well within ttl

        self._renewer = threading.Thread(target=loop, name=f"lease {self.name}", daemon=True)
        self._renewer.start()

    def __enter__(self) -> Lease:
        if not self._held:
            self.acquire()
        if self._renewer is None:
            self.start_renewing()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

