"""Each archive stage: a short run name, a progress artifact that ends at 100%, a terminal bar."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest

from icefloe.catalog import TESTZIP, Catalog
from icefloe.config import load_settings


def _flow_run_facts(flow_run_id) -> tuple[list[str], dict[str, float]]:
    """(task run names, progress of each progress artifact by description)."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterType,
        FlowRunFilter,
        FlowRunFilterId,
    )

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]), type=ArtifactFilterType(any_=["progress"])))
    return [r.name for r in runs], {a.description: float(a.data) for a in artifacts}


class Recorder:
    """A terminal stand-in: the stages drawn and what each was told."""

    def __init__(self) -> None:
        self.bars: dict[str, list[str]] = {}

    def make(self, stage: str):
        calls = self.bars.setdefault(stage, [])

        class Bar:
            def on_queued(self, total: int, label: str) -> None:
                calls.append("queued")

            def on_progress(self, nbytes: int) -> None:
                if "progress" not in calls:
                    calls.append("progress")

            def on_done(self) -> None:
                calls.append("done")

        return Bar()


@pytest.fixture
def stages_config(pipeline_config) -> Path:
    return pipeline_config("s3", f"stages-{uuid.uuid4().hex[:10]}", size_mib=3,
                           coldstore="catalog_snapshots = false\npart_size_mib = 1\n")


def test_stages_have_short_names_full_artifacts_and_a_bar_each(prefect_harness, stages_config) -> None:
    from prefect import flow
    from prefect.runtime import flow_run

    from tasks.archive import consolidate_partition_task, test_archive_task
    from tasks.common import stage_bars
    from tasks.disc import build_images_task, verify_image_task
    from tasks.upload import upload_archive_task

    config = str(stages_config)

    @flow(name="stages-test")
    def stages() -> tuple[str, dict]:
        made = consolidate_partition_task("photos-a", config)
        test_archive_task(made.set_name, config)
        for image in build_images_task(made.set_name, config):
            verify_image_task(image, config)
        for volume in made.volumes:
            upload_archive_task(volume, config=config, partition="photos-a")
        return flow_run.id, made

    terminal = Recorder()
    with stage_bars(terminal.make):
        run_id, made = stages()
    names, progress = _flow_run_facts(run_id)
    name = made.set_name
    assert f"testzip {name}" in names and f"consolidate photos-a" in names
    assert any(n.startswith(f"verify {name}-disc-01-of-") and n.endswith(".iso") for n in names)
    assert {f"upload {Path(v).name}" for v in made.volumes} <= set(names)
    assert not any("/" in n for n in names) and max(len(n) for n in names) <= 60, names
    # Every stage's artifact ends at 100%: testzip's too, whose total is not known ahead.
    assert progress[f"testzip {name}"] == 100.0
    assert len(progress) >= 4 and all(p == 100.0 for p in progress.values()), progress
    # One terminal bar per stage, each told its start and its end.
    assert set(terminal.bars) == set(progress)
    assert all(calls[0] == "queued" and calls[-1] == "done" for calls in terminal.bars.values())


def test_testzip_interrupted_midway_records_nothing_and_a_rerun_reaches_100(prefect_harness, stages_config,
                                                                             monkeypatch) -> None:
    from prefect import flow
    from prefect.runtime import flow_run

    import icefloe.setcheck as archive_tasks  # where testzip_volumes calls test_archive
    from tasks.archive import consolidate_partition_task, test_archive_task

    config = str(stages_config)

    @flow(name="consolidate-test")
    def consolidate() -> dict:
        return consolidate_partition_task("photos-a", config)

    seen: list = []  # the flow runs' ids (a closure: flow parameters are copied)

    @flow(name="testzip-test")
    def testzip(set_name: str) -> None:
        seen.append(flow_run.id)
        test_archive_task(set_name, config)

    made = consolidate()
    settings = load_settings(stages_config, {})
    with Catalog.open(settings.catalog_path) as catalog:
        subjects = [f"archive:{a.name}" for a in catalog.archives(set_name=made.set_name)]
        before = sum(len([v for v in catalog.verifications(s) if v.kind == TESTZIP]) for s in subjects)

    real = archive_tasks.test_archive

    class Interrupting:
        def __init__(self, inner) -> None:
            self.inner = inner

        def on_queued(self, total, label) -> None:
            self.inner.on_queued(total, label)

        def on_progress(self, nbytes) -> None:
            self.inner.on_progress(nbytes)
            raise KeyboardInterrupt  # Ctrl-C with the first bytes checked

        def on_done(self) -> None:
            self.inner.on_done()

    monkeypatch.setattr(archive_tasks, "test_archive",
                        lambda paths, password, *, workers, progress: real(paths, password, workers=1,
                                                                           progress=Interrupting(progress)))
    with pytest.raises(KeyboardInterrupt):
        testzip(made.set_name)
    names, progress = _flow_run_facts(seen[0])
    assert progress[f"testzip {made.set_name}"] < 100.0  # an interrupted stage does not look finished
    with Catalog.open(settings.catalog_path) as catalog:
        after = sum(len([v for v in catalog.verifications(s) if v.kind == TESTZIP]) for s in subjects)
        assert after == before  # nothing recorded for half a testzip

    monkeypatch.setattr(archive_tasks, "test_archive", real)
    testzip(made.set_name)
    names, progress = _flow_run_facts(seen[1])
    assert progress == {f"testzip {made.set_name}": 100.0}
    with Catalog.open(settings.catalog_path) as catalog:
        latest = [catalog.latest_verification(s, TESTZIP) for s in subjects]
        assert all(v.ok for v in latest)
        total = sum(len([v for v in catalog.verifications(s) if v.kind == TESTZIP]) for s in subjects)
        assert total == before + len(subjects)  # one check per volume, none twice


def test_the_terminal_draws_one_bar_per_stage_in_80_columns() -> None:
    from rich.console import Console

    from icefloe.cli.stagebars import short, stage_progress
    from tasks.common import _TERMINAL

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with stage_progress(console) as made:
        bars = [make("testzip photos-a-20261202T010330Z") for make in _TERMINAL]
        bars += [make("verify photos-a-20261202T010330Z-disc-01-of-02.iso") for make in _TERMINAL]
        for bar in bars:
            bar.on_queued(0, "testing")
            bar.on_progress(512 * 1024)
        try:
            raise RuntimeError("a failed stage")
        except RuntimeError:
            bars[1].on_done()  # its bar keeps what it reached
        bars[0].on_done()
    assert _TERMINAL == [] and len(made) == 2
    text = out.getvalue()
    assert "testzip photos-a-20261202T010330Z" in text and "verify phot…" in text and "330Z-disc-01-of-02.iso" in text
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
    assert all(len(_plain(line)) <= 80 for line in lines)
    assert short("x" * 100).count("…") == 1 and len(short("x" * 100)) == 34


def _plain(line: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line)
