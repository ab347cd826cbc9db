"""Start what a systemd unit starts, by hand: its Environment lines and its ExecStart line."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from icefloe.service import exec_lines

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unit_env(unit_text: str, overrides: Mapping[str, str] = {}) -> dict[str, str]:
    """The unit's environment over a clean one: nothing of this test's own Prefect settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    for (pair,) in exec_lines(unit_text)["Environment"]:
        key, _, value = pair.partition("=")
        env[key] = value
    env.update(overrides)
    return env


def start(unit_text: str, log: Path, overrides: Mapping[str, str] = {}, step: str = "ExecStart",
          index: int = 0) -> subprocess.Popen[Any]:
    args = exec_lines(unit_text)[step][index]
    with open(log, "ab") as out:
        return subprocess.Popen(args, env=unit_env(unit_text, overrides), cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def run_step(unit_text: str, step: str, index: int, overrides: Mapping[str, str] = {},
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
    args = exec_lines(unit_text)[step][index]
    return subprocess.run(args, env=unit_env(unit_text, overrides), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM to the process group (a server's uvicorn, a runner's flow runs), then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def wait_for(test: Any, timeout: float, what: str, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"{what} within {timeout} s\n{tail}")
