"""A clear never deletes bytes no verified copy holds: each file is hashed against its manifest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from builders import FILES, World
from helpers import icefloe, one_line_error, sha_hex, snapshot
from icefloe.catalog import ManifestEntry
from icefloe.clear import TRASH_DIR, clear_partition
from icefloe.clear import content as content_module
from icefloe.clear import trash as trash_module

EDITED = "dcim/2023/a.jpg"


# These clears have no cold store to keep a catalog snapshot in (tests/lifecycle do).
pytestmark = pytest.mark.usefixtures("no_catalog_snapshots")


def edit_in_place(path: Path) -> bytes:
    """Overwrite bytes keeping size and mtime, as a tool that 'preserves the date' does."""
    st = os.stat(path)
    data = bytearray(path.read_bytes())
    data[10:20] = bytes(b ^ 0xFF for b in data[10:20])
    with open(path, "r+b") as handle:
        handle.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    return bytes(data)


def test_a_file_edited_in_place_with_size_and_mtime_kept_is_kept(world: World) -> None:
    edited = edit_in_place(world.part / EDITED)
    plan = trash_module.plan_clear(world.part, world.catalog, "photos-a")
    assert EDITED in plan.files  # metadata alone cannot tell: the plan still lists it
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    kept = {k.path: k.reason for k in result.kept}
    assert "content differs from the archived copy" in kept[EDITED]
    assert EDITED not in result.removed
    assert (world.part / EDITED).read_bytes() == edited  # still on the partition, the new bytes
    assert sorted(result.removed) == sorted(p for p in [*FILES, "latest.jpg"] if p != EDITED)
    assert not (world.part / TRASH_DIR).exists()  # nothing of it left to be purged later


def test_the_cli_reports_the_kept_file(world: World, workspace: Path) -> None:
    edit_in_place(world.part / EDITED)
    world.catalog.close()
    out = icefloe("clear", "photos-a", "--yes", cwd=workspace)
    assert out.returncode == 0, out.stderr
    assert f"kept     {EDITED}" in out.stdout and "content differs" in out.stdout
    assert (world.part / EDITED).exists()


def test_a_file_with_no_recorded_checksum_is_kept(world: World) -> None:
    rel = "dcim/2024/c.jpg"
    st = os.lstat(world.part / rel)
    world.catalog.put_archive_set(
        world.catalog.get_archive_set("set1"),
        [e if e.path != rel else ManifestEntry(rel, "file", st.st_size, st.st_mtime_ns, None)
         for e in world.catalog.manifest("set1")],
    )
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert {k.path: k.reason for k in result.kept}[rel].startswith("its manifest entry has no SHA-256")
    assert (world.part / rel).exists()


def test_a_file_written_while_it_is_hashed_is_put_back(world: World, monkeypatch) -> None:
    real_read = os.read
    hit: list[int] = []

    def read_then_write(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        if not hit:  # another program writes through its own handle mid-read
            hit.append(fd)
            writer = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
            os.write(writer, b"x")
            os.close(writer)
        return data

    monkeypatch.setattr(content_module.os, "read", read_then_write)
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    changed = [k for k in result.kept if "changed while it was checked" in k.reason]
    assert len(changed) == 1 and (world.part / changed[0].path).exists()


def test_a_file_put_back_never_replaces_a_new_one(world: World, monkeypatch) -> None:
    real = content_module.content_problem

    def new_file_appears(path: Path, *args) -> str | None:
        if path.name == "b.jpg":  # a camera import writes a new b.jpg meanwhile
            (world.part / "dcim/2023/b.jpg").write_bytes(b"brand new photo")
            return "its content differs from the archived copy"
        return real(path, *args)

    monkeypatch.setattr(trash_module, "content_problem", new_file_appears)
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    reason = {k.path: k.reason for k in result.kept}["dcim/2023/b.jpg"]
    assert "put back as b.jpg.icefloe-kept-" in reason
    assert (world.part / "dcim/2023/b.jpg").read_bytes() == b"brand new photo"
    backs = list((world.part / "dcim/2023").glob("b.jpg.icefloe-kept-*"))
    assert len(backs) == 1 and sha_hex(backs[0].read_bytes()) == next(
        e.sha256 for e in world.catalog.manifest("set1") if e.path == "dcim/2023/b.jpg")


def test_a_crash_while_hashing_leaves_a_clear_that_recovers(world: World, monkeypatch) -> None:
    edit_in_place(world.part / EDITED)

    def killed(*_args) -> str | None:
        raise KeyboardInterrupt  # Ctrl-C in the middle of reading a file

    real = trash_module.content_problem
    monkeypatch.setattr(trash_module, "content_problem", killed)
    with pytest.raises(KeyboardInterrupt):
        clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert (world.part / EDITED).exists() and not (world.part / TRASH_DIR).exists()
    assert world.catalog.get_archive_set("set1").cleared_at is None
    monkeypatch.setattr(trash_module, "content_problem", real)
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert EDITED in {k.path for k in result.kept} and (world.part / EDITED).exists()


# -- a crash in the commit phase still hands over to the other partition ------------------

KILL_AT = """
import os, signal, sys
from pathlib import Path
from icefloe.catalog import Catalog
from icefloe.clear import clear_partition
from icefloe.clear import trash
from icefloe.config import load_settings

point = sys.argv[1]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
if point == "after-purge":
    trash._prune = die
elif point == "after-mark":
    trash._drop_stamp = die
settings = load_settings(Path("icefloe.toml"), environ={})
with Catalog.open(settings.catalog_path) as catalog:
    clear_partition(catalog, settings, "photos-a", confirm=True)
"""


@pytest.mark.parametrize("point", ["after-purge", "after-mark"])
def test_a_clear_killed_while_committing_still_switches_partitions(world: World, workspace: Path,
                                                                     point: str) -> None:
    from icefloe.partitions import active_partition

    assert active_partition(world.catalog, world.settings) == "photos-a"
    killed = subprocess.run([sys.executable, "-c", KILL_AT, point], cwd=workspace,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert (world.part / TRASH_DIR).exists()  # the commit was cut short
    rerun = icefloe("clear", "photos-a", "--yes", "--json", cwd=workspace)
    assert rerun.returncode == 0, rerun.stderr
    assert '"active": "photos-b"' in rerun.stdout
    assert active_partition(world.catalog, world.settings) == "photos-b"
    assert world.catalog.get_archive_set("set1").cleared_at is not None
    assert not (world.part / TRASH_DIR).exists()
    assert not any((world.part / rel).exists() for rel in FILES)
    # Owed once: clearing again later does not switch back and forth.
    world.catalog.set_state("active_partition", "photos-a")
    again = icefloe("clear", "photos-a", "--yes", "--json", cwd=workspace)
    assert again.returncode == 0 and '"active": "photos-a"' in again.stdout, again.stderr


def test_a_file_only_an_abandoned_set_holds_is_kept(world: World) -> None:
    from icefloe.catalog import ArchiveSet
    from icefloe.lifecycle import abandon

    world.write("dcim/2024/only-abandoned.jpg", b"never uploaded anywhere")
    st = os.lstat(world.part / "dcim/2024/only-abandoned.jpg")
    world.catalog.put_archive_set(ArchiveSet("set0", "photos-a", 1, st.st_size, True), [
        ManifestEntry("dcim/2024/only-abandoned.jpg", "file", st.st_size, st.st_mtime_ns,
                      sha_hex(b"never uploaded anywhere"))])
    abandon(world.catalog, "set0", "killed and given up")
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert result.sets_cleared == ("set1",)  # the abandoned one is neither cleared nor a source
    assert (world.part / "dcim/2024/only-abandoned.jpg").read_bytes() == b"never uploaded anywhere"
    assert "in no archive" in {k.path: k.reason for k in result.kept}["dcim/2024/only-abandoned.jpg"]


def test_a_clear_while_an_archive_holds_the_partition_is_refused(world: World, workspace: Path) -> None:
    from icefloe.lease import Lease, partition_lease_name

    before = snapshot(world.part, everything=True)
    with Lease(world.catalog, partition_lease_name("photos-a"), "icefloe archive photos-a").acquire():
        proc = icefloe("clear", "photos-a", "--yes", cwd=workspace)
    assert "icefloe archive photos-a" in one_line_error(proc)
    assert snapshot(world.part, everything=True) == before and world.catalog.get_archive_set("set1").cleared_at is None
