"""The mirror flow and task on the shared Prefect harness, against the real sshd."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from icefloe.catalog import MIRROR_OK, Catalog
from icefloe.config import load_settings
from icefloe.mirror import MirrorSummary


def fill(workspace: Path) -> None:
    for label in ("photos-a", "photos-b"):
        (workspace / label / "2024").mkdir()
        (workspace / label / "2024" / f"{label}.jpg").write_bytes(os.urandom(30_000))


def configure(workspace: Path, sshd, dest: Path, **mirror) -> Path:
    config = workspace / "icefloe.toml"
    config.write_text(config.read_text() + sshd.mirror_toml(dest, **mirror))
    return config


def test_flow_mirrors_every_partition_and_fails_naming_a_refused_one(
    prefect_harness, workspace: Path, sshd, tmp_path: Path
) -> None:
    from prefect.artifacts import Artifact

    from flows.mirror import mirror_partitions

    fill(workspace)
    dest = tmp_path / "offsite"
    dest.mkdir()
    config = configure(workspace, sshd, dest, concurrency=2, retries=0)

    summaries = mirror_partitions(config=str(config))
    assert sorted(s.label for s in summaries) == ["photos-a", "photos-b"]
    assert all(s.ok and s.files_transferred == 2 for s in summaries)
    for label in ("photos-a", "photos-b"):
        assert subprocess.run(["diff", "-r", str(workspace / label), str(dest / label)]).returncode == 0
    report = Artifact.get("mirror-photos-a")
    assert report is not None and "| files transferred | 2 |" in report.data

    (workspace / "photos-b" / ".icefloe-partition").unlink()  # as if the disk were not mounted
    state = mirror_partitions(config=str(config), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"1 of 2 partitions were not mirrored: photos-b: .*no sentinel"):
        state.result()
    with Catalog.open(load_settings(config, {}).catalog_path) as catalog:
        assert catalog.last_mirror_run("photos-a").ok
        refused = catalog.last_mirror_run("photos-b")
        assert not refused.ok and "sentinel" in refused.detail
        assert not catalog.latest_verification("partition:photos-b", MIRROR_OK).ok
        assert len(catalog.mirror_runs("photos-b")) == 2
    assert (dest / "photos-b" / "2024" / "photos-b.jpg").exists()  # the mirror kept its copy
    assert "not run" in Artifact.get("mirror-photos-b").data
    assert task_runs_of(state.state_details.flow_run_id) == ("mirror all", ["mirror photos-a", "mirror photos-b"])


def task_runs_of(flow_run_id) -> tuple[str, list[str]]:
    """The flow run's name and its task runs' names: the tasks ran inside the flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        name = client.read_flow_run(flow_run_id).name
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return name, sorted(r.name for r in runs)


def test_connection_refused_is_retried_then_reported_with_its_cause(
    prefect_harness, workspace: Path, sshd, tmp_path: Path, closed_port: int
) -> None:
    from prefect import flow

    from tasks.mirror import mirror_partition_task

    fill(workspace)
    config = configure(workspace, sshd, tmp_path, port=closed_port)

    @flow
    def mirror_once() -> MirrorSummary:
        return mirror_partition_task.with_options(retries=2, retry_delay_seconds=0)("photos-a", str(config))

    state = mirror_once(return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=f"connect to host 127.0.0.1 port {closed_port}: Connection refused"):
        state.result()
    with Catalog.open(load_settings(config, {}).catalog_path) as catalog:
        runs = catalog.mirror_runs("photos-a")
    assert len(runs) == 3  # the first attempt and two retries, each recorded
    assert all(not r.ok and "Connection refused" in r.detail for r in runs)
