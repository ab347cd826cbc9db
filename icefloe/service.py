"""systemd units that keep icefloe running: the Prefect server, and what runs the deployments.

Two units, written by ``icefloe service install`` (docs/deployments.md shows them by hand):

- ``icefloe-prefect-server.service``: ``prefect server start`` on 127.0.0.1 (SQLite in its
  PREFECT_HOME, or the PostgreSQL that the environment file's
  ``PREFECT_SERVER_DATABASE_CONNECTION_URL`` names);
- ``icefloe-serve.service``: ``deployments/serve.py --config icefloe.toml``, which serves every
  deployment with the crons and timezone of that file; or, with ``runner="worker"``,
  ``icefloe-worker.service``: ``serve.py --deploy`` to a process work pool, then ``prefect
  worker start``.

Both restart on failure and log to the journal. Secrets (the archive password, a notification
URL with a token, a database password) never appear in a unit: they come from the
``EnvironmentFile`` each unit names, a file the owner keeps at mode 0600.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SERVER_UNIT = "icefloe-prefect-server.service"
SERVE_UNIT = "icefloe-serve.service"
WORKER_UNIT = "icefloe-worker.service"
HEARTBEAT_S = 30  # Prefect's shortest flow-run heartbeat; notify.crash_after_s waits for three


@dataclass(frozen=True)
class ServicePlan:
    """Everything the units need, chosen at the edge (the CLI)."""

    root: Path  # the checkout: prefect.yaml, deployments/serve.py
    venv: Path  # the virtualenv whose bin/ holds python, prefect and icefloe
    config: Path  # icefloe.toml
    prefect_home: Path  # the server's SQLite and the runs' local results
    port: int = 4200
    host: str = "127.0.0.1"
    user: str | None = None  # run as this user (system units); None: the unit's default
    env_file: Path | None = None  # secrets, KEY=value lines, mode 0600
    runner: Literal["serve", "worker"] = "serve"
    pool: str = "icefloe"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _quote(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


def _environment(values: Mapping[str, str]) -> list[str]:
    return [f'Environment="{k}={v}"' for k, v in values.items()]


def _service(description: str, after: list[str], env: Mapping[str, str], plan: ServicePlan,
             pre: list[tuple[bool, list[str]]], start: list[str], wants: tuple[str, ...] = ()) -> str:
    unit = [
        "[Unit]",
        f"Description={description}",
        "After=" + " ".join(["network-online.target", *after]),
        "Wants=" + " ".join(["network-online.target", *wants]),
        "",
        "[Service]",
        "Type=simple",
        f"WorkingDirectory={plan.root}",
    ]
    if plan.user:
        unit.append(f"User={plan.user}")
    unit += _environment(env)
    if plan.env_file is not None:
        unit.append(f"EnvironmentFile=-{plan.env_file}")  # "-": a missing file is not an error
    # A leading "-" (systemd's own syntax): the unit starts even when this step fails.
    unit += [f"ExecStartPre={'-' if may_fail else ''}{_quote(args)}" for may_fail, args in pre]
    unit += [
        f"ExecStart={_quote(start)}",
        "Restart=on-failure",
        "RestartSec=10",
        "TimeoutStopSec=60",
        # The journal gets stdout and stderr: `journalctl -u <unit>`.
        "StandardOutput=journal",
        "StandardError=journal",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(unit)


def _common_env(plan: ServicePlan) -> dict[str, str]:
    return {
        "PREFECT_HOME": str(plan.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_URL": plan.ui_url,
    }


def server_unit(plan: ServicePlan) -> str:
    bin_ = plan.venv / "bin"
    env = {**_common_env(plan), "PREFECT_UI_API_URL": plan.api_url, "PREFECT_SERVER_API_HOST": plan.host,
           "PREFECT_SERVER_API_PORT": str(plan.port)}
    start = [str(bin_ / "prefect"), "server", "start", "--host", plan.host, "--port", str(plan.port)]
    return _service("icefloe: the Prefect server and UI", [], env, plan, [], start)


def runner_unit(plan: ServicePlan) -> tuple[str, str]:
    """(file name, text) of the unit that runs the deployments."""
    bin_ = plan.venv / "bin"
    python, serve = str(bin_ / "python"), str(plan.root / "deployments" / "serve.py")
    env = {
        **_common_env(plan),
        "PREFECT_API_URL": plan.api_url,
        "ICEFLOE_CONFIG": str(plan.config),
        # A run killed with its process is marked Crashed once its heartbeats stop.
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S),
    }
    icefloe = str(bin_ / "icefloe")
    pre = [
        (False, [icefloe, "-c", str(plan.config), "service", "wait", "--url", plan.api_url]),
        # The automations are refreshed at every start; a notification problem never stops backups.
        (True, [icefloe, "-c", str(plan.config), "notify", "install"]),
    ]
    if plan.runner == "serve":
        start = [python, serve, "--config", str(plan.config)]
        name, what = SERVE_UNIT, "icefloe: serve the deployments (schedules from icefloe.toml)"
    else:
        pre.append((False, [python, serve, "--config", str(plan.config), "--deploy", plan.pool]))
        start = [str(bin_ / "prefect"), "worker", "start", "--pool", plan.pool, "--type", "process"]
        name, what = WORKER_UNIT, f"icefloe: a process worker of pool {plan.pool}"
    return name, _service(what, [SERVER_UNIT], env, plan, pre, start, wants=(SERVER_UNIT,))


def units(plan: ServicePlan) -> dict[str, str]:
    """File name -> unit text, for the server and the runner."""
    name, text = runner_unit(plan)
    return {SERVER_UNIT: server_unit(plan), name: text}


def exec_lines(unit_text: str) -> dict[str, list[list[str]]]:
    """``ExecStart``/``ExecStartPre`` of a unit as argument lists, and its Environment as one
    ``KEY=value`` list under ``Environment``: what a test starts by hand."""
    out: dict[str, list[list[str]]] = {"ExecStartPre": [], "ExecStart": [], "Environment": []}
    for line in unit_text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or key not in out:
            continue
        if key == "Environment":
            out[key].append(shlex.split(value))
        else:
            out[key].append(shlex.split(value.lstrip("-")))
    return out
