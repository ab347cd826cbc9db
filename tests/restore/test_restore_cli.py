"""`icefloe restore` and `icefloe catalog rebuild` through icefloe's real entry point."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import invoke, snapshot
from restore_helpers import PASSWORD, Stored


@pytest.fixture
def icefloe(monkeypatch, capsys):
    """``icefloe(config, *args) -> (exit code, stdout, stderr)``."""
    monkeypatch.setenv("ICEFLOE_ARCHIVE_PASSWORD", PASSWORD)

    def run(config: Path | None, *args: str) -> tuple[int, str, str]:
        return invoke(capsys, *(["-c", str(config)] if config else []), *args)

    return run


def write_config(stored: Stored, folder: Path) -> Path:
    cfg = stored.cfg
    path = folder / "icefloe.toml"
    path.write_text(
        f'work_dir = "{stored.catalog_path.parent}"\n'
        f'[coldstore]\nbackend = "{cfg.backend}"\nbucket = "{cfg.bucket}"\nvault = "{cfg.vault}"\n'
        'part_size_mib = 1\n[restore]\ntier = "Standard"\n'
    )
    return path


@pytest.mark.parametrize("backend", ["s3"])
def test_rebuild_then_restore_a_partition_from_the_command_line(standin, stored: Stored, icefloe, tmp_path: Path):
    config = write_config(stored, tmp_path)
    code, out, err = icefloe(config, "catalog", "rebuild", "--json")
    assert code == 0, err
    assert json.loads(out)["sets"] == 1

    out_dir = tmp_path / "restored"
    code, _, err = icefloe(config, "restore", "--partition", "photos-a", "--to", str(out_dir))
    assert code == 2 and "retrieving 2 archives" in err and "add --yes" in err
    assert err.strip().splitlines()[-1].startswith("icefloe: not starting the retrieval")

    standin.set_options(job_delay_s=1)
    code, _, err = icefloe(config, "restore", "--partition", "photos-a", "--to", str(out_dir), "--yes")
    assert code == 75, err
    assert f"run `icefloe restore --partition photos-a --to {out_dir}` again later" in err

    time.sleep(1.1)
    code, out, err = icefloe(config, "restore", "--partition", "photos-a", "--to", str(out_dir), "--json")
    assert code == 0, err
    [report] = json.loads(out)
    assert report["ok"] and report["set"] == stored.set_name and report["problems"] == []
    assert snapshot(out_dir / stored.set_name) == stored.original

    code, out, err = icefloe(config, "find", "notes.txt", "--json")
    assert code == 0 and json.loads(out)[0]["set_name"] == stored.set_name


def test_restore_from_discs_reports_a_wrong_password_in_one_line(tmp_path: Path, icefloe, monkeypatch) -> None:
    from restore_helpers import MIB
    from test_restore_roundtrip import _discs

    original, isos, _ = _discs(tmp_path, 3 * MIB)
    config = tmp_path / "icefloe.toml"
    config.write_text(f'work_dir = "{tmp_path / "work"}"\n')
    monkeypatch.setenv("ICEFLOE_ARCHIVE_PASSWORD", "wrong")
    code, out, err = icefloe(config, "restore", "--from-discs", *map(str, isos), "--to", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "password is wrong" in err and "Traceback" not in err

    monkeypatch.setenv("ICEFLOE_ARCHIVE_PASSWORD", PASSWORD)
    code, out, err = icefloe(config, "restore", "--from-discs", *map(str, isos), "--to", str(tmp_path / "out"), "--json")
    assert code == 0, err
    assert json.loads(out)[0]["ok"] and snapshot(tmp_path / "out") == original


def test_a_missing_disc_fails_naming_the_volume_and_keeps_what_verified(tmp_path: Path, icefloe, monkeypatch) -> None:
    """After a disaster there may be no icefloe.toml at all: the discs and the password suffice."""
    from restore_helpers import MIB
    from test_restore_roundtrip import _discs

    original, isos, _ = _discs(tmp_path, 2 * MIB)  # one volume per disc
    assert len(isos) >= 3
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ICEFLOE_CONFIG", raising=False)
    code, out, err = icefloe(None, "restore", "--from-discs", str(isos[0]), *map(str, isos[2:]),
                             "--to", str(tmp_path / "out"), "--json")
    assert code == 2, err  # MissingVolume is an InputNotFound: a usage error
    [report] = json.loads(out)
    lost = [p for p in report["volume_problems"] if "missing" in p]
    assert not report["ok"] and lost and ".7z.002 is missing" in lost[0]
    assert report["problems"] and all(p["kind"] == "missing" for p in report["problems"])
    assert err.splitlines()[-1].startswith("icefloe: ") and ".7z.002 is missing" in err.splitlines()[-1]
    restored = snapshot(tmp_path / "out")
    files = [k for k in restored if restored[k][0] == "file"]
    assert files and all(restored[k] == original[k] for k in files)
    assert not (tmp_path / "icefloe-work").exists()  # no catalog was made up


def test_usage_mistakes_are_one_line(tmp_path: Path, icefloe) -> None:
    config = tmp_path / "icefloe.toml"
    config.write_text(f'work_dir = "{tmp_path / "work"}"\n')
    code, _, err = icefloe(config, "restore", "--to", str(tmp_path / "out"))
    assert code == 2 and "name one archive or set, or give --partition" in err
    code, _, err = icefloe(config, "restore", "a", "b", "--to", str(tmp_path / "out"))
    assert code == 2 and "name one archive or set" in err
    code, _, err = icefloe(config, "restore", "--from-discs", "--to", str(tmp_path / "out"))
    assert code == 2 and "--from-discs takes the discs" in err
    code, _, err = icefloe(config, "restore", "--from-discs", str(tmp_path / "nope.iso"), "--to", str(tmp_path / "o"))
    assert code == 2 and "does not exist" in err
