"""The issue's must-holds, with a real rsync talking to a real sshd on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from helpers import files_of, sha_hex, snapshot
from icefloe.errors import MirrorFailed, MirrorRefused, Transient
from icefloe.mirror import (
    PARTIAL_DIR,
    TRASH_DIR,
    MirrorOptions,
    MirrorTarget,
    SubprocessRunner,
    mirror_partition,
)
from icefloe.progress import NullProgress

MIB = 1024 * 1024


def options(sshd, **overrides) -> MirrorOptions:
    base = dict(
        ssh_port=sshd.port,
        identity_file=sshd.identity_file,
        known_hosts=sshd.known_hosts,
        host_key_checking="yes",
        timeout_s=60,
    )
    return MirrorOptions(**{**base, **overrides})


def mirror(source: Path, dest: Path, sshd, *, progress=None, runner=None, dry_run=False, allow_empty=False,
           **overrides):
    target = MirrorTarget.parse(sshd.target(dest)).for_partition("photos-a")
    return mirror_partition(
        source,
        target,
        options(sshd, **overrides),
        label="photos-a",
        dry_run=dry_run,
        allow_empty=allow_empty,
        progress=progress,
        runner=runner,
    )


def same_tree(a: Path, b: Path) -> bool:
    proc = subprocess.run(["diff", "-r", "-x", TRASH_DIR, str(a), str(b)], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode == 0


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "offsite"
    path.mkdir()
    return path


def test_mirror_change_and_mirror_again_leaves_equal_trees(partition: Path, dest: Path, sshd) -> None:
    (partition / TRASH_DIR).mkdir()
    (partition / TRASH_DIR / "cleared.jpg").write_bytes(b"staged for deletion")

    first = mirror(partition, dest, sshd)
    assert first.ok and first.exit_code == 0 and first.error is None
    assert same_tree(partition, dest / "photos-a")
    assert (dest / "photos-a" / ".icefloe-partition").is_file()  # the sentinel travels too
    assert not (dest / "photos-a" / TRASH_DIR).exists()
    assert first.files_transferred == 4  # sentinel, beach.jpg, notes.txt, readme.txt
    assert first.literal_bytes == first.total_size > 50_000
    assert any(line.endswith("2024/summer/beach.jpg") for line in first.changes)

    (partition / "2024" / "notes.txt").write_text("hello, edited\n")
    (partition / "2025" / "winter").mkdir(parents=True)
    (partition / "2025" / "winter" / "snow.jpg").write_bytes(os.urandom(20_000))
    second = mirror(partition, dest, sshd)
    assert second.ok and second.files_transferred == 2 and second.files_deleted == 0
    assert same_tree(partition, dest / "photos-a")
    assert not (dest / "photos-a" / PARTIAL_DIR).exists()

    third = mirror(partition, dest, sshd)
    assert third.ok and third.files_transferred == 0 and third.literal_bytes == 0


def test_deletions_propagate(partition: Path, dest: Path, sshd) -> None:
    assert mirror(partition, dest, sshd).ok
    shutil.rmtree(partition / "2024" / "summer")
    (partition / "readme.txt").unlink()
    result = mirror(partition, dest, sshd)
    assert result.ok
    assert result.files_deleted == 3  # beach.jpg, summer/, readme.txt
    assert sum(line.startswith("*deleting") for line in result.changes) == 3
    assert same_tree(partition, dest / "photos-a")


class StopAfter(NullProgress):
    """Calls ``action`` once, after ``nbytes`` went by."""

    def __init__(self, nbytes: int, action) -> None:
        self.nbytes, self.action, self.seen, self.fired = nbytes, action, 0, False
        self.total = None

    def on_queued(self, total: int, label: str) -> None:
        self.total = total

    def on_progress(self, nbytes: int) -> None:
        self.seen += nbytes
        if not self.fired and self.seen >= self.nbytes:
            self.fired = True
            self.action()


def test_a_killed_transfer_resumes_without_resending_what_finished(partition: Path, dest: Path, sshd) -> None:
    size = 8 * MIB
    (partition / "video.mov").write_bytes(os.urandom(size))
    runner = SubprocessRunner()
    stopper = StopAfter(2 * MIB, runner.terminate)
    killed = mirror(partition, dest, sshd, progress=stopper, runner=runner, bwlimit="3000")
    assert stopper.fired and stopper.total >= size
    assert not killed.ok and isinstance(killed.error, MirrorFailed)
    assert "interrupted" in killed.message and "resumes" in killed.message

    partial = dest / "photos-a" / PARTIAL_DIR / "video.mov"
    deadline = time.monotonic() + 10  # the remote rsync saves the partial file as it exits
    while not partial.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    kept = partial.stat().st_size
    assert MIB <= kept < size

    resumed = mirror(partition, dest, sshd)
    assert resumed.ok
    assert resumed.matched_bytes >= kept - 64 * 1024  # what finished was reused, not resent
    assert resumed.literal_bytes <= size - kept + 64 * 1024 + 200_000
    assert resumed.bytes_sent < size - MIB
    assert same_tree(partition, dest / "photos-a")
    assert not partial.exists()


def test_unmounted_or_empty_source_is_refused_and_the_mirror_untouched(
    partition: Path, dest: Path, sshd, tmp_path: Path
) -> None:
    assert mirror(partition, dest, sshd).ok
    before = snapshot(dest, everything=True)

    mountpoint = tmp_path / "mnt-backup-a"  # what an unmounted disk looks like: an empty folder
    mountpoint.mkdir()
    with pytest.raises(MirrorRefused, match="no sentinel file .icefloe-partition.*left untouched"):
        mirror(mountpoint, dest, sshd)

    (mountpoint / ".icefloe-partition").write_text("photos-a\n")  # a disk emptied by `rm -rf *`
    emptied = mirror(mountpoint, dest, sshd)
    assert emptied.exit_code == 25 and isinstance(emptied.error, MirrorRefused)
    assert "nothing but its sentinel file, so the mirror was left untouched" in emptied.message

    with pytest.raises(MirrorRefused, match="not a mount point"):
        mirror(partition, dest, sshd, require_mount=True)
    with pytest.raises(MirrorRefused, match="not a folder"):
        mirror(tmp_path / "missing", dest, sshd)
    assert snapshot(dest, everything=True) == before

    # Cleared on purpose: one deliberate run empties the mirror too, and then both stay in step.
    assert mirror(mountpoint, dest, sshd, allow_empty=True).ok
    assert files_of(snapshot(dest, everything=True)) == {"photos-a/.icefloe-partition": sha_hex(b"photos-a\n")}
    assert mirror(mountpoint, dest, sshd).ok


def test_connection_refused_is_transient_and_names_the_cause(
    partition: Path, dest: Path, sshd, closed_port: int
) -> None:
    port = closed_port
    result = mirror(partition, dest, sshd, ssh_port=port)
    assert not result.ok and result.exit_code in (12, 255)
    assert isinstance(result.error, Transient) and result.error.retryable
    assert f"connect to host 127.0.0.1 port {port}: Connection refused" in result.message
    assert list(dest.iterdir()) == []


def test_a_changed_host_key_fails_without_retrying(partition: Path, dest: Path, sshd, tmp_path: Path) -> None:
    wrong = tmp_path / "known_hosts"
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, key = (tmp_path / "other_key.pub").read_text().split()[:2]
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    result = mirror(partition, dest, sshd, known_hosts=wrong)
    assert isinstance(result.error, MirrorFailed) and not result.error.retryable
    assert "mirror.known_hosts" in result.message


def test_a_file_vanishing_mid_run_is_a_warning(partition: Path, dest: Path, sshd) -> None:
    (partition / "a-video.mov").write_bytes(os.urandom(3 * MIB))  # sent first, slowly (1.5 s)
    doomed = partition / "z-vanishes.jpg"
    doomed.write_bytes(b"here when the file list is built")
    stopper = StopAfter(1, doomed.unlink)  # gone before rsync opens it
    result = mirror(partition, dest, sshd, progress=stopper, bwlimit="2000")
    assert stopper.fired
    assert result.exit_code == 24 and result.ok and result.error is None
    assert len(result.warnings) == 1 and "z-vanishes.jpg" in result.warnings[0]
    assert "vanished" in result.warnings[0]
    assert same_tree(partition, dest / "photos-a")


def test_a_max_delete_stop_is_reported(partition: Path, dest: Path, sshd) -> None:
    for name in ("x1", "x2", "x3"):
        (partition / name).write_text(name)
    assert mirror(partition, dest, sshd).ok
    for name in ("x1", "x2", "x3"):
        (partition / name).unlink()
    stopped = mirror(partition, dest, sshd, max_delete=1)
    assert stopped.exit_code == 25 and not stopped.ok
    assert isinstance(stopped.error, MirrorFailed) and not stopped.error.retryable
    assert stopped.files_deleted == 1 and stopped.deletions_skipped == 2
    assert "mirror.max_delete = 1" in stopped.message and "2 more deletion(s) skipped" in stopped.message
    assert sum((dest / "photos-a" / n).exists() for n in ("x1", "x2", "x3")) == 2

    assert mirror(partition, dest, sshd, max_delete=10).ok
    assert same_tree(partition, dest / "photos-a")


def test_dry_run_changes_nothing_but_lists_the_changes(partition: Path, dest: Path, sshd) -> None:
    result = mirror(partition, dest, sshd, dry_run=True)
    assert result.ok and result.dry_run
    assert any("beach.jpg" in line for line in result.changes)
    assert not (dest / "photos-a").exists() or list((dest / "photos-a").iterdir()) == []


def test_progress_counts_the_bytes_sent(partition: Path, dest: Path, sshd) -> None:
    seen: list[int] = []
    done = threading.Event()

    class Recorder(NullProgress):
        def on_queued(self, total: int, label: str) -> None:
            seen.append(-total)

        def on_progress(self, nbytes: int) -> None:
            seen.append(nbytes)

        def on_done(self) -> None:
            done.set()

    (partition / "big.raw").write_bytes(os.urandom(2 * MIB))
    result = mirror(partition, dest, sshd, progress=Recorder())
    total = -seen[0]
    assert result.ok and done.is_set()
    assert total == result.total_size
    assert sum(seen[1:]) == result.total_size  # a full first mirror sends every byte
