"""An archive set's lifecycle: a run killed or interrupted midway is followed by ONE set, carried
forward when it finished, cleanly made again when it did not; abandoning is a command.

The kills are real: `icefloe consolidate` runs in a subprocess and gets SIGKILL or SIGINT
(Ctrl-C) while its partial folder fills.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from helpers import MAIN
from helpers import icefloe as run_icefloe
from icefloe.catalog import Catalog
from icefloe.clear.gates import check_gates
from icefloe.lifecycle import (
    ABANDONED,
    CONFIRMED,
    PLANNED,
    STORED,
    TESTED,
    abandon,
    get_plan,
    set_statuses,
    state_of,
)

ENV = {**os.environ, "ICEFLOE_ARCHIVE_PASSWORD": "pw"}
icefloe = partial(run_icefloe, env={"ICEFLOE_ARCHIVE_PASSWORD": "pw"})


def slow_partition(workspace: Path) -> None:
    """Random data through LZMA2: several seconds of consolidation to interrupt."""
    for i in range(3):
        (workspace / "photos-a" / f"noise-{i}.bin").write_bytes(os.urandom(6_000_000))
    (workspace / "photos-a" / "small.txt").write_text("kept whole\n")
    config = workspace / "icefloe.toml"
    config.write_text(config.read_text() + 'compression = "lzma2"\n')


def partials(workspace: Path) -> list[Path]:
    folder = workspace / "work" / "archives"
    return sorted(p for p in folder.iterdir() if p.name.endswith(".partial")) if folder.exists() else []


def start_and_stop(workspace: Path, sig: int) -> tuple[subprocess.Popen, str]:
    """Start `icefloe consolidate`, send ``sig`` once its archive has bytes on disk."""
    proc = subprocess.Popen([sys.executable, "-c", MAIN, "consolidate", "photos-a", "--workers", "1"],
                            cwd=workspace, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = partials(workspace)
        if found and sum(f.stat().st_size for f in found[0].iterdir()) > 1_000_000:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the consolidation ended before it could be stopped"
    os.kill(proc.pid, sig)
    _out, err = proc.communicate(timeout=60)
    return proc, err


def catalog_of(workspace: Path) -> Catalog:
    return Catalog.open(workspace / "work" / "catalog.sqlite")


def test_sigkill_midway_then_rerun_makes_one_clean_set(workspace: Path) -> None:
    slow_partition(workspace)
    killed, _err = start_and_stop(workspace, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    (left,) = partials(workspace)
    with catalog_of(workspace) as catalog:
        (status,) = set_statuses(catalog, "photos-a")
        assert status.state == PLANNED and f".{status.name}.partial" == left.name
        assert catalog.archive_sets() == []
    # The rerun takes over the dead run's lease, removes its set (files and plan), starts again.
    rerun = icefloe("consolidate", "photos-a", "--json", "--workers", "1", cwd=workspace)
    assert rerun.returncode == 0, rerun.stderr
    assert f"removed {status.name}, whose consolidation never finished" in rerun.stderr
    made = json.loads(rerun.stdout)
    assert not made["carried_forward"]
    assert partials(workspace) == []
    assert [p.name for p in (workspace / "work" / "archives").iterdir()] == [made["set"]]
    with catalog_of(workspace) as catalog:
        assert [s.name for s in set_statuses(catalog, "photos-a")] == [made["set"]]
        assert state_of(catalog, made["set"]) == TESTED
        assert get_plan(catalog, status.name) is None
        assert catalog.get_archive_set(made["set"]).file_count == 4
        with catalog.transaction() as conn:
            assert conn.execute("SELECT count(*) FROM leases").fetchone()[0] == 0  # given back


def test_ctrl_c_midway_leaves_nothing_and_a_finished_set_is_never_rebuilt(workspace: Path) -> None:
    slow_partition(workspace)
    stopped, err = start_and_stop(workspace, signal.SIGINT)
    assert stopped.returncode == 130, err
    assert "Traceback" not in err
    assert partials(workspace) == []
    with catalog_of(workspace) as catalog:
        assert set_statuses(catalog) == []  # neither folder nor plan: nothing to carry or remove
    first = icefloe("consolidate", "photos-a", "--json", cwd=workspace)
    assert first.returncode == 0, first.stderr
    made = json.loads(first.stdout)
    volume = Path(made["volumes"][0]["path"])
    before = volume.stat()
    again = icefloe("consolidate", "photos-a", "--json", cwd=workspace)
    assert again.returncode == 0, again.stderr
    carried = json.loads(again.stdout)
    assert carried["carried_forward"] and carried["set"] == made["set"]
    assert carried["volumes"] == made["volumes"]
    after = volume.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten
    with catalog_of(workspace) as catalog:
        assert len(catalog.archive_sets()) == 1


def test_abandon_is_a_command_and_the_gates_ignore_abandoned_sets(workspace: Path) -> None:
    (workspace / "photos-a" / "a.txt").write_text("first\n")
    first = json.loads(icefloe("consolidate", "photos-a", "--json", cwd=workspace).stdout)["set"]
    listing = icefloe("sets", cwd=workspace, columns=80)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["SET", "STATE", "FILES", "SIZE", "VOL", "DISCS", "COPIES"]
    assert lines[1].split()[:3] == [first, TESTED, "1"] and all(len(line) <= 80 for line in lines)

    refused = icefloe("sets", "abandon", first, cwd=workspace)
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    done = icefloe("sets", "abandon", first, "--yes", cwd=workspace)
    assert done.returncode == 0, done.stderr
    assert f"{first}: abandoned (was tested); 0 open upload(s) aborted" in done.stderr
    again = icefloe("sets", "abandon", first, "--yes", cwd=workspace)
    assert again.returncode == 2 and "abandoned already" in again.stderr

    # With only the abandoned set pending, it still guards its files (a clear stays shut).
    with catalog_of(workspace) as catalog:
        gates = check_gates(catalog, "photos-a", burner_configured=False, disc_configured=False)
        assert any(not g.ok and first in g.detail for g in gates)

    # The next consolidation makes a new set instead of carrying the abandoned one forward.
    second = json.loads(icefloe("consolidate", "photos-a", "--json", cwd=workspace).stdout)
    assert not second["carried_forward"] and second["set"] != first
    listed = json.loads(icefloe("sets", "--json", cwd=workspace).stdout)
    assert listed["version"] == 1
    assert [(s["name"], s["state"]) for s in listed["sets"]] == [(first, ABANDONED), (second["set"], TESTED)]
    with catalog_of(workspace) as catalog:
        gates = check_gates(catalog, "photos-a", burner_configured=False, disc_configured=False)
        assert gates and all(first not in g.subject and first not in g.detail for g in gates)
        assert any(second["set"] in g.subject or second["set"] in g.detail for g in gates)


def test_abandon_aborts_open_uploads_and_deletes_remote_copies(workspace: Path, standin) -> None:
    import boto3

    from icefloe.catalog import UploadRecord
    from icefloe.coldstore import open_coldstore
    from icefloe.config import load_settings

    s3 = boto3.client("s3", endpoint_url=standin.url)
    s3.create_bucket(Bucket="abandon-test")
    config = workspace / "icefloe.toml"
    config.write_text(config.read_text() + '[coldstore]\nbackend = "s3"\nbucket = "abandon-test"\n')
    (workspace / "photos-a" / "a.txt").write_text("stored, then given up\n")
    made = json.loads(icefloe("consolidate", "photos-a", "--json", "--no-volumes", cwd=workspace).stdout)
    volume = made["volumes"][0]["path"]
    settings = load_settings(config, {})
    with catalog_of(workspace) as catalog:
        stored = open_coldstore(settings.coldstore, catalog).upload(Path(volume), partition="photos-a")
        # An upload of the same volume left open (as a killed upload leaves it).
        key = stored.remote_id + ".again"
        upload_id = s3.create_multipart_upload(Bucket="abandon-test", Key=key)["UploadId"]
        st = os.stat(volume)
        catalog.open_upload(UploadRecord(upload_id, "s3", "abandon-test", key, volume, st.st_size,
                                         st.st_mtime_ns, 8 << 20, "{}"))
        assert state_of(catalog, made["set"]) in (STORED, CONFIRMED)
    proc = icefloe("sets", "abandon", made["set"], "--yes", "--delete-remote", cwd=workspace,
                   env={"ICEFLOE_ARCHIVE_PASSWORD": "pw", "AWS_ENDPOINT_URL": standin.url})
    assert proc.returncode == 0, proc.stderr
    assert "1 open upload(s) aborted, 1 stored copy deleted" in proc.stderr
    assert s3.list_multipart_uploads(Bucket="abandon-test").get("Uploads", []) == []
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket="abandon-test", Key=stored.remote_id)
    with catalog_of(workspace) as catalog:
        assert state_of(catalog, made["set"]) == ABANDONED
        assert catalog.copies(archive_name=Path(volume).name) == []  # marked deleted
        assert [u.upload_id for u in catalog.uploads("open")] == []


def test_abandon_records_the_reason_and_refuses_a_cleared_set(tmp_path: Path) -> None:
    from icefloe.catalog import ArchiveSet
    from icefloe.errors import UsageError

    with Catalog.open(tmp_path / "catalog.sqlite") as catalog:
        catalog.put_archive_set(ArchiveSet("old-20200101T000000Z", "photos-a", 1, 1, False))
        plan = abandon(catalog, "old-20200101T000000Z", reason="made before plans existed")
        assert plan.abandon_reason == "made before plans existed" and plan.abandoned_at
        catalog.put_archive_set(ArchiveSet("done-20200101T000000Z", "photos-a", 1, 1, False))
        catalog.mark_set_cleared("done-20200101T000000Z")
        with pytest.raises(UsageError, match="is cleared"):
            abandon(catalog, "done-20200101T000000Z")


def test_an_unfinished_set_whose_folder_a_worker_still_writes_loses_only_its_plan(tmp_path: Path) -> None:
    from icefloe.fsutil import writer_lock
    from icefloe.lifecycle import record_plan, remove_unfinished

    out = tmp_path / "archives"
    partial = out / ".photos-a-20240501T123000Z.partial"
    partial.mkdir(parents=True)
    (partial / "photos-a-20240501T123000Z.7z.001").write_bytes(b"half")
    with Catalog.open(tmp_path / "catalog.sqlite") as catalog:
        record_plan(catalog, "photos-a-20240501T123000Z", "photos-a", out)
        with writer_lock(partial):  # a worker of the killed run, still finishing its folder
            assert remove_unfinished(catalog, "photos-a") == ["photos-a-20240501T123000Z"]
            assert partial.is_dir()
        assert get_plan(catalog, "photos-a-20240501T123000Z") is None
        record_plan(catalog, "photos-a-20240501T123001Z", "photos-a", out)
        (out / ".photos-a-20240501T123001Z.partial").mkdir()
        assert remove_unfinished(catalog, "photos-a") == ["photos-a-20240501T123001Z"]
        assert not (out / ".photos-a-20240501T123001Z.partial").exists()  # nobody writes it: gone
