"""A partition folder that is gone (the disk burned with the house) stops only the commands that
read or write it; restore, find, the catalog, uploads and status keep working."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from functools import partial
from pathlib import Path

import boto3
import pytest

from helpers import files_of, make_workspace, ok, one_line_error, snapshot
from helpers import icefloe as run_icefloe

PASSWORD = "a long family password"
icefloe = partial(run_icefloe, env={"ICEFLOE_ARCHIVE_PASSWORD": PASSWORD}, columns=250)


@pytest.fixture(scope="module")
def lost_once(standin_server, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """photos-a consolidated, imaged and uploaded; then both partition folders are gone.

    Made once: each test works in its own copy (the images and the bucket are only read).
    """
    workspace = make_workspace(tmp_path_factory.mktemp("lost") / "site")
    part = workspace / "photos-a"
    (part / "2019").mkdir()
    (part / "2019" / "IMG_0001.jpg").write_bytes(os.urandom(300_000))
    (part / "letter.txt").write_text("dear grandma\n" * 2000)
    original = files_of(snapshot(part))
    bucket = f"lost-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=standin_server.url).create_bucket(Bucket=bucket)
    config = workspace / "icefloe.toml"
    config.write_text(config.read_text() + f'[coldstore]\nbackend = "s3"\nbucket = "{bucket}"\n'
                      "part_size_mib = 8\n[restore]\npoll_first_s = 0.05\npoll_max_s = 0.2\n")
    env = {"ICEFLOE_ARCHIVE_PASSWORD": PASSWORD, "AWS_ENDPOINT_URL": standin_server.url}
    made = json.loads(ok(icefloe("consolidate", "photos-a", "--json", cwd=workspace, env=env)))
    iso = ok(icefloe("iso", made["set"], cwd=workspace, env=env)).split()
    volume = made["volumes"][0]["path"]
    ok(icefloe("upload", volume, "--partition", "photos-a", cwd=workspace, env=env))
    shutil.rmtree(part)
    shutil.rmtree(workspace / "photos-b")
    return {"dir": workspace, "set": made["set"], "iso": iso, "original": original, "volume": volume}


@pytest.fixture
def lost(lost_once: dict, standin, tmp_path: Path) -> dict:
    site = tmp_path / "site"
    shutil.copytree(lost_once["dir"], site, symlinks=True)
    return {**lost_once, "dir": site}


def test_commands_that_need_no_partition_work_with_every_folder_missing(lost: dict) -> None:
    cwd: Path = lost["dir"]

    status = json.loads(ok(icefloe("status", "--json", cwd=cwd)))
    for row, label in zip(status["partitions"], ("photos-a", "photos-b")):
        assert row["label"] == label and row["mounted"] is False and row["fill"] is None
        assert "does not exist" in row["hint"] and f"{label}/.icefloe-partition" in row["hint"]
    text = ok(icefloe("status", cwd=cwd))
    assert "not mounted" in text and "photos-b is not mounted:" in text and "create the folder" in text

    rows = json.loads(ok(icefloe("catalog", "--format", "json", cwd=cwd)))
    assert [r["archive"] for r in rows] == [Path(lost["volume"]).name]
    assert rows[0]["copies"], "the upload was recorded against the archive"
    found = json.loads(ok(icefloe("find", "IMG_0001.jpg", "--json", cwd=cwd)))
    assert [f["path"] for f in found] == ["2019/IMG_0001.jpg"] and found[0]["cold_copies"]
    listed = json.loads(ok(icefloe("sets", "--json", cwd=cwd)))
    assert [s["name"] for s in listed["sets"]] == [lost["set"]]

    extra = cwd / "extra.bin"
    extra.write_bytes(os.urandom(1000))
    assert ok(icefloe("upload", str(extra), cwd=cwd)).strip()
    job = ok(icefloe("inventory", "request", cwd=cwd)).strip()
    assert job in ok(icefloe("jobs", cwd=cwd))
    rebuilt = json.loads(ok(icefloe("catalog", "rebuild", "--wait", "--json", cwd=cwd)))
    assert rebuilt["items"] >= 2

    from_cold = cwd / "from-cold"
    ok(icefloe("restore", lost["set"], "--to", str(from_cold), "--yes", "--wait", cwd=cwd))
    assert files_of(snapshot(from_cold)) == lost["original"]
    from_discs = cwd / "from-discs"
    ok(icefloe("restore", "--from-discs", *lost["iso"], "--to", str(from_discs), cwd=cwd))
    assert files_of(snapshot(from_discs)) == lost["original"]


@pytest.mark.parametrize(
    "args",
    [("consolidate", "photos-a"), ("archive", "photos-a"), ("clear", "photos-a", "--yes"),
     ("mirror", "photos-a"), ("consolidate", "photos-b")],
)
def test_commands_that_use_a_partition_name_the_key_and_path_and_write_nothing(lost: dict, args) -> None:
    cwd: Path = lost["dir"]
    before = sorted(snapshot(cwd, everything=True))
    index = 0 if args[1] == "photos-a" else 1
    line = one_line_error(icefloe(*args, cwd=cwd))
    assert f"partitions.{index}.path: {cwd / args[1]} does not exist or is not a folder" in line
    assert sorted(snapshot(cwd, everything=True)) == before


def test_the_hint_tells_a_missing_folder_from_a_missing_sentinel(tmp_path: Path) -> None:
    from icefloe.config import PartitionConfig
    from icefloe.partitions import mount_hint

    part = PartitionConfig(label="photos-a", path=tmp_path / "disk")
    assert "does not exist: mount the disk there" in mount_hint(part)
    (tmp_path / "disk").mkdir()
    hint = mount_hint(part)
    assert hint.startswith(".icefloe-partition is missing in") and str(tmp_path / "disk" / ".icefloe-partition") in hint
    (tmp_path / "disk" / ".icefloe-partition").write_text("photos-a\n")
    assert mount_hint(part) is None
