"""The pause between discs: a real drive holds one disc, and "not inserted" never burns blind.

The burns are recorded instead of run (there is no drive); the pause, its input form and the
resumes are Prefect's own, on the shared test server.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

BURNER = "/dev/sr-test"


class Verified:
    """A verify stage that already finished."""

    def result(self) -> None:
        return None


def _start(monkeypatch: pytest.MonkeyPatch, images: list[str]) -> tuple[list[str], list[Any], threading.Thread]:
    import flows.archive
    from prefect import flow

    burned: list[str] = []
    monkeypatch.setattr(flows.archive, "burn_image_task", lambda image, config: burned.append(image))

    @flow(name="burn-discs-test", persist_result=False)
    def burn_discs() -> None:
        flows.archive.burn_all(images, [Verified() for _ in images], None, BURNER)

    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(burn_discs(return_state=True)), daemon=True)
    thread.start()
    return burned, outcome, thread


def _paused_run(seen_keys: set[str], timeout: float = 90) -> Any:
    """The test flow's run once it pauses with a pause key not seen before."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["burn-discs-test"])))
            for run in runs:
                key = run.state.state_details.pause_key if run.state else None
                if run.state and run.state.is_paused() and key not in seen_keys:
                    seen_keys.add(key)
                    return run
            time.sleep(0.5)
    raise AssertionError("the flow never paused for the next disc")


def _clear_old_runs() -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        for run in client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["burn-discs-test"]))):
            client.delete_flow_run(run.id)


def test_not_inserted_asks_again_and_never_burns(prefect_harness, monkeypatch):
    from prefect.flow_runs import resume_flow_run

    _clear_old_runs()
    burned, outcome, thread = _start(monkeypatch, ["disc-1.iso", "disc-2.iso"])
    keys: set[str] = set()
    run = _paused_run(keys)
    assert burned == ["disc-1.iso"]  # disc 1 needs no question; disc 2 waits for the answer

    resume_flow_run(run.id, run_input={"inserted": False})
    run = _paused_run(keys)  # asked again, with a new pause
    assert burned == ["disc-1.iso"], "a disc was burned although the person said it was not in"
    assert "is not in /dev/sr-test yet" in _description(run)

    resume_flow_run(run.id, run_input={"inserted": True})
    thread.join(timeout=90)
    assert outcome and outcome[0].is_completed(), outcome
    assert burned == ["disc-1.iso", "disc-2.iso"]  # each disc burned exactly once


def test_no_disc_in_time_stops_without_burning(prefect_harness, monkeypatch):
    import flows.archive

    _clear_old_runs()
    monkeypatch.setattr(flows.archive, "DISC_WAIT_S", 3)
    burned, outcome, thread = _start(monkeypatch, ["disc-1.iso", "disc-2.iso", "disc-3.iso"])
    thread.join(timeout=90)
    assert outcome and outcome[0].is_failed()  # the server fails a run whose pause expired
    assert burned == ["disc-1.iso"]


def _description(run: Any) -> str:
    """The text of the form the UI shows for the run's current pause."""
    from prefect.input.run_input import keyset_from_paused_state
    from prefect import get_client

    keyset = keyset_from_paused_state(run.state)
    with get_client(sync_client=True) as client:
        value = client.read_flow_run_input(run.id, keyset["description"])
    return str(value)
