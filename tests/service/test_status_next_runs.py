"""`icefloe status` without a Prefect server: it says so, and shows everything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unit_helpers import free_port



def _status(workspace: Path, *args: str) -> int:
    from icefloe.cli import main

    with pytest.raises(SystemExit) as done:
        main(["-c", str(workspace / "icefloe.toml"), "status", *args])
    return int(done.value.code or 0)



def test_an_unreachable_server_is_one_line_and_the_rest_is_shown(workspace, monkeypatch, capsys):
    url = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    assert _status(workspace, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["server"]["reachable"] is False and data["server"]["deployments"] == []
    assert f"cannot reach the Prefect server at {url}" in data["server"]["detail"]
    assert [p["label"] for p in data["partitions"]] == ["photos-a", "photos-b"]

    assert _status(workspace) == 0
    out = capsys.readouterr()
    assert "photos-a" in out.out and f"cannot reach the Prefect server at {url}" in " ".join(out.out.split())
    assert "Traceback" not in out.out + out.err


def test_no_server_set_says_so(workspace, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "no-profiles.toml"))
    assert _status(workspace, "--json") == 0
    server = json.loads(capsys.readouterr().out)["server"]
    assert server == {"reachable": False, "url": None, "deployments": [],
                      "detail": "no Prefect server set (PREFECT_API_URL): next runs unknown"}
