"""The clear flow on the shared Prefect harness: gates refuse, a clear commits, a failure undoes itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import FILES, IMG, V1, World, make_world
from helpers import snapshot
from icefloe.catalog import INVENTORY_SEEN, MirrorRun, now_iso
from icefloe.clear import TRASH_DIR
from icefloe.clear import trash as trash_module
from icefloe.partitions import active_partition

ARCHIVED = sorted([*FILES, "latest.jpg"])


# These clears have no cold store to keep a catalog snapshot in (tests/lifecycle do).
pytestmark = pytest.mark.usefixtures("no_catalog_snapshots")


def config_of(world: World) -> str:
    return str(world.part.parent / "icefloe.toml")


def cleared(world: World) -> bool:
    return world.catalog.get_archive_set("set1").cleared_at is not None


def task_runs(flow_run_id) -> dict[str, str]:
    """Task run name -> state name of one flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {r.name: r.state.name for r in runs}


def flow_run_name(flow_run_id) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).name


def artifact(key: str):
    from prefect.artifacts import Artifact

    found = Artifact.get(key)
    assert found is not None, f"no artifact {key}"
    return found


def rows(table_artifact) -> list[dict]:
    import json

    data = table_artifact.data
    return json.loads(data) if isinstance(data, str) else data


def _failed_mirror(w: World) -> None:
    w.catalog.record_mirror_run(MirrorRun("photos-a", now_iso(), now_iso(), False, 23, detail="partial"))


@pytest.mark.parametrize(
    "options, change, phrase",
    [
        ({"omit": {f"inventory:{V1}"}}, None, f"archive {V1} has no inventory confirmation"),
        ({"omit": {f"verified:{IMG}"}}, None, f"image {IMG} not verified"),
        ({}, _failed_mirror, "the last mirror run of photos-a failed"),
    ],
    ids=["inventory", "image-verified", "mirror"],
)
def test_a_missing_gate_fails_the_run_and_changes_nothing(
    prefect_harness, workspace: Path, options, change, phrase
) -> None:
    from flows.clear import clear_partition_flow

    world = make_world(workspace, **options)
    if change:
        change(world)
    before = snapshot(world.part, everything=True)
    state = clear_partition_flow("photos-a", confirm=True, config=config_of(world), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=f"photos-a not cleared: .*{phrase}"):
        state.result()
    assert snapshot(world.part, everything=True) == before and not cleared(world)
    assert active_partition(world.catalog, world.settings) == "photos-a"
    table = rows(artifact("clear-gates-photos-a"))
    missing = [r for r in table if r["status"] == "missing"]
    assert len(missing) == 1 and phrase in missing[0]["detail"]
    assert any(r["status"] == "ok" for r in table)
    runs = task_runs(state.state_details.flow_run_id)
    # An interrupted clear is finished first; nothing after the gates ran.
    assert runs == {"recover clear photos-a": "Completed", "check gates photos-a": "Failed"}
    world.catalog.close()


def test_clears_when_every_gate_holds_and_the_other_partition_becomes_active(
    prefect_harness, world: World
) -> None:
    from flows.clear import clear_partition_flow

    world.write("dcim/2023/new.jpg", b"taken after the archive was made")
    state = clear_partition_flow("photos-a", confirm=True, config=config_of(world), return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert result.cleared and result.active == "photos-b"
    assert sorted(result.summary.paths) == ARCHIVED and result.summary.files == len(ARCHIVED)
    assert ("dcim/2023/new.jpg", "in no archive (written after the archive was made)") in result.summary.kept_paths
    for rel in ARCHIVED:
        assert not (world.part / rel).exists() and not (world.part / rel).is_symlink()
    assert (world.part / "dcim/2023/new.jpg").read_bytes() == b"taken after the archive was made"
    assert (world.part / ".icefloe-partition").exists() and not (world.part / TRASH_DIR).exists()
    assert cleared(world) and active_partition(world.catalog, world.settings) == "photos-b"

    flow_run_id = state.state_details.flow_run_id
    assert flow_run_name(flow_run_id) == "clear photos-a"
    assert task_runs(flow_run_id) == {
        "recover clear photos-a": "Completed",
        "check gates photos-a": "Completed", "plan clear photos-a": "Completed",
        "stage clear photos-a": "Completed", "confirm clear photos-a": "Completed",
        "switch active partition from photos-a": "Completed", "report clear photos-a": "Completed",
        "snapshot catalog": "Completed",  # off here (no cold store), and said so in its log
    }
    assert all(r["status"] == "ok" for r in rows(artifact("clear-gates-photos-a")))
    report = artifact("clear-photos-a").data
    assert "### Clear of photos-a: done" in report and "| files removed | 6 |" in report
    assert "dcim/2023/a.jpg" in report and "`dcim/2023/new.jpg` | in no archive" in report

    again = clear_partition_flow("photos-a", confirm=True, config=config_of(world), return_state=True)
    assert again.is_completed() and again.result().cleared is False  # nothing left to clear
    assert (world.part / "dcim/2023/new.jpg").exists()


def test_a_failure_after_the_move_puts_every_file_back(prefect_harness, world: World, monkeypatch) -> None:
    from flows.clear import clear_partition_flow

    moved = []

    def broken_purge(files_dir: Path) -> None:
        moved.extend(p.name for p in files_dir.rglob("*.jpg"))  # the files really sat in the trash
        raise OSError("disk went away")

    real_purge = trash_module._purge
    monkeypatch.setattr(trash_module, "_purge", broken_purge)
    before = snapshot(world.part, everything=True)
    state = clear_partition_flow("photos-a", confirm=True, config=config_of(world), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"clearing photos-a failed after the files were moved "
                                        r"\(OSError: disk went away\); every file was put back"):
        state.result()
    assert sorted(moved) == ["a.jpg", "b.jpg", "c.jpg", "latest.jpg"]
    assert snapshot(world.part, everything=True) == before  # contents, sizes, file and folder mtimes
    assert not cleared(world) and active_partition(world.catalog, world.settings) == "photos-a"
    runs = task_runs(state.state_details.flow_run_id)
    assert runs["confirm clear photos-a"] == "Failed" and "switch active partition from photos-a" not in runs

    monkeypatch.setattr(trash_module, "_purge", real_purge)  # the cause is fixed: the same clear now goes through
    state = clear_partition_flow("photos-a", confirm=True, config=config_of(world), return_state=True)
    assert state.is_completed() and cleared(world) and not (world.part / "dcim").exists()


def test_a_file_that_cannot_go_back_fails_loudly_and_stays_in_the_trash(
    prefect_harness, world: World, monkeypatch
) -> None:
    from flows.clear import clear_partition_flow

    def purge_while_someone_writes(files_dir: Path) -> None:
        world.write("notes.txt", b"written during the clear")  # takes a moved file's place
        raise OSError("disk went away")

    monkeypatch.setattr(trash_module, "_purge", purge_while_someone_writes)
    state = clear_partition_flow("photos-a", confirm=True, config=config_of(world), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"clearing photos-a failed \(OSError: disk went away\) and some "
                                        r"files could not be put back; look in .*\.icefloe-trash"):
        state.result()
    assert (world.part / "notes.txt").read_bytes() == b"written during the clear"  # never overwritten
    [stamp] = (world.part / TRASH_DIR).iterdir()
    assert (stamp / "files" / "notes.txt").exists() and (stamp / "journal.json").exists()
    assert (world.part / "dcim/2023/a.jpg").exists() and not cleared(world)


def test_gates_changing_between_the_check_and_the_move_refuse(prefect_harness, world: World, monkeypatch) -> None:
    import tasks.clear as clear_tasks
    from flows.clear import clear_partition_flow

    real_plan = clear_tasks.plan_clear_task.fn

    def plan_then_revoke(label, config=None, dry_run=False):
        summary = real_plan(label, config, dry_run)
        world.catalog.verify(f"archive:{V1}", INVENTORY_SEEN, False, "gone from today's inventory")
        return summary

    monkeypatch.setattr(clear_tasks.plan_clear_task, "fn", plan_then_revoke)
    before = snapshot(world.part, everything=True)
    state = clear_partition_flow("photos-a", confirm=True, config=config_of(world), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=f"archive {V1} was missing from the last inventory"):
        state.result()
    assert snapshot(world.part, everything=True) == before and not cleared(world)


def test_dry_run_lists_what_would_go_and_touches_nothing(prefect_harness, world: World) -> None:
    from flows.clear import clear_partition_flow

    before = snapshot(world.part, everything=True)
    result = clear_partition_flow("photos-a", dry_run=True, config=config_of(world))
    assert result.dry_run and not result.cleared and sorted(result.summary.paths) == ARCHIVED
    assert snapshot(world.part, everything=True) == before and not cleared(world)
    report = artifact("clear-photos-a").data
    assert "dry run" in report and "| files would remove | 6 |" in report and "deep/x/y/z.raw" in report


def test_without_confirm_the_run_fails_before_any_change(prefect_harness, world: World) -> None:
    from flows.clear import clear_partition_flow

    before = snapshot(world.part, everything=True)
    state = clear_partition_flow("photos-a", config=config_of(world), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"clearing photos-a deletes 6 files .* confirm=True"):
        state.result()
    assert snapshot(world.part, everything=True) == before and not cleared(world)
