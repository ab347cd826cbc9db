"""The verified clear: every gate refuses on its own, a clear keeps what it must, and undoes itself."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from builders import FILES, IMG, V1, V2, World, make_world
from helpers import sha_hex as _sha
from helpers import snapshot
from icefloe.catalog import (
    BURNED_READBACK,
    IMAGE_VERIFIED,
    INVENTORY_SEEN,
    MIRROR_CHECKSUM,
    MIRROR_OK,
    SERVER_CHECKSUM,
    TESTZIP,
    ArchiveSet,
    BurnRecord,
    CopyRecord,
    ManifestEntry,
    MirrorRun,
    now_iso,
)
from icefloe.clear import (
    TRASH_DIR,
    PartitionClear,
    StagedClear,
    check_gates,
    clear_partition,
    plan_clear,
    recover,
)
from icefloe.clear import trash as trash_module
from icefloe.errors import GateNotMet, UsageError


def cleared(world: World, name: str = "set1") -> bool:
    return world.catalog.get_archive_set(name).cleared_at is not None


# -- the gates, one at a time ------------------------------------------------------------

def _revoke(subject: str, kind: str) -> Callable[[World], None]:
    return lambda w: w.catalog.verify(subject, kind, False, "checked again: bad")


def _wrong_copy(w: World) -> None:
    w.catalog.mark_copy_deleted("s3", "family", f"id-{V2}")
    w.catalog.put_copy(CopyRecord("s3", "family", "other", "{}", 1002, V2, _sha(b"something else")))


def _failed_mirror(w: World) -> None:
    w.catalog.record_mirror_run(MirrorRun("photos-a", now_iso(), now_iso(), False, 23, detail="partial"))


SET_TESTZIP_FAILED = _revoke("set:set1", TESTZIP)
GATES = [
    # (id, options for make_world, change after building, expected phrase)
    ("testzip-missing", {"omit": {f"testzip:{V2}"}}, None, f"archive {V2} has not passed testzip"),
    ("testzip-revoked", {}, _revoke(f"archive:{V1}", TESTZIP),
     f"archive {V1} failed testzip (checked again"),
    ("testzip-set-failed", {}, SET_TESTZIP_FAILED, f"archive {V1} failed testzip"),
    ("copy-missing", {"omit": {f"copy:{V1}"}}, None, f"archive {V1} has no copy in cold storage"),
    ("copy-deleted", {}, lambda w: w.catalog.mark_copy_deleted("glacier", "family", f"id-{V1}"),
     f"archive {V1} has no copy in cold storage"),
    ("copy-differs", {}, _wrong_copy, f"archive {V2} differs from its cold-storage copy"),
    ("server-checksum-missing", {"omit": {f"checksum:{V1}"}}, None, f"archive {V1} has no server checksum"),
    ("server-checksum-mismatch", {}, _revoke(f"archive:{V2}", SERVER_CHECKSUM),
     f"archive {V2}'s server checksum does not match"),
    ("inventory-missing", {"omit": {f"inventory:{V2}"}}, None,
     f"archive {V2} has no inventory confirmation"),
    ("inventory-revoked", {}, _revoke(f"archive:{V1}", INVENTORY_SEEN),
     f"archive {V1} was missing from the last"),
    ("volume-missing", {"omit": {f"archive:{V2}"}}, None, "set set1 has 1 of 2 volumes recorded"),
    ("no-disc-images", {"omit": {"images"}}, None, "set set1 has no disc images"),
    ("disc-missing", {"discs": 2, "omit": {"disc2"}}, None, "set set1 has 1 of 2 disc images"),
    ("image-not-verified", {"omit": {f"verified:{IMG}"}}, None, f"image {IMG} not verified"),
    ("image-revoked", {}, _revoke(f"image:{IMG}", IMAGE_VERIFIED), f"image {IMG} failed verification"),
    ("not-burned", {"burner": True, "omit": {f"burned:{IMG}"}}, None,
     f"image {IMG} not burned and read back"),
    ("readback-failed", {"burner": True}, _revoke(f"image:{IMG}", BURNED_READBACK),
     f"image {IMG} failed its burn readback"),
    ("bad-burn", {"burner": True, "omit": {f"burned:{IMG}"}},
     lambda w: (w.catalog.record_burn(BurnRecord(IMG, "stdio:/tmp/d", True, _sha(b"coaster"))),
                w.catalog.verify(f"image:{IMG}", BURNED_READBACK, True)),
     f"image {IMG} has no good burn recorded"),
    ("never-mirrored", {"omit": {"mirror"}}, None, "photos-a has never been mirrored"),
    ("mirror-failed", {}, _failed_mirror, "the last mirror run of photos-a failed"),
    ("mirror-too-old", {"omit": {"mirror"}},
     lambda w: w.catalog.record_mirror_run(MirrorRun("photos-a", "2000-01-01T00:00:00+00:00",
                                                     "2000-01-01T01:00:00+00:00", True, 0)),
     "finished before set set1 was made"),
    ("mirror-check-failed", {}, _revoke("partition:photos-a", MIRROR_OK),
     "the last mirror check of photos-a failed"),
    ("mirror-never-checksummed", {"omit": {"mirror-checksum"}}, None,
     "photos-a has no byte-for-byte mirror run since set set1 was made"),
    ("mirror-checksum-failed", {}, _revoke("partition:photos-a", MIRROR_CHECKSUM),
     "photos-a has no byte-for-byte mirror run"),
]


@pytest.mark.parametrize("options, change, phrase", [g[1:] for g in GATES], ids=[g[0] for g in GATES])
def test_each_missing_gate_refuses_and_changes_nothing(workspace: Path, options, change, phrase) -> None:
    world = make_world(workspace, **options)
    if change:
        change(world)
    before = snapshot(world.part, everything=True)
    with pytest.raises(GateNotMet) as err:
        clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert phrase in err.value.message
    assert err.value.message.startswith("photos-a not cleared: ") and "\n" not in err.value.message
    assert snapshot(world.part, everything=True) == before and not cleared(world)
    failing = [g for g in PartitionClear.from_settings(world.catalog, world.settings, "photos-a").gates()
               if not g.ok]
    # Only the gate this case breaks; a set-level testzip failure revokes it for both volumes.
    assert len({g.kind for g in failing}) == 1, failing
    assert len(failing) == (2 if change is SET_TESTZIP_FAILED else 1), failing


def test_nothing_archived_refuses(workspace: Path) -> None:
    world = make_world(workspace, archive=False)
    before = snapshot(world.part, everything=True)
    with pytest.raises(GateNotMet, match="nothing from photos-a is archived yet"):
        clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    world.catalog.put_archive_set(ArchiveSet("set0", "photos-a", 0, 0, True))
    with pytest.raises(GateNotMet, match="set set0 has no archives recorded"):
        clear_partition(world.catalog, world.settings, "photos-a", confirm=True, dry_run=True)
    assert snapshot(world.part, everything=True) == before


def test_every_failing_gate_is_named_in_one_line(workspace: Path) -> None:
    world = make_world(workspace, omit={f"inventory:{V1}", f"verified:{IMG}"})
    with pytest.raises(GateNotMet) as err:
        clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert err.value.message.startswith(
        f"photos-a not cleared: archive {V1} has no inventory confirmation; image {IMG} not verified."
    )
    assert err.value.exit_code == 7


def test_all_gates_hold_in_the_catalog(world: World) -> None:
    gates = check_gates(world.catalog, "photos-a", burner_configured=False, disc_configured=True)
    assert gates and all(g.ok for g in gates)
    kinds = {g.kind for g in gates}
    assert {TESTZIP, SERVER_CHECKSUM, INVENTORY_SEEN, IMAGE_VERIFIED, MIRROR_OK} <= kinds


def test_image_and_burn_gates_apply_only_when_configured(workspace: Path) -> None:
    world = make_world(workspace, disc="none", omit={"images"})
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert set(result.removed) == {*FILES, "latest.jpg"} and cleared(world)


def test_clear_with_a_burner_when_every_disc_was_read_back(workspace: Path) -> None:
    world = make_world(workspace, burner=True, discs=2)
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert result.sets_cleared == ("set1",)


# -- the clear itself --------------------------------------------------------------------

def test_clear_removes_archived_files_and_keeps_the_rest(world: World) -> None:
    world.write("notes.txt", b"edited after the archive was made")
    world.write("dcim/2023/new.jpg", b"taken yesterday")
    world.write("new-top.jpg", b"also new")
    sentinel = (world.part / ".icefloe-partition").read_bytes()
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert sorted(result.removed) == sorted(["dcim/2023/a.jpg", "dcim/2023/b.jpg", "dcim/2024/c.jpg",
                                             "deep/x/y/z.raw", "latest.jpg"])
    kept = {k.path: k.reason for k in result.kept}
    assert kept["notes.txt"] == "changed since it was archived"
    assert "in no archive" in kept["dcim/2023/new.jpg"] and "in no archive" in kept["new-top.jpg"]
    assert (world.part / "notes.txt").read_bytes() == b"edited after the archive was made"
    assert (world.part / "dcim/2023/new.jpg").read_bytes() == b"taken yesterday"
    assert (world.part / ".icefloe-partition").read_bytes() == sentinel
    assert not (world.part / "deep").exists() and not (world.part / "dcim/2024").exists()
    assert (world.part / "empty-before").is_dir()  # not emptied by the clear, so not ours to remove
    assert not (world.part / TRASH_DIR).exists()
    assert cleared(world) and result.sets_cleared == ("set1",)


def test_clear_again_is_a_no_op(world: World) -> None:
    clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    world.write("later.jpg", b"new")
    again = clear_partition(world.catalog, world.settings, "photos-a", confirm=False)
    assert again.removed == () and again.sets_cleared == ()
    assert (world.part / "later.jpg").exists()


def test_dry_run_lists_and_touches_nothing(world: World) -> None:
    before = snapshot(world.part, everything=True)
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=False, dry_run=True)
    assert result.dry_run and sorted(result.plan.files) == sorted([*FILES, "latest.jpg"])
    assert result.plan.total_bytes == sum(FILES.values()) + len("dcim/2023/a.jpg")
    assert snapshot(world.part, everything=True) == before and not cleared(world)


def test_without_confirm_nothing_happens(world: World) -> None:
    before = snapshot(world.part, everything=True)
    with pytest.raises(UsageError, match=r"deletes 6 files .* pass --yes to clear"):
        clear_partition(world.catalog, world.settings, "photos-a", confirm=False)
    assert snapshot(world.part, everything=True) == before and not cleared(world)


def test_two_pending_sets_are_cleared_together(world: World) -> None:
    world.write("later/d.jpg", b"second consolidation")
    world.archive_set("set2", ["later/d.jpg"])
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert "later/d.jpg" in result.removed and set(result.sets_cleared) == {"set1", "set2"}
    assert cleared(world, "set2") and not (world.part / "later").exists()


def test_manifest_paths_never_reach_outside_or_the_sentinel(workspace: Path) -> None:
    world = make_world(workspace, archive=False)
    outside = workspace / "outside"
    outside.mkdir()
    (outside / "f.txt").write_bytes(b"not on the partition")
    (workspace / "escape.txt").write_bytes(b"not on the partition either")
    os.symlink(outside, world.part / "linkdir")
    world.archive_set("set1", [*FILES, "linkdir/f.txt", ".icefloe-partition"])
    esc = os.stat(workspace / "escape.txt")
    made = world.catalog.get_archive_set("set1").created_at  # the same set, recorded again
    world.catalog.put_archive_set(
        ArchiveSet("set1", "photos-a", 1, 1, True, created_at=made),
        world.manifest([*FILES, "linkdir/f.txt", ".icefloe-partition"])
        + [ManifestEntry("../escape.txt", "file", esc.st_size, esc.st_mtime_ns)],
    )
    plan = plan_clear(world.part, world.catalog, "photos-a")
    kept = {k.path: k.reason for k in plan.kept}
    assert kept["linkdir/f.txt"] == "inside a symlinked folder"
    assert kept[".icefloe-partition"] == "the partition's sentinel file"
    assert kept["../escape.txt"] == "not a plain relative path"
    clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert (outside / "f.txt").exists() and (workspace / "escape.txt").exists()
    assert (world.part / ".icefloe-partition").exists() and (world.part / "linkdir").is_symlink()


def test_missing_sentinel_refuses(world: World) -> None:
    (world.part / ".icefloe-partition").unlink()
    before = snapshot(world.part, everything=True)
    with pytest.raises(GateNotMet, match="has no sentinel file .icefloe-partition; mount the partition"):
        clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert snapshot(world.part, everything=True) == before


# -- staged, reversible, recoverable -----------------------------------------------------

def test_a_failure_after_the_move_restores_every_file(world: World, monkeypatch) -> None:
    before = snapshot(world.part, everything=True)

    def broken_purge(files_dir: Path) -> None:
        assert any(files_dir.rglob("*.jpg"))  # the files really were moved into the trash
        raise OSError("disk went away")

    monkeypatch.setattr(trash_module, "_purge", broken_purge)
    with pytest.raises(OSError, match="disk went away"):
        clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert snapshot(world.part, everything=True) == before  # contents, sizes, file and folder mtimes
    assert not cleared(world)


def test_stage_then_rollback_is_exact_and_idempotent(world: World) -> None:
    before = snapshot(world.part, everything=True)
    clear = PartitionClear.from_settings(world.catalog, world.settings, "photos-a")
    staged = clear.stage(clear.plan())
    assert not (world.part / "dcim/2023/a.jpg").exists()
    assert (staged.stamp_dir / "files/dcim/2023/a.jpg").exists()
    journal = json.loads((staged.stamp_dir / "journal.json").read_text())
    assert journal["version"] == 1 and journal["state"] == "staged"
    assert sorted(journal["moved"]) == sorted(staged.moved)
    assert clear.rollback(staged) == ()
    assert clear.rollback(staged) == ()
    assert snapshot(world.part, everything=True) == before and not cleared(world)


def test_commit_is_idempotent(world: World) -> None:
    clear = PartitionClear.from_settings(world.catalog, world.settings, "photos-a")
    staged = clear.stage(clear.plan())
    clear.commit(staged)
    first = world.catalog.get_archive_set("set1").cleared_at
    clear.commit(staged)
    assert first and world.catalog.get_archive_set("set1").cleared_at == first
    assert not (world.part / TRASH_DIR).exists()


def test_hooks_can_rebuild_the_staged_clear_from_its_stamp(world: World) -> None:
    clear = PartitionClear.from_settings(world.catalog, world.settings, "photos-a")
    staged = clear.stage(clear.plan())
    loaded = StagedClear.load(world.part, staged.stamp)
    assert (loaded.label, loaded.sets, sorted(loaded.moved)) == ("photos-a", ("set1",), sorted(staged.moved))
    clear.commit(loaded)
    assert cleared(world) and not (world.part / "dcim/2023/a.jpg").exists()


def test_gates_are_read_again_right_before_staging(world: World) -> None:
    clear = PartitionClear.from_settings(world.catalog, world.settings, "photos-a")
    plan = clear.plan()
    before = snapshot(world.part, everything=True)
    world.catalog.verify(f"archive:{V1}", INVENTORY_SEEN, False, "not in today's inventory")
    with pytest.raises(GateNotMet, match=f"archive {V1} was missing"):
        clear.stage(plan)
    assert snapshot(world.part, everything=True) == before


def test_a_file_changed_after_the_plan_stays(world: World) -> None:
    clear = PartitionClear.from_settings(world.catalog, world.settings, "photos-a")
    plan = clear.plan()
    world.write("dcim/2024/c.jpg", b"retouched")
    staged = clear.stage(plan)
    clear.commit(staged)
    assert "dcim/2024/c.jpg" not in staged.moved
    assert {k.path: k.reason for k in staged.kept}["dcim/2024/c.jpg"] == "changed since the plan was made"
    assert (world.part / "dcim/2024/c.jpg").read_bytes() == b"retouched"


def test_a_failed_move_puts_back_what_moved(world: World, monkeypatch) -> None:
    before = snapshot(world.part, everything=True)
    real_rename, calls = os.rename, []

    def flaky(src, dst):
        calls.append(src)
        if len(calls) == 3:
            raise OSError("I/O error")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", flaky)
    clear = PartitionClear.from_settings(world.catalog, world.settings, "photos-a")
    with pytest.raises(OSError, match="I/O error"):
        clear.stage(clear.plan())
    monkeypatch.undo()
    assert snapshot(world.part, everything=True) == before


def test_recover_rolls_back_a_clear_a_crash_left_staged(world: World) -> None:
    before = snapshot(world.part, everything=True)
    clear = PartitionClear.from_settings(world.catalog, world.settings, "photos-a")
    staged = clear.stage(clear.plan())
    del clear  # the process dies here
    done = recover(world.part)
    assert [(r.stamp, r.action, r.unrestored) for r in done] == [(staged.stamp, "rolled back", ())]
    assert snapshot(world.part, everything=True) == before and recover(world.part) == []


def test_recover_finishes_a_clear_a_crash_interrupted_while_committing(world: World, monkeypatch) -> None:
    clear = PartitionClear.from_settings(world.catalog, world.settings, "photos-a")
    staged = clear.stage(clear.plan())

    def crash(files_dir: Path) -> None:
        raise KeyboardInterrupt  # stands in for the power going out mid-purge

    monkeypatch.setattr(trash_module, "_purge", crash)
    with pytest.raises(KeyboardInterrupt):
        clear.commit(staged)
    monkeypatch.undo()
    assert json.loads((staged.stamp_dir / "journal.json").read_text())["state"] == "committing"
    done = recover(world.part, world.catalog)
    assert [(r.stamp, r.action) for r in done] == [(staged.stamp, "committed")]
    assert not (world.part / "dcim/2023/a.jpg").exists() and not (world.part / TRASH_DIR).exists()
    assert cleared(world)


def test_a_new_clear_first_undoes_a_crashed_one(world: World) -> None:
    clear = PartitionClear.from_settings(world.catalog, world.settings, "photos-a")
    clear.stage(clear.plan())  # and then the process died
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert sorted(result.removed) == sorted([*FILES, "latest.jpg"]) and cleared(world)
    assert not (world.part / TRASH_DIR).exists() and (world.part / ".icefloe-partition").exists()


def test_recover_drops_a_stamp_that_crashed_before_its_journal(world: World) -> None:
    stamp = world.part / TRASH_DIR / "20250101T000000Z-deadbeef"
    stamp.mkdir(parents=True)
    (stamp / ".journal.json.x1y2.part").write_bytes(b'{"format": "icefl')
    assert [r.action for r in recover(world.part)] == ["rolled back"]
    assert not (world.part / TRASH_DIR).exists()


def test_rollback_never_overwrites_a_file_that_took_a_moved_ones_place(world: World) -> None:
    clear = PartitionClear.from_settings(world.catalog, world.settings, "photos-a")
    staged = clear.stage(clear.plan())
    world.write("notes.txt", b"written during the clear")
    assert clear.rollback(staged) == ("notes.txt",)
    assert (world.part / "notes.txt").read_bytes() == b"written during the clear"
    assert (staged.stamp_dir / "files/notes.txt").exists()  # kept for the owner to decide
    assert (world.part / "dcim/2023/a.jpg").exists()
