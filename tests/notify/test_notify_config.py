"""[notify]: channels without secrets in the file, the automation file, and the bad inputs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from helpers import invoke, one_line_error

from icefloe.config import NotifyConfig, load_settings
from icefloe.errors import ConfigInvalid
from icefloe.notify import NAME_PREFIX, parameters, parse_channel, read_definitions, render
from receivers import Webhook, free_port


def _config(tmp_path: Path, urls: str) -> Path:
    path = tmp_path / "icefloe.toml"
    path.write_text(f"[notify]\nurls = {urls}\n")
    return path


@pytest.mark.parametrize("url", [
    "mailto://icefloe:hunter2@smtp.example.org?to=owner@example.org",
    "ntfy://ntfy.sh/photos?token=tk_abc",
    "json://hooks.example.org/x?apikey=abc",
])
def test_a_url_with_a_credential_is_refused_when_the_file_is_read(tmp_path, url):
    with pytest.raises(ConfigInvalid) as err:
        load_settings(_config(tmp_path, f'["{url}"]'), {})
    line = err.value.message
    assert "\n" not in line and "notify.urls" in line and "env:NAME" in line
    assert "hunter2" not in line and "tk_abc" not in line


def test_names_and_plain_urls_are_kept_as_written(tmp_path):
    cfg = load_settings(_config(tmp_path, '["env:ICEFLOE_NTFY_URL", "secret:slack", "json://10.0.0.5:8080/hook"]'), {})
    kinds = [parse_channel(u).kind for u in cfg.notify.urls]
    assert kinds == ["env", "secret", "url"]
    with pytest.raises(ConfigInvalid, match="not an Apprise URL"):
        load_settings(_config(tmp_path, '["smtp.example.org"]'), {})


def test_every_notify_becomes_one_action_per_channel_with_the_configured_windows():
    definitions = read_definitions()
    cfg = NotifyConfig(mirror_overdue_hours=26, crash_after_s=120)
    blocks = [str(uuid.uuid4()), str(uuid.uuid4())]
    docs = render(definitions, parameters(cfg), blocks)
    assert {d["name"] for d in docs} == {d["name"] for d in definitions}
    assert all(d["name"].startswith(NAME_PREFIX) for d in docs)
    by_name = {d["name"]: d for d in docs}
    overdue = by_name["icefloe: nightly mirror overdue"]
    assert overdue["trigger"]["within"] == 26 * 3600
    assert [a["block_document_id"] for a in overdue["actions"]] == blocks
    assert "26 hours" in overdue["actions"][0]["subject"]
    crash = by_name["icefloe: mark dead runs crashed"]
    assert crash["trigger"]["within"] == 120 and crash["actions"][0]["type"] == "change-flow-run-state"
    assert not any("$" in str(d) for d in docs), "a placeholder was left unfilled"

    from prefect.events.schemas.automations import AutomationCore

    for doc in docs:  # Prefect's own model accepts every one
        AutomationCore.model_validate(doc)


def test_a_malformed_url_is_one_line_at_install_and_changes_nothing(prefect_harness, tmp_path, capsys):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        before = [a.name for a in client.read_automations()]
    config = _config(tmp_path, '["nosuchservice://example.org/x"]')
    refused = invoke(capsys, "-c", str(config), "notify", "install")
    err = one_line_error(refused)
    assert refused.returncode == 2 and "nosuchservice://example.org/x" in err and "Apprise" in err
    with get_client(sync_client=True) as client:
        assert [a.name for a in client.read_automations()] == before


def test_notify_test_reaches_every_channel_and_names_the_one_that_failed(prefect_harness, tmp_path, capsys):
    dead = free_port()
    with Webhook() as hook:
        config = _config(tmp_path, f'["json://127.0.0.1:{hook.port}/ok", "json://127.0.0.1:{dead}/down"]')
        out = invoke(capsys, "-c", str(config), "notify", "test")
        assert out.returncode == 5, out
        assert len(hook.inbox.messages) == 1 and "test" in hook.inbox.messages[0][0]
    lines = out.stdout.splitlines()
    assert any(line.startswith("sent") and f"{hook.port}/ok" in line for line in lines)
    assert any(line.startswith("FAILED") and f"{dead}/down" in line for line in lines)
    assert "1 of 2 channel(s)" in one_line_error(out, after_report=True)
