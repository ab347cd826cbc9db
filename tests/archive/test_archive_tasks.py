"""The consolidate and testzip tasks on the shared Prefect harness."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archive_helpers import sevenzip, text
from icefloe.catalog import TESTZIP, Catalog
from icefloe.config import load_settings
from icefloe.errors import ChecksumMismatch


def test_tasks_consolidate_then_testzip_and_record_failures(prefect_harness, workspace: Path, monkeypatch) -> None:
    from prefect import flow
    from prefect.artifacts import Artifact

    from tasks.archive import consolidate_partition_task, test_archive_task

    part = workspace / "photos-a"
    (part / "2019").mkdir()
    (part / "2019" / "IMG_1.jpg").write_bytes(os.urandom(150_000))
    (part / "2019" / "notes.txt").write_bytes(text(200_000))
    config = workspace / "icefloe.toml"
    config.write_text(config.read_text() + "volume_size_mib = 1\nworkers = 1\n")  # under [archive]
    monkeypatch.setenv("ICEFLOE_ARCHIVE_PASSWORD", "task secret")

    @flow(name="archive-tasks-test")
    def both(config: str) -> tuple[dict, str]:
        made = consolidate_partition_task("photos-a", config)
        return made, test_archive_task(made.set_name, config)

    made, tested = both(str(config))
    assert tested == made.set_name and made.encrypted and made.file_count == 2
    assert all(Path(p).exists() for p in made.volumes)
    table = Artifact.get(f"archive-set-{made.set_name.lower()}")
    assert table is not None and Path(made.volumes[0]).name in str(table.data)
    settings = load_settings(config, {})
    with Catalog.open(settings.catalog_path) as catalog:
        (record,) = catalog.archives(set_name=made.set_name)
        assert len(catalog.verifications(f"archive:{record.name}")) == 2  # consolidate, then testzip

    # a volume whose bytes changed since it was recorded fails testzip, and the failure is recorded
    with open(made.volumes[0], "r+b") as fh:
        fh.seek(100)
        fh.write(b"\0" * 16)

    @flow(name="testzip-test")
    def again(set_name: str, config: str) -> str:
        return test_archive_task(set_name, config)

    with pytest.raises(ChecksumMismatch):
        again(made.set_name, str(config))
    with Catalog.open(settings.catalog_path) as catalog:
        assert not catalog.latest_verification(f"archive:{record.name}", TESTZIP).ok


def test_task_reads_the_password_from_a_prefect_secret_block(prefect_harness, workspace: Path, monkeypatch) -> None:
    from prefect import flow
    from prefect.blocks.system import Secret

    from tasks.archive import consolidate_partition_task

    Secret(value="from the block").save("icefloe-archive-test", overwrite=True)
    part = workspace / "photos-b"
    (part / "notes.txt").write_bytes(text(50_000))
    config = workspace / "icefloe.toml"
    config.write_text(config.read_text() + 'password_secret_block = "icefloe-archive-test"\nworkers = 1\n')
    monkeypatch.delenv("ICEFLOE_ARCHIVE_PASSWORD", raising=False)

    @flow(name="archive-secret-test")
    def one(config: str) -> dict:
        return consolidate_partition_task("photos-b", config)

    made = one(str(config))
    assert made.encrypted
    sevenzip("t", "-pfrom the block", made.volumes[0])
    assert sevenzip("t", "-pwrong", made.volumes[0], check=False).returncode != 0
