"""prefect.yaml and deployments/serve.py: every entrypoint is a flow, `prefect deploy --all` accepts
the file, every schedule parses, and serve.py serves exactly the same set (no drift)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deployments"))
import serve  # noqa: E402  (deployments/serve.py, as `python deployments/serve.py` runs it)

SPECS = serve.read_specs(ROOT / "prefect.yaml")
EXPECTED = {
    # name: (entrypoint, crons); the deployments the routine needs (DESIGN.md, issue 6)
    "nightly-mirror": ("flows/mirror.py:mirror_partitions", ["0 2 * * *"]),
    "inventory-poll": ("flows/inventory.py:poll_inventory", ["0 * * * *"]),
    "archive-partition": ("flows/archive.py:archive_partition", []),
    "clear-partition": ("flows/clear.py:clear_partition_flow", []),
    "stale-upload-cleanup": ("flows/cleanup.py:cleanup_uploads", ["0 4 * * 0"]),
    "restore-partition": ("flows/restore.py:restore_partition", []),
    "watch-partitions": ("flows/watch.py:watch_partitions", ["0 9 * * *"]),
    "yearly-disc-check": ("flows/discs.py:check_discs", ["0 10 1 3 *"]),
    "weekly-summary": ("flows/watch.py:weekly_summary", ["0 8 * * 0"]),
}


def load_entrypoint(spec: serve.DeploymentSpec):
    """The flow as a worker loads it: Prefect's own entrypoint loader, from the file."""
    from prefect.flows import load_flow_from_entrypoint

    path, func = spec.entrypoint.split(":")
    return load_flow_from_entrypoint(f"{ROOT / path}:{func}")


def test_prefect_yaml_has_the_routines_deployments() -> None:
    assert {s.name: (s.entrypoint, [c.cron for c in s.schedules]) for s in SPECS} == EXPECTED
    for spec in SPECS:
        assert all(c.timezone == "UTC" for c in spec.schedules), spec
        assert spec.description is None, f"{spec.name}: the description comes from the flow's docstring"
    clear = next(s for s in SPECS if s.name == "clear-partition")
    assert clear.parameters == {"confirm": False, "dry_run": False} and clear.concurrency_limit == 1


def test_every_entrypoint_imports_and_is_a_flow() -> None:
    """Fails, naming each one, until every flow module in prefect.yaml exists and imports."""
    from prefect import Flow

    problems = []
    for spec in SPECS:
        try:
            flow = load_entrypoint(spec)
        except Exception as exc:  # noqa: BLE001 - collected so one run names every broken entrypoint
            problems.append(f"{spec.name}: {spec.entrypoint}: {type(exc).__name__}: {exc}")
            continue
        if not isinstance(flow, Flow):
            problems.append(f"{spec.name}: {spec.entrypoint} is a {type(flow).__name__}, not a Prefect Flow")
        elif not (flow.description or "").strip():
            problems.append(f"{spec.name}: {spec.entrypoint} has no docstring to describe the deployment")
        else:
            unknown = set(spec.parameters) - set(flow.parameters.properties)
            if unknown:
                problems.append(f"{spec.name}: parameters {sorted(unknown)} are not parameters of the flow")
    assert problems == []


def test_the_clear_flow_is_described_by_its_module_docstring() -> None:
    import flows.clear

    flow = load_entrypoint(next(s for s in SPECS if s.name == "clear-partition"))
    assert flow.name == "clear-partition" and flow.description == flows.clear.__doc__
    assert set(flow.parameters.properties) == {"label", "confirm", "dry_run", "config"}
    assert flow.parameters.required == ["label"]


def test_yaml_crons_are_the_configuration_defaults() -> None:
    """prefect.yaml's crons and timezone are icefloe.toml's defaults, which serve.py --config uses."""
    from icefloe.config import Settings

    defaults = Settings.model_construct()  # the field defaults, no file and no environment
    for spec in SPECS:
        if spec.name in serve.CONFIGURED_CRON:
            assert [c.cron for c in spec.schedules] == [serve.CONFIGURED_CRON[spec.name](defaults)], spec.name
            assert all(c.timezone == defaults.pipeline.timezone for c in spec.schedules)
    assert set(serve.CONFIGURED_CRON) == {s.name for s in SPECS if s.schedules}


def test_serve_takes_crons_and_timezone_from_a_config(workspace: Path) -> None:
    from icefloe.config import load_settings

    (workspace / "icefloe.toml").write_text(
        (workspace / "icefloe.toml").read_text()
        + '[mirror]\ncron = "30 1 * * *"\n[pipeline]\ntimezone = "Europe/Zurich"\n'
    )
    specs = {s.name: s for s in serve.configured(SPECS, load_settings(workspace / "icefloe.toml", {}))}
    assert specs["nightly-mirror"].schedules == (serve.Schedule("30 1 * * *", "Europe/Zurich"),)
    assert specs["inventory-poll"].schedules == (serve.Schedule("0 * * * *", "Europe/Zurich"),)
    assert specs["clear-partition"].schedules == ()


def test_serve_builds_the_clear_deployment_as_prefect_yaml_describes_it(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    [dep] = serve.to_deployments([s for s in SPECS if s.name == "clear-partition"])
    assert dep.name == "clear-partition" and dep.entrypoint == "flows/clear.py:clear_partition_flow"
    assert dep.parameters == {"confirm": False, "dry_run": False} and dep.work_pool_name is None
    assert dep.concurrency_limit == 1 and dep.tags == ["icefloe", "clear"]
    assert dep.description.startswith("Clear a backup partition once every copy")


def test_serve_serves_exactly_the_yaml_deployments(monkeypatch) -> None:
    """Fails until every flow of prefect.yaml exists (serve.py imports each one)."""
    monkeypatch.chdir(ROOT)
    deployments = serve.to_deployments(SPECS)
    assert [d.name for d in deployments] == [s.name for s in SPECS]
    for dep, spec in zip(deployments, SPECS):
        assert dep.entrypoint == spec.entrypoint
        assert [(s.schedule.cron, s.schedule.timezone) for s in dep.schedules or []] == [
            (c.cron, c.timezone) for c in spec.schedules
        ]
        assert dep.parameters == spec.parameters and dep.tags == list(spec.tags)
        assert dep.concurrency_limit == spec.concurrency_limit
        assert (dep.description or "").strip(), f"{spec.name} has no description"


def test_serve_refuses_an_unknown_deployment_name(capsys) -> None:
    assert serve.main(["--only", "no-such-thing"]) == 2
    assert "no deployment named no-such-thing" in capsys.readouterr().err


@pytest.fixture
def icefloe_pool(prefect_harness) -> str:
    """The process work pool prefect.yaml names, on the shared test server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name="icefloe", type="process", base_job_template=template))
        except ObjectAlreadyExists:
            pass
    return "icefloe"


def test_prefect_deploy_all_accepts_prefect_yaml_and_every_schedule_parses(icefloe_pool: str) -> None:
    """The real `prefect deploy --all` against the test server, then the deployments read back."""
    from prefect.client.orchestration import get_client
    from prefect.server.schemas.schedules import CronSchedule
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_CLI_WRAP_LINES": "false",
           "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, f"prefect deploy --all failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"

    with get_client(sync_client=True) as client:
        deployed = {d.name: d for d in client.read_deployments() if d.work_pool_name == icefloe_pool}
        flow_names = {d.name: client.read_flow(d.flow_id).name for d in deployed.values()}
    assert set(deployed) == {s.name for s in SPECS}
    for spec in SPECS:
        dep = deployed[spec.name]
        assert dep.entrypoint == spec.entrypoint and dep.parameters == spec.parameters
        assert set(spec.tags) <= set(dep.tags)
        limit = dep.global_concurrency_limit.limit if dep.global_concurrency_limit else None
        assert limit == spec.concurrency_limit, spec.name
        assert dep.description and dep.description.strip() == load_entrypoint(spec).description.strip()
        assert flow_names[spec.name] == load_entrypoint(spec).name
        steps = dep.pull_steps or []
        assert {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}} in steps
        got = sorted((s.schedule.cron, s.schedule.timezone, s.active) for s in dep.schedules)
        assert got == sorted((c.cron, c.timezone, c.active) for c in spec.schedules), spec.name
        for schedule in dep.schedules:  # the server's scheduler can compute the next runs
            dates = asyncio.run(CronSchedule(cron=schedule.schedule.cron,
                                             timezone=schedule.schedule.timezone).get_dates(n=3))
            assert len(dates) == 3 and dates[0] < dates[1] < dates[2]
    nightly = asyncio.run(CronSchedule(cron="0 2 * * *", timezone="UTC").get_dates(n=1))[0]
    assert (nightly.hour, nightly.minute) == (2, 0)
