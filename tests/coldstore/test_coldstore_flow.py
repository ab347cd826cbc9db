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
    assert result["size"] == 3 * MIB + 1 and result["parts_sent"] == 4
    with Catalog.open(tmp_path / "work" / "catalog.sqlite") as catalog:
        (copy,) = catalog.copies()
        assert copy.remote_id == result["remote_id"]
        assert catalog.latest_verification("archive:family-2019.7z", SERVER_CHECKSUM).ok

    report = Artifact.get("upload-family-2019-7z")
    assert report is not None and result["remote_id"] in report.data
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
