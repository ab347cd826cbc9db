"""A stage that fails inside a flow run reaches the person as that stage's own one-line error.

Prefect reports a failed stage's downstream tasks as "not ready", so the flow itself ends in
an error that says nothing; the CLI has to find the stage that failed and show its reason.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from helpers import invoke

from icefloe.catalog import TESTZIP, Catalog
from icefloe.errors import ChecksumMismatch


@pytest.fixture
def testzip_config(pipeline_config) -> Path:
    return pipeline_config("s3", "flow-errors", size_mib=2, seed=11, coldstore="part_size_mib = 8\n")


def _damage_before_testzip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flip one byte of the first volume between consolidation and testzip, as a bad disk would."""
    import icefloe.setcheck

    real = icefloe.setcheck.test_archive

    def damaged(paths, *args, **kwargs):
        first = Path(paths[0])
        data = bytearray(first.read_bytes())
        data[len(data) // 2] = (data[len(data) // 2] + 1) % 256  # a rerun damages it further, never back
        first.write_bytes(bytes(data))
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(icefloe.setcheck, "test_archive", damaged)


def _icefloe(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, list[str]]:
    ran = invoke(capsys, *args)
    assert "Traceback" not in ran.stderr  # the traceback stays in the run's logs on the Prefect server
    # Prefect's own log lines come first; icefloe's verdict is the last line, and the only one.
    return ran.returncode, [line for line in ran.stderr.splitlines() if line.startswith("icefloe:")]


def test_failed_testzip_is_the_stage_and_its_reason(prefect_harness, testzip_config, monkeypatch, capsys):
    _damage_before_testzip(monkeypatch)
    code, lines = _icefloe(capsys, "-c", str(testzip_config), "archive", "photos-a")

    assert (code, len(lines)) == (ChecksumMismatch.exit_code, 1), lines
    line = lines[0]
    assert line.startswith("icefloe: archive-partition failed at testzip photos-a-"), line
    assert "PENDING" not in line and "not available" not in line
    assert "does not match its checksum" in line, line

    # Run again, still damaged: the same reason, and nothing was uploaded either time.
    code, lines = _icefloe(capsys, "-c", str(testzip_config), "archive", "photos-a")
    assert code == ChecksumMismatch.exit_code and len(lines) == 1
    assert lines[0].startswith("icefloe: archive-partition failed at testzip photos-a-")
    with Catalog.open(testzip_config.parent / "work" / "catalog.sqlite") as catalog:
        assert catalog.copies() == []
        sets = {r.set_name for r in catalog.archives()}
        assert len(sets) == 1  # the rerun carried the set forward: it is never consolidated again
        for record in catalog.archives():
            check = catalog.latest_verification(f"archive:{record.name}", TESTZIP)
            assert check is not None and not check.ok
    s3 = boto3.client("s3")
    assert s3.list_objects_v2(Bucket="flow-errors").get("KeyCount", 0) == 0
    assert s3.list_multipart_uploads(Bucket="flow-errors").get("Uploads", []) == []
