"""`icefloe service install`: units systemd accepts, whose command lines really serve the deployments
with the schedules of icefloe.toml."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import httpx
import pytest
from helpers import invoke, ok

from icefloe.service import SERVE_UNIT, SERVER_UNIT, WORKER_UNIT, exec_lines
from unit_helpers import free_port, run_step, start, stop, wait_for

DEPLOYMENTS = {"nightly-mirror", "inventory-poll", "archive-partition", "clear-partition",
               "stale-upload-cleanup", "restore-partition"}



def _config(folder: Path) -> Path:
    (folder / "photos-a").mkdir(parents=True, exist_ok=True)
    path = folder / "icefloe.toml"
    path.write_text(textwrap.dedent("""\
        work_dir = "work"
        [[partitions]]
        label = "photos-a"
        path = "photos-a"
        [mirror]
        cron = "15 3 * * *"
        [pipeline]
        timezone = "Europe/Berlin"
        inventory_cron = "30 */2 * * *"
        """))
    return path


def _install(config: Path, unit_dir: Path, *extra: str) -> dict[str, str]:
    installed = invoke(None, "-c", str(config), "service", "install", "--dir", str(unit_dir),
                       "--prefect-home", str(unit_dir / "prefect-home"), *extra)
    assert installed.returncode == 0
    return {p.name: p.read_text() for p in sorted(unit_dir.glob("*.service"))}


@pytest.mark.parametrize("extra, runner", [((), SERVE_UNIT), (("--worker",), WORKER_UNIT)])
def test_the_units_pass_systemd_analyze_verify(tmp_path, extra, runner):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (Debian package systemd; scripts/system-deps.sh installs it)"
    units = _install(_config(tmp_path), tmp_path / "units", *extra)
    assert set(units) == {SERVER_UNIT, runner}
    done = subprocess.run([analyze, "verify", *(str(tmp_path / "units" / n) for n in units)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    for text in units.values():
        assert "Restart=on-failure" in text and "StandardError=journal" in text
        assert "ICEFLOE_ARCHIVE_PASSWORD" not in text  # secrets come from the EnvironmentFile
    runner_lines = exec_lines(units[runner])
    assert any("notify" in step and "install" in step for step in runner_lines["ExecStartPre"])
    assert f"--config {tmp_path / 'icefloe.toml'}" in units[runner]


def test_a_broken_unit_is_caught_by_the_same_check(tmp_path):
    units = _install(_config(tmp_path), tmp_path / "units")
    broken = tmp_path / "units" / SERVER_UNIT
    broken.write_text(units[SERVER_UNIT].replace("Restart=on-failure", "Restart=sometimes"))
    done = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, timeout=60)
    assert "restart specifier" in done.stderr  # what the check above would have failed on


def _deployments(api: str) -> dict[str, list[tuple[str, str]]]:
    try:
        rows = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
    except httpx.HTTPError:
        return {}
    return {r["name"]: [(s["schedule"].get("cron"), s["schedule"].get("timezone")) for s in r["schedules"]]
            for r in rows}


def test_the_units_command_lines_serve_every_deployment_on_the_configured_schedule(tmp_path, monkeypatch, capsys):
    port = free_port()
    config = _config(tmp_path)
    units = _install(config, tmp_path / "units", "--port", str(port))
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{port}/api")
    api = f"http://127.0.0.1:{port}/api"
    log = tmp_path / "services.log"
    server = start(units[SERVER_UNIT], log)
    runner = None
    try:
        waited = run_step(units[SERVE_UNIT], "ExecStartPre", 0, timeout=180)  # `icefloe service wait`
        assert waited.returncode == 0, waited.stderr + log.read_text(errors="replace")[-2000:]
        runner = start(units[SERVE_UNIT], log)
        found = wait_for(lambda: (d := _deployments(api)) and set(d) >= DEPLOYMENTS and d, 180,
                         "serve.py did not register every deployment", log)
        assert runner.poll() is None
        status = wait_for(lambda: (s := _status(config, api, capsys)) and _next_run(s, "nightly-mirror") and s,
                          90, "status never showed the next nightly mirror", log)
    finally:
        if runner is not None:
            stop(runner)
        stop(server)
    assert found["nightly-mirror"] == [("15 3 * * *", "Europe/Berlin")]
    assert found["inventory-poll"] == [("30 */2 * * *", "Europe/Berlin")]
    assert found["stale-upload-cleanup"] == [("0 4 * * 0", "Europe/Berlin")]
    assert found["archive-partition"] == []
    rows = {d["name"]: d for d in status["server"]["deployments"]}
    assert set(rows) >= DEPLOYMENTS
    assert rows["nightly-mirror"]["schedules"] == ["15 3 * * * (Europe/Berlin)"]
    assert rows["archive-partition"]["next_run"] is None and rows["archive-partition"]["schedules"] == []


def _status(config: Path, api: str, capsys: pytest.CaptureFixture[str]) -> dict | None:
    import json

    data = json.loads(ok(invoke(capsys, "-c", str(config), "status", "--json")))
    return data if data["server"]["reachable"] else None


def _next_run(status: dict, name: str) -> str | None:
    return next((d["next_run"] for d in status["server"]["deployments"] if d["name"] == name), None)
