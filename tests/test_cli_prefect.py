"""Prefect at the CLI's edge: icefloe's defaults for its runs, and Prefect's failures as one line.

These run `icefloe` as a person would, with no PREFECT_API_URL, so each run starts Prefect's
temporary server itself.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from helpers import icefloe, invoke, one_line_error

from icefloe.cli.prefect_edge import ANALYTICS, STARTUP_TIMEOUT, apply_defaults

OURS = ("PREFECT_API", "PREFECT_SERVER_", "PREFECT_LOGGING", "PREFECT_PROFILE")  # the session's, not a person's


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {"PREFECT_HOME": str(home), **extra}


def _dry_run(workspace: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    (workspace / "photos-a" / "note.txt").write_text("a file to plan\n")
    return icefloe("-c", str(workspace / "icefloe.toml"), "archive", "photos-a", "--dry-run",
                   cwd=workspace, env=env, drop=OURS, timeout=400)


def _server_still_running(stderr: str) -> list[str]:
    """Prefect's temporary servers started by that run (by port) that are still alive."""
    ports = re.findall(r"Starting temporary server on http://127\.0\.0\.1:(\d+)", stderr)
    alive = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in cmdline]
        if any("prefect.server.api.server:create_app" in a for a in args):
            alive += [port for port in ports if port in args]
    return alive


def test_a_slow_prefect_start_is_one_line_and_a_rerun_works(workspace: Path, tmp_path: Path) -> None:
    slow = _dry_run(workspace, _env(tmp_path / "prefect", **{STARTUP_TIMEOUT: "1"}))

    assert slow.returncode == 4, slow.stderr
    assert "Traceback" not in slow.stderr
    verdict = [line for line in slow.stderr.splitlines() if line.startswith("icefloe:")]
    assert len(verdict) == 1, slow.stderr
    assert "did not start within 1 s" in verdict[0] and STARTUP_TIMEOUT in verdict[0]
    assert "prefect server start" in verdict[0]
    assert _server_still_running(slow.stderr) == []

    # The same command with icefloe's own limit: it starts, plans, and prints no telemetry noise.
    again = _dry_run(workspace, _env(tmp_path / "prefect"))
    assert again.returncode == 0, again.stderr
    assert "photos-a: 1 files" in again.stderr
    assert "Traceback" not in again.stderr
    assert "telemetry" not in again.stderr.lower()
    assert _server_still_running(again.stderr) == []


def test_an_unreachable_prefect_server_is_one_line(workspace: Path, tmp_path: Path) -> None:
    proc = _dry_run(workspace, _env(tmp_path / "prefect", PREFECT_API_URL="http://127.0.0.1:9/api"))

    assert proc.returncode == 4
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("icefloe: cannot reach the Prefect server at http://127.0.0.1:9/api")


def test_the_person_s_prefect_settings_win(tmp_path: Path) -> None:
    assert apply_defaults(env := {"PREFECT_HOME": str(tmp_path)}) == {STARTUP_TIMEOUT: "180", ANALYTICS: "false"}
    assert env[STARTUP_TIMEOUT] == "180" and env[ANALYTICS] == "false"

    env = {"PREFECT_HOME": str(tmp_path), STARTUP_TIMEOUT: "30"}
    assert apply_defaults(env) == {ANALYTICS: "false"} and env[STARTUP_TIMEOUT] == "30"

    (tmp_path / "profiles.toml").write_text(
        'active = "home"\n[profiles.home]\nPREFECT_SERVER_ANALYTICS_ENABLED = "true"\n'
        '[profiles.other]\nPREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS = "5"\n'
    )
    env = {"PREFECT_HOME": str(tmp_path)}
    assert apply_defaults(env) == {STARTUP_TIMEOUT: "180"} and ANALYTICS not in env
    env = {"PREFECT_HOME": str(tmp_path), "PREFECT_PROFILE": "other"}
    assert apply_defaults(env) == {ANALYTICS: "false"} and STARTUP_TIMEOUT not in env


def test_an_unexpected_error_is_one_line_not_a_traceback(workspace: Path, monkeypatch, capsys) -> None:
    import importlib

    from icefloe.cli import BUG_EXIT

    app_module = importlib.import_module("icefloe.cli.app")  # icefloe.cli.app is the Typer app

    def broken(*args, **kwargs):
        raise KeyError("a bug deep inside a command")

    monkeypatch.setattr(app_module, "load_settings", broken)
    monkeypatch.delenv("ICEFLOE_DEBUG", raising=False)
    broke = invoke(capsys, "-c", str(workspace / "icefloe.toml"), "catalog")
    line = one_line_error(broke)
    assert broke.returncode == BUG_EXIT and line.startswith("icefloe: internal error")
    assert "KeyError" in line and "ICEFLOE_DEBUG=1" in line
