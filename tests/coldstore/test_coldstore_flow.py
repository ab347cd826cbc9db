"""The upload flow on the shared Prefect harness: a one-off upload, visible with its progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from coldstore_helpers import MIB, create_container, write_config, write_random

from icefloe.catalog import SERVER_CHECKSUM, Catalog


@pytest.mark.parametrize("backend", ["glacier"])
def test_upload_flow(prefect_harness, standin, coldcfg, tmp_path: Path) -> None:
    from prefect.artifacts import Artifact
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterType

    from flows.upload import upload_archive

    create_container(coldcfg)
    config = write_config(tmp_path, coldcfg, part_size_mib=1)
    src = tmp_path / "family-2019.7z"
    write_random(src, 3 * MIB + 1)

    state = upload_archive(str(src), config=str(config), return_state=True)
    assert state.is_completed(), state
    result = state.result()
    assert result.size == 3 * MIB + 1 and result.parts_sent == 4
    with Catalog.open(tmp_path / "work" / "catalog.sqlite") as catalog:
        (copy,) = catalog.copies()
        assert copy.remote_id == result.remote_id
        assert catalog.latest_verification("archive:family-2019.7z", SERVER_CHECKSUM).ok

    report = Artifact.get("upload-family-2019-7z")
    assert report is not None and result.remote_id in report.data
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
        assert flow_run.name == f"upload {src}"
        progress = client.read_artifacts(
            artifact_filter=ArtifactFilter(type=ArtifactFilterType(any_=["progress"]))
        )
    assert any(a.data == 100.0 for a in progress)

    missing = upload_archive(str(tmp_path / "gone.7z"), config=str(config), return_state=True)
    assert missing.is_failed()
    with pytest.raises(Exception, match="no such file"):
        missing.result()


@pytest.mark.parametrize("backend", ["s3"])
def test_a_task_retry_resumes_the_upload(prefect_harness, standin, coldcfg, tmp_path: Path, monkeypatch) -> None:
    """Prefect retries the failed task in the same process: it sends only the parts S3 lacks."""
    from collections import Counter

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    import flows.upload
    from icefloe.coldstore.s3 import S3Store
    from icefloe.errors import Transient
    from tasks.upload import upload_archive_task

    create_container(coldcfg)
    config = write_config(tmp_path, coldcfg, part_size_mib=1, concurrency=1)
    src = tmp_path / "family-2021.7z"
    write_random(src, 4 * 5 * MIB + 9)  # five parts of S3's minimum 5 MiB
    real = S3Store._send_part
    calls = {"n": 0}

    def drops_the_third(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Transient("s3 UploadPart failed for now (the network dropped); run it again to resume")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(S3Store, "_send_part", drops_the_third)
    monkeypatch.setattr(flows.upload, "upload_archive_task",
                        upload_archive_task.with_options(retry_delay_seconds=0))
    state = flows.upload.upload_archive(str(src), config=str(config), return_state=True)
    assert state.is_completed(), state
    result = state.result()
    assert (result.parts_reused, result.parts_sent) == (2, 3)
    counters = standin.counters()
    assert Counter(p["part"] for p in counters["s3_parts"]) == Counter(range(1, 6))  # each once
    assert counters["operations"]["s3.CreateMultipartUpload"] == 1
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    assert [r.run_count for r in runs] == [2]
    with Catalog.open(tmp_path / "work" / "catalog.sqlite") as catalog:
        assert [u.state for u in catalog.uploads(state=None)] == ["completed"]
        (copy,) = catalog.copies()
        assert copy.remote_id == result.remote_id


@pytest.mark.parametrize("backend", ["s3", "glacier"])
def test_a_flow_retry_resumes_the_upload(prefect_harness, standin, coldcfg, tmp_path: Path, monkeypatch) -> None:
    """The whole flow run again (as the UI's Retry does) after its upload task failed: the
    upload the failed try left open is resumed, not started over."""
    from collections import Counter

    import flows.upload
    from icefloe.coldstore.s3 import S3Store
    from icefloe.coldstore.vault import VaultStore
    from icefloe.errors import Transient
    from tasks.upload import upload_archive_task

    create_container(coldcfg)
    config = write_config(tmp_path, coldcfg, part_size_mib=1, concurrency=1)
    part = MIB if coldcfg.backend == "glacier" else 5 * MIB
    src = tmp_path / "family-2022.7z"
    write_random(src, 3 * part + 1)  # four parts
    cls = VaultStore if coldcfg.backend == "glacier" else S3Store
    real = cls._send_part
    calls = {"n": 0}

    def drops_the_third(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Transient("UploadPart failed for now (the network dropped); run it again to resume")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, "_send_part", drops_the_third)
    monkeypatch.setattr(flows.upload, "upload_archive_task", upload_archive_task.with_options(retries=0))
    retried = flows.upload.upload_archive.with_options(retries=1, retry_delay_seconds=0)
    state = retried(str(src), config=str(config), return_state=True)
    assert state.is_completed(), state
    result = state.result()
    assert (result.parts_reused, result.parts_sent) == (2, 2)
    counters = standin.counters()
    if coldcfg.backend == "glacier":
        stored = Counter(p["range"] for p in counters["vault_parts"])
    else:
        stored = Counter(p["part"] for p in counters["s3_parts"])
    assert len(stored) == 4 and set(stored.values()) == {1}  # every part stored once
    with Catalog.open(tmp_path / "work" / "catalog.sqlite") as catalog:
        assert [u.state for u in catalog.uploads(state=None)] == ["completed"]
