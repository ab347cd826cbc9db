"""The CLI frame: every user mistake is one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import icefloe, invoke, one_line_error


def test_init_writes_a_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    assert icefloe("init", cwd=tmp_path).returncode == 0
    before = (tmp_path / "icefloe.toml").read_text()
    assert "[coldstore]" in before
    assert "already exists" in one_line_error(icefloe("init", cwd=tmp_path))
    assert (tmp_path / "icefloe.toml").read_text() == before


@pytest.mark.parametrize(
    "toml, needle",
    [
        ("bogus = 1\n", "bogus: unknown key"),
        ('[archive]\npassword = "x"\n', "archive: 'password'"),
        ("[coldstore]\npart_size_mib = 3\n", "coldstore.part_size_mib"),
    ],
)
def test_bad_config_is_one_line(tmp_path: Path, toml: str, needle: str) -> None:
    (tmp_path / "icefloe.toml").write_text(toml)
    assert needle in one_line_error(icefloe("catalog", cwd=tmp_path))


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    assert "No such command" in one_line_error(icefloe("no-such-command", cwd=tmp_path))
    assert "--format" in one_line_error(icefloe("catalog", "--format", "yaml", cwd=tmp_path))
    assert "not found" in one_line_error(icefloe("-c", "missing.toml", "catalog", cwd=tmp_path))


def test_catalog_formats(tmp_path: Path) -> None:
    from icefloe.catalog import ArchiveRecord, Catalog

    (tmp_path / "icefloe.toml").write_text('work_dir = "w"\n')
    with Catalog.open(tmp_path / "w" / "catalog.sqlite") as cat:
        cat.put_archive(ArchiveRecord("set1.7z", "set1", "photos-a", 42, "ab" * 32))
    out = icefloe("catalog", "--format", "json", cwd=tmp_path)
    assert out.returncode == 0 and json.loads(out.stdout)[0]["archive"] == "set1.7z"
    csv = icefloe("catalog", "--format", "csv", cwd=tmp_path).stdout.splitlines()
    assert csv[0].startswith("archive,partition") and csv[1].startswith("set1.7z,photos-a")
    md = icefloe("catalog", "--format", "markdown", cwd=tmp_path).stdout
    assert "| set1.7z | photos-a |" in md


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from icefloe.cli import app
    from typer.main import get_command

    group = get_command(app)
    names = sorted(group.commands)  # type: ignore[attr-defined]
    assert {"init", "standin", "catalog"} <= set(names)
    for name in names:  # in this process: one interpreter start per command adds nothing
        proc = invoke(capsys, name, "--help")
        assert proc.returncode == 0 and "Usage" in proc.stdout, name


def test_find_and_html_answer_where_a_file_is(tmp_path: Path) -> None:
    from icefloe.catalog import (
        TESTZIP,
        ArchiveRecord,
        ArchiveSet,
        Catalog,
        CopyRecord,
        ImageRecord,
        ManifestEntry,
    )

    (tmp_path / "icefloe.toml").write_text('work_dir = "w"\n')
    with Catalog.open(tmp_path / "w" / "catalog.sqlite") as cat:
        cat.put_archive_set(
            ArchiveSet("s1", "photos-a", 1, 5, False), [ManifestEntry("2019/beach <1>.jpg", "file", 5, 0, "cd")]
        )
        cat.put_archive(ArchiveRecord("s1.7z", "s1", "photos-a", 42, "ab"))
        cat.put_copy(CopyRecord("s3", "bucket", "icefloe/s1.7z", "{}", 42, archive_name="s1.7z"))
        cat.put_image(ImageRecord("s1-disc-01-of-01.iso", "s1", 1, 1, "dvd+r", 100, "ee"))
        cat.verify("archive:s1.7z", TESTZIP, True)
    out = icefloe("find", "beach", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (loc,) = json.loads(out.stdout)
    assert loc["partition"] == "photos-a"
    assert loc["cold_copies"] == ["s3:bucket:icefloe/s1.7z"]
    assert loc["discs"] == ["s1-disc-01-of-01.iso (disc 1 of 1)"]
    assert "s1.7z: testzip ok" in loc["checks"] and "s1.7z: inventory_seen missing" in loc["checks"]
    assert "no archived file" in one_line_error(icefloe("find", "nothing-like-this", cwd=tmp_path))
    page = tmp_path / "catalog.html"
    assert icefloe("catalog", "--format", "html", "-o", str(page), cwd=tmp_path).returncode == 0
    text = page.read_text()
    assert '["2019","beach \\u003c1>.jpg"]' in text  # the name, for the search box
    assert "icefloe/s1.7z" not in text  # never an object key
    assert "<script src" not in text and "http" not in text.split("<body>")[1]
