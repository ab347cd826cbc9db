"""The partition lease: one holder at a time, a dead or silent holder taken over, renewed while held."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from icefloe.catalog import Catalog
from icefloe.lease import Lease, PartitionBusy, current_lease, partition_lease_name

NAME = partition_lease_name("photos-a")


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    with Catalog.open(tmp_path / "catalog.sqlite") as cat:
        yield cat


def test_a_live_holder_is_named_and_a_second_run_refused(catalog, other_process) -> None:
    Lease(catalog, NAME, "archive photos-a (flow run brave-otter)", pid=other_process.pid).acquire()
    with pytest.raises(PartitionBusy, match=rf"photos-a is busy: archive photos-a \(flow run brave-otter\) "
                                            rf"\(pid {other_process.pid} on .*\) holds it.*--wait") as err:
        Lease(catalog, NAME, "icefloe consolidate photos-a").acquire()
    assert err.value.exit_code == 75
    assert current_lease(catalog, NAME).pid == other_process.pid  # untouched


def test_a_dead_holders_lease_is_taken_over(catalog) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    Lease(catalog, NAME, "icefloe consolidate photos-a", pid=pid).acquire()  # then it was killed
    mine = Lease(catalog, NAME, "icefloe consolidate photos-a").acquire()
    assert current_lease(catalog, NAME).pid == mine.pid != pid
    mine.release()
    assert current_lease(catalog, NAME) is None


def test_an_expired_lease_on_another_host_is_taken_over_and_renewing_keeps_it(catalog) -> None:
    now = [1000.0]
    theirs = Lease(catalog, NAME, "archive on nas2", host="nas2", pid=1, ttl_s=60, clock=lambda: now[0]).acquire()
    now[0] = 1030.0
    assert theirs.renew()  # renewed: expires at 1090
    now[0] = 1080.0
    with pytest.raises(PartitionBusy, match=r"pid 1 on nas2"):
        Lease(catalog, NAME, "here", clock=lambda: now[0]).acquire()  # a pid elsewhere says nothing
    now[0] = 1091.0  # nobody renewed it for a whole ttl: its holder is gone
    mine = Lease(catalog, NAME, "here", clock=lambda: now[0]).acquire()
    assert current_lease(catalog, NAME).holder == "here"
    assert not theirs.renew()  # taken over: the old holder learns it has lost the lease
    theirs.release()  # and giving it back does not remove the new holder's
    assert current_lease(catalog, NAME).holder == "here"
    mine.release()


def test_a_run_reenters_its_own_lease(catalog, other_process) -> None:
    outer = Lease(catalog, NAME, "archive photos-a (flow run x)", token="flow-run:x").acquire()
    inner = Lease(catalog, NAME, "consolidate photos-a (flow run x)", token="flow-run:x").acquire()
    inner.release()
    assert current_lease(catalog, NAME).holder == "archive photos-a (flow run x)"
    # a Retry of that flow run in a new process takes it over by its token
    retried = Lease(catalog, NAME, "archive photos-a (flow run x)", token="flow-run:x", pid=other_process.pid)
    retried.acquire()
    assert current_lease(catalog, NAME).pid == other_process.pid
    outer.release()  # no longer the holder: nothing removed
    assert current_lease(catalog, NAME).pid == other_process.pid


def test_wait_polls_until_the_holder_is_done(catalog, other_process) -> None:
    holder = Lease(catalog, NAME, "clear photos-a", pid=other_process.pid).acquire()
    naps = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            holder.release()

    Lease(catalog, NAME, "icefloe consolidate photos-a").acquire(wait=True, poll_s=0.25, sleep=nap)
    assert naps == [0.25, 0.25, 0.25]
    assert current_lease(catalog, NAME).holder == "icefloe consolidate photos-a"


def test_a_lease_held_for_a_call_is_given_back_when_the_call_returns(catalog) -> None:
    def guarded() -> float:
        lease = Lease(catalog, NAME, "archive photos-a", ttl_s=0.4).acquire()
        lease.start_renewing(while_running=sys._getframe(0), tick_s=0.05)
        first = current_lease(catalog, NAME).expires_at
        time.sleep(0.6)  # longer than the ttl: only renewing keeps it
        assert current_lease(catalog, NAME).expires_at > first
        return first

    guarded()
    deadline = time.monotonic() + 5
    while current_lease(catalog, NAME) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert current_lease(catalog, NAME) is None
