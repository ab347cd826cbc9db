"""The cold-store commands, run through icefloe's real entry point against the stand-in."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from coldstore_helpers import MIB, create_container, write_config, write_random
from helpers import invoke, one_line_error

from icefloe.cli.uploads import parse_age


@pytest.fixture
def icefloe(standin, coldcfg, tmp_path: Path, capsys):
    """``icefloe(*args) -> (exit code, stdout, stderr)`` with a config for this test's store."""
    create_container(coldcfg)
    config = write_config(tmp_path, coldcfg)

    return lambda *args: invoke(capsys, "-c", str(config), *args)


def test_upload_list_inventory_jobs(icefloe, backend, tmp_path: Path) -> None:
    src = tmp_path / "photos-2019.7z"
    write_random(src, 2 * MIB + 9)
    code, out, err = icefloe("upload", str(src), "--part-size", "1", "--concurrency", "3")
    assert code == 0, err
    archive_id = out.strip()
    assert archive_id and "\n" not in archive_id
    code, out, err = icefloe("upload", str(src), "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["archive_id"] == archive_id and shown["already_stored"] is True
    assert shown["size"] == 2 * MIB + 9 and len(shown["sha256"]) == 64
    assert (shown["tree_hash"] is not None) == (backend == "glacier")

    code, out, _ = icefloe("uploads", "list", "--json")
    assert code == 0 and json.loads(out) == []

    code, out, err = icefloe("inventory", "request")
    assert code == 0, err
    job_id = out.strip()
    code, out, _ = icefloe("jobs")
    assert code == 0 and job_id in out.replace("\n", "")  # a long id is split to fit 80 columns
    code, out, _ = icefloe("jobs", job_id, "--json")
    assert code == 0 and json.loads(out)["status"] == "Succeeded"
    dest = tmp_path / "inventory.json"
    code, out, err = icefloe("jobs", job_id, "--output", str(dest))
    assert code == 0, err
    assert out.strip() == str(dest) and json.loads(dest.read_text())["ArchiveList"]
    code, out, _ = icefloe("inventory", "show", str(dest))
    assert code == 0 and "-/photos-2019.7z" in out and archive_id in re.sub(r"\n +", "", out)  # split to fit


@pytest.mark.parametrize("backend", ["glacier"])
def test_uploads_abort(icefloe, coldcfg) -> None:
    from icefloe.coldstore import make_client

    client = make_client("glacier", coldcfg)
    ids = [client.initiate_multipart_upload(vaultName=coldcfg.vault, partSize=str(MIB))["uploadId"]
           for _ in range(2)]
    code, out, _ = icefloe("uploads", "list")
    assert code == 0 and all(i in out.replace("\n", "") for i in ids)
    code, out, err = icefloe("uploads", "abort", "--", ids[0])
    assert code == 0 and out.strip() == ids[0] and "aborted 1" in err
    code, out, err = icefloe("uploads", "abort", "--older-than", "1d")
    assert code == 0 and out == "" and "aborted 0" in err
    code, out, err = icefloe("uploads", "abort", "--older-than", "0s")
    assert code == 0 and out.strip() == ids[1]


@pytest.mark.parametrize("backend", ["glacier"])
def test_user_mistakes_are_one_line(icefloe, standin, tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    write_random(src, 10)
    cases = [
        (("upload", str(tmp_path / "missing.7z")), 2, "no such file"),
        (("upload", str(tmp_path)), 2, "is a folder"),
        (("upload", str(src), "--part-size", "3"), 2, "power of two"),
        (("upload", str(src), "--concurrency", "0"), 2, "at least 1"),
        (("uploads", "abort"), 2, "either an upload ID or --older-than"),
        (("uploads", "abort", "nope"), 2, "no open upload"),
        (("uploads", "abort", "--older-than", "1 fortnight"), 2, "not an age"),
        (("jobs", "--output", "x.json"), 2, "needs a JOB_ID"),
    ]
    for args, code, words in cases:
        got, out, err = icefloe(*args)
        assert (got, out) == (code, ""), (args, err)
        assert err.startswith("icefloe: ") and words in err and "Traceback" not in err
        assert err.count("\n") == 1, err
    standin.set_options(job_delay_s=600)
    _, job_id, _ = icefloe("inventory", "request")
    got, _, err = icefloe("jobs", job_id.strip(), "--output", str(tmp_path / "inv.json"))
    assert got == 4 and "InProgress" in err, (job_id, err)
    standin.set_options(vault_unsupported=True)
    got, _, err = icefloe("upload", str(src))
    assert got == 5 and 'backend = "s3"' in err


def test_missing_container(standin, coldcfg, tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path, coldcfg)  # the container is never created
    src = tmp_path / "a.bin"
    write_random(src, 10)
    refused = invoke(capsys, "-c", str(config), "upload", str(src))
    err = one_line_error(refused)
    assert refused.returncode == 5 and "does not exist" in err and "create it with" in err


def test_parse_age() -> None:
    assert parse_age("1d").total_seconds() == 86400
    assert parse_age("90m").total_seconds() == 5400
    assert parse_age("2w").days == 14
