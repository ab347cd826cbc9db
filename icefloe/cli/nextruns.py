"""The next scheduled run of each deployment, for `icefloe status`, when a Prefect server answers.

Read over Prefect's REST API with a short timeout, so `status` stays quick and works with no
server at all: then it says why and shows the rest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from icefloe.cli.prefect_edge import profile_settings

TIMEOUT_S = 3.0


def api_url(environ: Mapping[str, str]) -> str | None:
    return environ.get("PREFECT_API_URL") or profile_settings(environ).get("PREFECT_API_URL") or None


def next_runs(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """``{"reachable", "url", "detail", "deployments": [{name, flow, schedules, next_run}]}``."""
    url = api_url(environ)
    if not url:
        return {"reachable": False, "url": None, "deployments": [],
                "detail": "no Prefect server set (PREFECT_API_URL): next runs unknown"}
    import httpx

    try:
        with httpx.Client(base_url=url.rstrip("/") + "/", timeout=TIMEOUT_S) as client:
            deployments = _ok(client.post("deployments/filter", json={"sort": "NAME_ASC"}))
            rows = [_row(client, d) for d in deployments]
    except (httpx.HTTPError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {"reachable": False, "url": url, "deployments": [],
                "detail": f"cannot reach the Prefect server at {url} ({reason}): next runs unknown"}
    return {"reachable": True, "url": url, "detail": None, "deployments": rows}


def _ok(response: Any) -> Any:
    response.raise_for_status()
    return response.json()


def _row(client: Any, deployment: dict[str, Any]) -> dict[str, Any]:
    runs = _ok(client.post("flow_runs/filter", json={
        "deployments": {"id": {"any_": [deployment["id"]]}},
        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
        "sort": "EXPECTED_START_TIME_ASC",
        "limit": 1,
    }))
    schedules = [s["schedule"] for s in deployment.get("schedules") or [] if s.get("active", True)]
    return {
        "name": deployment["name"],
        "schedules": [f"{s.get('cron')} ({s.get('timezone') or 'UTC'})" for s in schedules if s.get("cron")],
        "paused": bool(deployment.get("paused")),
        "next_run": runs[0]["expected_start_time"] if runs else None,
    }
