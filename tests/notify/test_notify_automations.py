"""icefloe's automations on the shared Prefect server deliver one message per event to each channel.

The channels are local: a JSON webhook whose URL (with its secret path) comes from the
environment, an SMTP server, and a webhook nobody listens on (which must not stop the others).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import invoke

from receivers import Mailbox, Webhook, free_port

SECRET = "s3cr3t-hook-path"
HOOK_ENV = "ICEFLOE_TEST_HOOK_URL"
ROOT = Path(__file__).resolve().parents[2]


def _icefloe(*args: str) -> int:
    return invoke(None, *args).returncode


def _write_config(folder: Path, mail_port: int, **notify: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for label in ("photos-a", "photos-b"):
        (folder / label).mkdir(exist_ok=True)
        (folder / label / ".icefloe-partition").write_text(label + "\n")
    extra = "".join(f"{key} = {value}\n" for key, value in notify.items())
    path = folder / "icefloe.toml"
    path.write_text(textwrap.dedent(f"""\
        work_dir = "work"
        [[partitions]]
        label = "photos-a"
        path = "photos-a"
        [[partitions]]
        label = "photos-b"
        path = "photos-b"
        [archive]
        disc = "none"
        [coldstore]
        catalog_snapshots = false
        [notify]
        urls = ["json://127.0.0.1:{free_port()}/nobody", "env:{HOOK_ENV}",
                "mailto://127.0.0.1:{mail_port}?from=icefloe@example.org&to=owner@example.org&mode=insecure"]
        """) + extra)
    return path


@pytest.fixture(scope="module")
def channels(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Webhook, Mailbox, Path]]:
    folder = tmp_path_factory.mktemp("notify")
    with Webhook() as hook, Mailbox() as mail:
        os.environ[HOOK_ENV] = f"json://127.0.0.1:{hook.port}/{SECRET}"
        config = _write_config(folder, mail.port, mirror_overdue_hours=24, crash_after_s=40)
        try:
            assert _icefloe("-c", str(config), "notify", "install") == 0
            yield hook, mail, config
        finally:
            os.environ.pop(HOOK_ENV, None)
            _remove_automations()  # the other flow tests of the session send nothing


def _remove_automations() -> None:
    from prefect.client.orchestration import get_client

    from icefloe.cli.notify import remove_automations

    with get_client(sync_client=True) as client:
        remove_automations(client)


def _one_each(hook: Webhook, mail: Mailbox, test: Any, timeout: float) -> tuple[str, str]:
    got_hook = hook.inbox.wait_for(test, timeout)
    got_mail = mail.inbox.wait_for(test, 30)
    assert len(got_hook) == 1 and len(got_mail) == 1, (got_hook, got_mail)
    for subject, body in got_hook + got_mail:
        assert SECRET not in subject + body
    assert got_hook[0][0] == got_mail[0][0]
    return got_hook[0]


def _run(run_id: Any) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def test_a_failed_archive_run_names_the_stage_and_the_reason(channels, monkeypatch):
    from flows.archive import archive_partition

    hook, mail, config = channels
    monkeypatch.delenv("ICEFLOE_ARCHIVE_PASSWORD", raising=False)  # encryption on, no password: it fails
    (config.parent / "photos-a" / "a.jpg").write_bytes(b"photo")
    state = archive_partition(label="photos-a", config=str(config), return_state=True)
    assert state.is_failed()
    run = _run(state.state_details.flow_run_id)

    subject, body = _one_each(hook, mail, lambda s, b: str(run.name) in s, timeout=60)
    assert "archive-partition" in subject and "failed" in subject
    stage = _failed_task_run(run.id)
    words = " ".join(body.split())
    assert f"archive-partition failed at {stage.name}: " in words, body  # the stage, by its UI name
    reason = stage.state.message.split(": ", 1)[-1]
    assert reason and reason in words and "password" in reason, body
    assert "Retry" in body and "Flow run encountered" not in body
    assert _run(run.id).state.is_failed()  # an unreachable channel changed nothing about the run
    failed = _failed_sends(run.id)  # the channel nobody listens on: the server says so, once
    assert len(failed) == 1 and failed[0]["payload"]["reason"] == "Notification failed", failed


def _failed_task_run(run_id: Any) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    failed = [t for t in tasks if t.state and t.state.is_failed()]
    assert len(failed) == 1, tasks
    return failed[0]


def _failed_sends(run_id: Any, settle: float = 5.0) -> list[dict[str, Any]]:
    """The server's "action failed" events for the notifications a run's end triggered."""
    from prefect.client.orchestration import get_client

    time.sleep(settle)  # every channel's action has run by now; a second failure would show
    with get_client(sync_client=True) as client:
        ended = client.request("POST", "/events/filter", json={"filter": {
            "event": {"name": ["prefect.flow-run.Failed", "prefect.flow-run.Crashed"]},
            "resource": {"id": [f"prefect.flow-run.{run_id}"]}}}).json()["events"]
        triggering = {f"prefect.event.{e['id']}" for e in ended}
        failed = client.request("POST", "/events/filter", json={"filter": {
            "event": {"name": ["prefect.automation.action.failed"]},
            "occurred": {"since": min(e["occurred"] for e in ended)}}, "limit": 50}).json()["events"]
    return [e for e in failed if any(r["prefect.resource.id"] in triggering for r in e["related"])]


def test_a_run_paused_for_a_disc_says_so(channels, monkeypatch):
    import flows.archive
    from prefect import flow
    from prefect.flow_runs import resume_flow_run

    hook, mail, _ = channels
    monkeypatch.setattr(flows.archive, "burn_image_task", lambda image, config: None)

    class Verified:
        def result(self) -> None:
            return None

    @flow(name="archive-partition", flow_run_name="archive disc-pause-test", persist_result=False)
    def burn_two() -> None:
        flows.archive.burn_all(["disc-1.iso", "disc-2.iso"], [Verified(), Verified()], None, "/dev/sr-test")

    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(burn_two(return_state=True)), daemon=True)
    thread.start()
    subject, body = _one_each(hook, mail, lambda s, b: "disc-pause-test" in s, timeout=90)
    assert "waiting for the next disc" in subject and "Resume" in body

    run_id = _paused_run_id("archive disc-pause-test")
    resume_flow_run(run_id, run_input={"inserted": True})
    thread.join(60)
    assert outcome and outcome[0].is_completed()


def _paused_run_id(name: str) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
    paused = [r for r in runs if r.state and r.state.is_paused()]
    assert len(paused) == 1, runs
    return paused[0].id


KILLED_FLOW = """
import time
from prefect import flow
from tasks.common import stage

@stage(name="upload-volume", task_run_name="upload killed-test.7z.001")
def upload() -> None:
    time.sleep(600)

@flow(name="archive-partition", flow_run_name="archive killed-test")
def killed() -> None:
    upload()

killed()
"""


def test_a_killed_run_is_marked_crashed_and_notified(channels):
    from prefect.settings import PREFECT_API_URL

    hook, mail, _ = channels
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_FLOW], env=env, cwd=ROOT)
    try:
        run_id = _wait_running("archive killed-test", timeout=120)
        deadline = time.monotonic() + 60  # the first heartbeat is sent as the run starts
        while "icefloe.stage" not in (_run(run_id).labels or {}) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _run(run_id).state.is_running()  # nobody told the server
        subject, body = _one_each(hook, mail, lambda s, b: "killed-test" in s, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "crashed" in subject
    assert 'during its stage "upload killed-test.7z.001"' in " ".join(body.split()), body
    assert "heartbeats" in body
    assert _run(run_id).state.is_crashed()


def _wait_running(name: str, timeout: float) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
            running = [r for r in runs if r.state and r.state.is_running()]
            if running:
                return running[0].id
            time.sleep(0.5)
    raise AssertionError(f"{name} never started running")


def test_the_daily_watch_tells_of_a_full_partition_nobody_archived(channels):
    from flows.watch import watch_partitions

    hook, mail, config = channels
    full = _write_config(config.parent / "full", mail.port)
    full.write_text(full.read_text().replace('path = "photos-a"\n', 'path = "photos-a"\ncapacity_gib = 0.000001\n', 1))
    (full.parent / "photos-a" / "big.jpg").write_bytes(b"x" * 4096)
    assert watch_partitions(config=str(full)) == ["full-not-archived: photos-a"]
    subject, body = _one_each(hook, mail, lambda s, b: "photos-a needs attention" in s, timeout=60)
    assert "no archive of it has started" in body and "archive-partition" in body


def test_an_overdue_nightly_mirror_is_told(channels):
    hook, mail, config = channels
    quick = _write_config(config.parent / "quick", mail.port, mirror_overdue_hours=round(12 / 3600, 6))
    try:
        assert _icefloe("-c", str(quick), "notify", "install") == 0
        subject, body = hook.inbox.wait_for(lambda s, b: "mirror has not completed" in s, 90, settle=0)[0]
        assert mail.inbox.wait_for(lambda s, b: "mirror has not completed" in s, 30, settle=0)
    finally:
        assert _icefloe("-c", str(config), "notify", "install") == 0
    assert "mirror-partitions" in body and "run it now" in body and SECRET not in body


def _disc_image(config: Path) -> tuple[Path, str]:
    """One disc image with its PAR2 data, recorded in the catalog ``config`` names."""
    import importlib.util

    from icefloe.catalog import Catalog
    from icefloe.config import load_settings
    from icefloe.disc.records import build_set_images

    spec = importlib.util.spec_from_file_location("disc_helpers", ROOT / "tests" / "disc" / "disc_helpers.py")
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    settings = load_settings(config)
    settings.catalog_path.parent.mkdir(parents=True, exist_ok=True)
    src = config.parent / "disc-src"
    src.mkdir()
    with Catalog.open(settings.catalog_path) as catalog:
        helpers.record_set(catalog, src, name="photos-a-1", nbytes=600_000)
        [info] = build_set_images(catalog, "photos-a-1", "dvd+r", config.parent / "isos", capacity=6 * 1024 * 1024)
    return Path(info.path), info.name.removesuffix(".iso")


def test_the_yearly_disc_check_asks_for_the_disc_and_records_it(channels):
    from prefect.flow_runs import resume_flow_run

    from flows.discs import check_discs
    from icefloe.catalog import Catalog
    from icefloe.disc.check import DiscsChecked
    from icefloe.config import load_settings

    hook, mail, config = channels
    yearly = _write_config(config.parent / "yearly", mail.port)
    image, disc = _disc_image(yearly)
    outcome: list[Any] = []
    run = threading.Thread(daemon=True, target=lambda: outcome.append(
        check_discs(config=str(yearly), older_than_days=0, wait_hours=0.5, return_state=True)))
    run.start()
    subject, body = _one_each(hook, mail, lambda s, b: "check a disc from the safe" in s, timeout=90)
    assert "put that disc in the drive" in " ".join(body.split()) and "Resume" in body
    run_id = _paused_run_id("yearly disc check")
    resume_flow_run(run_id, run_input={"path": str(config.parent / "no-such-drive")})  # asked again
    deadline = time.monotonic() + 60
    while not _run(run_id).state.is_paused() and time.monotonic() < deadline:
        time.sleep(0.5)
    resume_flow_run(run_id, run_input={"path": str(image)})
    run.join(120)
    assert outcome and outcome[0].is_completed(), outcome
    assert outcome[0].result() == DiscsChecked(due=(disc,), checked=(disc,), skipped=())
    with Catalog.open(load_settings(yearly).catalog_path) as catalog:
        [check] = catalog.disc_checks(disc)
    assert check.ok and check.source == str(image) and check.margin_blocks > 0


def test_the_weekly_summary_reaches_every_channel(channels):
    from flows.watch import weekly_summary

    hook, mail, config = channels
    weekly = _write_config(config.parent / "weekly", mail.port)
    (weekly.parent / "photos-a" / "new.jpg").write_bytes(b"photo")
    sent = weekly_summary(config=str(weekly))
    subject, body = _one_each(hook, mail, lambda s, b: s.startswith("icefloe weekly:"), timeout=60)
    assert subject == sent.subject and "Nothing new was archived this week." in body
    assert "1 file" in body and "household page" in body
