"""`icefloe status` without a Prefect server: it says so, and shows everything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import Ran, invoke, ok

from unit_helpers import free_port



def _status(capsys: pytest.CaptureFixture[str], workspace: Path, *args: str) -> Ran:
    return invoke(capsys, "-c", str(workspace / "icefloe.toml"), "status", *args)



def test_an_unreachable_server_is_one_line_and_the_rest_is_shown(workspace, monkeypatch, capsys):
    url = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    data = json.loads(ok(_status(capsys, workspace, "--json")))
    assert data["server"]["reachable"] is False and data["server"]["deployments"] == []
    assert f"cannot reach the Prefect server at {url}" in data["server"]["detail"]
    assert [p["label"] for p in data["partitions"]] == ["photos-a", "photos-b"]

    out = ok(_status(capsys, workspace))
    assert "photos-a" in out and f"cannot reach the Prefect server at {url}" in " ".join(out.split())


def test_no_server_set_says_so(workspace, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "no-profiles.toml"))
    server = json.loads(ok(_status(capsys, workspace, "--json")))["server"]
    assert server == {"reachable": False, "url": None, "deployments": [],
                      "detail": "no Prefect server set (PREFECT_API_URL): next runs unknown"}
