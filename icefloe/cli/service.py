"""`icefloe service install` and `icefloe service wait`: icefloe as systemd services.

The units (icefloe/service.py) run the Prefect server and serve.py (or a process worker) with
this icefloe.toml, restart on failure and log to the journal, so backups outlive a logout and
a reboot. The notification automations are refreshed each time the runner unit starts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from icefloe.cli.app import app, info, state
from icefloe.cli.helptext import SET_UP
from icefloe.cli.prefect_edge import PrefectUnavailable
from icefloe.config import DEFAULT_CONFIG
from icefloe.errors import ConfigInvalid, ExternalToolError, ExternalToolMissing
from icefloe.fsutil import atomic_write_bytes
from icefloe.service import ServicePlan, units

ROOT = Path(__file__).resolve().parents[2]

service_app = typer.Typer(help="Run icefloe as systemd services: the Prefect server and the deployments.",
                          no_args_is_help=True)
app.add_typer(service_app, name="service", rich_help_panel=SET_UP)


def _config_path() -> Path:
    import os

    path = Path(state().config_path or os.environ.get("ICEFLOE_CONFIG") or DEFAULT_CONFIG).expanduser().resolve()
    if not path.is_file():
        raise ConfigInvalid(f"{path}: configuration file not found (the services need one; `icefloe init` writes it)")
    return path


@service_app.command("install")
def install_cmd(
    unit_dir: Path = typer.Option(Path("/etc/systemd/system"), "--dir", help="Where to write the units."),
    enable: bool = typer.Option(False, "--enable", help="Also run systemctl daemon-reload and enable --now."),
    worker: bool = typer.Option(False, "--worker", help="A process worker of --pool instead of serve.py."),
    pool: str = typer.Option("icefloe", "--pool", help="The work pool, with --worker."),
    port: int = typer.Option(4200, "--port", help="The Prefect server's port on 127.0.0.1."),
    user: Optional[str] = typer.Option(None, "--user", help="Run the services as this user."),
    prefect_home: Path = typer.Option(Path("/var/lib/icefloe/prefect"), "--prefect-home",
                                      help="The server's database and the runs' results."),
    env_file: Path = typer.Option(Path("/etc/icefloe/env"), "--env-file",
                                  help="KEY=value secrets the units read (mode 0600): archive password, tokens."),
) -> None:
    """Write systemd units for the Prefect server and the deployments (schedules from icefloe.toml)."""
    plan = ServicePlan(
        root=ROOT, venv=Path(sys.prefix), config=_config_path(), prefect_home=prefect_home.expanduser().resolve(),
        port=port, user=user, env_file=env_file, runner="worker" if worker else "serve", pool=pool,
    )
    unit_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in units(plan).items():
        atomic_write_bytes(unit_dir / name, text.encode())
        written.append(name)
        typer.echo(str(unit_dir / name))
    if not enable:
        info("enable with: systemctl daemon-reload && systemctl enable --now " + " ".join(written))
        return
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        raise ExternalToolMissing("systemctl not found: this machine does not run systemd; start the units' "
                                  "ExecStart lines by hand (docs/deployments.md)")
    for args in (["daemon-reload"], ["enable", "--now", *written]):
        done = subprocess.run([systemctl, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise ExternalToolError(f"systemctl {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}")
    info(f"started {', '.join(written)}; logs: journalctl -u {written[-1]} -f")


@service_app.command("wait")
def wait_cmd(
    url: str = typer.Option("http://127.0.0.1:4200/api", "--url", help="The Prefect API to wait for."),
    timeout: float = typer.Option(120, "--timeout", help="Give up after this many seconds."),
) -> None:
    """Wait until the Prefect server answers (the runner unit starts after it)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url.rstrip("/") + "/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise PrefectUnavailable(f"the Prefect server at {url} did not answer within {timeout:g} s")
        time.sleep(1)
