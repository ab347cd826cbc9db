"""The restore-partition flow end to end on the shared Prefect harness (S3 stand-in)."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers import snapshot
from restore_helpers import (
    LABEL,
    PASSWORD,
    archive,
    coldstore_config,
    create_container,
    make_partition,
    upload_set,
)

from icefloe.catalog import Catalog


def test_restore_partition_flow_brings_the_files_back(prefect_harness, standin, tmp_path: Path, monkeypatch) -> None:
    from flows.restore import restore_partition

    monkeypatch.setenv("ICEFLOE_ARCHIVE_PASSWORD", PASSWORD)
    part = make_partition(tmp_path / "photos-a", big=100_000)
    original = snapshot(part)
    cfg = coldstore_config("s3")
    create_container(cfg, standin.url)
    with Catalog.open(tmp_path / "work" / "catalog.sqlite") as catalog:
        result = archive(part, tmp_path / "work" / "archives", catalog)
        upload_set(result, cfg, catalog, standin.url)
    shutil.rmtree(part)
    shutil.rmtree(result.directory)
    config = tmp_path / "icefloe.toml"
    config.write_text(f'work_dir = "{tmp_path / "work"}"\n[coldstore]\nbackend = "s3"\nbucket = "{cfg.bucket}"\n')
    standin.set_options(job_delay_s=1)

    out = restore_partition(LABEL, str(tmp_path / "restored"), wait=True, config=str(config))

    [report] = out.restored
    assert out.pending == () and report.ok and report.set_name == result.set_name
    assert snapshot(tmp_path / "restored" / result.set_name) == original
    assert standin.counters()["operations"]["s3.RestoreObject"] == 1
    from prefect.artifacts import Artifact

    assert "retrieving 1 archive" in Artifact.get(f"restore-estimate-{LABEL}").data


def test_a_wrong_password_stops_the_flow_before_any_retrieval(prefect_harness, standin, tmp_path: Path,
                                                              monkeypatch) -> None:
    import pytest

    from flows.restore import restore_partition
    from icefloe.errors import PasswordError, StageFailed

    monkeypatch.setenv("ICEFLOE_ARCHIVE_PASSWORD", PASSWORD)
    part = make_partition(tmp_path / "photos-a")
    cfg = coldstore_config("s3")
    create_container(cfg, standin.url)
    with Catalog.open(tmp_path / "work" / "catalog.sqlite") as catalog:
        result = archive(part, tmp_path / "work" / "archives", catalog)
        upload_set(result, cfg, catalog, standin.url)
        assert catalog.get_archive_set(result.set_name).password_verifier
    shutil.rmtree(result.directory)
    config = tmp_path / "icefloe.toml"
    config.write_text(f'work_dir = "{tmp_path / "work"}"\n[coldstore]\nbackend = "s3"\nbucket = "{cfg.bucket}"\n')
    monkeypatch.setenv("ICEFLOE_ARCHIVE_PASSWORD", "not the family password")
    before = standin.counters()["operations"].get("s3.RestoreObject", 0)
    with pytest.raises(StageFailed, match="not the one") as failed:  # the run names its failed stage
        restore_partition(LABEL, str(tmp_path / "restored"), wait=True, config=str(config))
    assert isinstance(failed.value.error, PasswordError) and failed.value.exit_code == PasswordError.exit_code
    assert standin.counters()["operations"].get("s3.RestoreObject", 0) == before
    assert not (tmp_path / "restored").exists()
