"""The archive pipeline on a real Prefect server: a failed upload is retried as the UI does.

The earlier stages come back Cached, the consolidation is not redone, and the stand-in never
receives a part it already holds.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from icefloe.catalog import INVENTORY_SEEN, SERVER_CHECKSUM, TESTZIP, Catalog
from icefloe.coldstore.vault import VaultStore
from icefloe.errors import IcefloeError


class InjectedFailure(IcefloeError):
    """The upload stage failed on purpose (not retryable)."""


@pytest.fixture
def archive_config(pipeline_config) -> Path:
    return pipeline_config("glacier", "flow-test", coldstore="part_size_mib = 1\nconcurrency = 2\n")


def test_retry_after_failed_upload_reuses_finished_stages(prefect_harness, archive_config, standin, monkeypatch):
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.flow_engine import run_flow
    from prefect.states import AwaitingRetry

    from flows.archive import archive_partition

    sent = {"parts": 0}
    real_send_part = VaultStore._send_part

    def failing_send_part(self, *args, **kwargs):
        sent["parts"] += 1
        if sent["parts"] == 3:
            raise InjectedFailure("the network went away (injected)")
        return real_send_part(self, *args, **kwargs)

    monkeypatch.setattr(VaultStore, "_send_part", failing_send_part)
    archive_partition.to_deployment(name="archive-partition-test").apply()
    run = run_deployment(
        "archive-partition/archive-partition-test",
        parameters={"label": "photos-a", "config": str(archive_config)},
        timeout=0,
    )
    with get_client(sync_client=True) as client:
        first = run_flow(archive_partition, flow_run=client.read_flow_run(run.id), return_type="state")
    assert first.is_failed()
    archives_dir = archive_config.parent / "work" / "archives"
    made = sorted(p.name for p in archives_dir.iterdir())
    assert len(made) == 1  # one consolidation

    # Retry as the UI does: the same flow run goes back to AwaitingRetry and runs again.
    monkeypatch.setattr(VaultStore, "_send_part", real_send_part)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, AwaitingRetry(), force=True)
        second = run_flow(archive_partition, flow_run=client.read_flow_run(run.id), return_type="state")
        assert second.is_completed(), second.message
        task_runs = client.read_task_runs()
    ours = [t for t in task_runs if t.flow_run_id == run.id]
    consolidations = [t for t in ours if t.name.startswith("consolidate")]
    assert sorted(t.state.name for t in consolidations) == ["Cached", "Completed"]
    assert sorted(p.name for p in archives_dir.iterdir()) == made  # not redone

    parts = Counter((p["upload_id"], p["range"]) for p in standin.counters()["vault_parts"])
    assert parts and max(parts.values()) == 1, "a part the vault already held was sent again"

    result = second.result()
    with Catalog.open(archive_config.parent / "work" / "catalog.sqlite") as catalog:
        for volume in catalog.archives(set_name=result.set_name):
            for kind in (TESTZIP, SERVER_CHECKSUM, INVENTORY_SEEN):
                check = catalog.latest_verification(f"archive:{volume.name}", kind)
                assert check is not None and check.ok, (volume.name, kind)
        assert len(catalog.copies()) == len(result.volumes)
