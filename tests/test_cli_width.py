"""Every listing fits 80 columns and parses as JSON; every --help reads as reflowed prose.

The listings are found in the typer app (the commands of the Inspect panel, their own or their
group's), so a new listing is rendered here without this file changing. The catalog they read
holds the long names a real household has: partition labels, photo folders, vault archive ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.text import Text
from typer.main import get_command

from icefloe.catalog import (
    IMAGE_VERIFIED,
    INVENTORY_SEEN,
    SERVER_CHECKSUM,
    TESTZIP,
    ArchiveRecord,
    ArchiveSet,
    Catalog,
    CopyRecord,
    ImageRecord,
    JobRecord,
    ManifestEntry,
    MirrorRun,
    UploadRecord,
    now_iso,
)
from helpers import invoke, ok, one_line_error
from icefloe.cli import app
from icefloe.cli.helptext import INSPECT, PANELS, reflow
from icefloe.cli.render import Column, layout
from icefloe.units import size

WIDTH = 80
LABEL_A, LABEL_B = "family-photos-2019-to-2024", "family-photos-2025-onwards"
SET_A = f"{LABEL_A}-20261130T021500Z"
PHOTO = "DCIM/2019/2019-07 Summer holiday in Brittany with the grandparents/IMG_20190712_153012_HDR.jpg"
VAULT_ID = "NkbByEejwEggmBz2fTHgJrg0XBoDfjP4q6iu87-TjhqG6eGoOY9Z8i1_AUyUsuhPAdTqLHy8pTl5nfCFJmDl2yEZONi5L26Omw12vcs01MNGntHEQL8MBfGlqrEXAMPLEArchiveId"
JOB_ID = "HkF9p6o7yjhFx-K3CGl6fuSm6VzW9T7esGQfco8nUXVYwS0jlb5gq1JZ55yHgt5vP54ZShjoQzQVVh7vEXAMPLEjobId"


def _long_world(root: Path, standin_url: str) -> Path:
    for label in (LABEL_A, LABEL_B):
        part = root / "mnt" / f"backup-partition-{label}"
        part.mkdir(parents=True)
        (part / ".icefloe-partition").write_text(label + "\n")
    bucket = "family-archive-photos-and-home-videos"
    config = root / "icefloe.toml"
    config.write_text(
        f'work_dir = "{root / "var" / "lib" / "icefloe-work-directory"}"\n'
        f'[[partitions]]\nlabel = "{LABEL_A}"\npath = "{root / "mnt" / f"backup-partition-{LABEL_A}"}"\n'
        f'[[partitions]]\nlabel = "{LABEL_B}"\npath = "{root / "mnt" / f"backup-partition-{LABEL_B}"}"\n'
        '[archive]\ndisc = "bd-r"\nencrypt = false\n'
        f'[coldstore]\nbackend = "s3"\nbucket = "{bucket}"\n'
    )
    import boto3

    s3 = boto3.client("s3", endpoint_url=standin_url)
    s3.create_bucket(Bucket=bucket)
    key = f"icefloe/{SET_A}/{SET_A}.7z.003"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, StorageClass="DEEP_ARCHIVE")["UploadId"]
    s3.put_object(Bucket=bucket, Key=f"icefloe/{SET_A}/{SET_A}.7z.001", Body=b"x" * 2048)

    work = root / "var" / "lib" / "icefloe-work-directory"
    with Catalog.open(work / "catalog.sqlite") as cat:
        entries = [ManifestEntry(PHOTO, "file", 7_340_032, 1, "ab" * 32),
                   ManifestEntry(PHOTO.rsplit("/", 1)[0], "dir", 0, 1),
                   ManifestEntry("DCIM/2019/IMG_0001.JPG", "file", 2_500_000, 1, "cd" * 32)]
        cat.put_archive_set(ArchiveSet(SET_A, LABEL_A, 48_213, 9_123_456_789, False), entries)
        for volume in (1, 2):
            name = f"{SET_A}.7z.{volume:03d}"
            cat.put_archive(ArchiveRecord(name, SET_A, LABEL_A, 4_600_000_000 + volume, "ef" * 32, volume, 2))
            cat.put_copy(CopyRecord("s3", bucket, f"icefloe/{SET_A}/{name}", "{}", 4_600_000_000, name))
            cat.put_copy(CopyRecord("glacier", "family-archive-vault", VAULT_ID, "{}", 4_600_000_000, name))
            cat.verify(f"archive:{name}", TESTZIP, True)
            cat.verify(f"archive:{name}", SERVER_CHECKSUM, True)
        cat.verify(f"archive:{SET_A}.7z.001", INVENTORY_SEEN, True)
        image = f"{SET_A}-disc-01-of-01.iso"
        cat.put_image(ImageRecord(image, SET_A, 1, 1, "bd-r", 9_200_000_000, "aa" * 32))
        cat.verify(f"image:{image}", IMAGE_VERIFIED, True)
        cat.record_mirror_run(MirrorRun(LABEL_A, now_iso(), now_iso(), True, 0))
        cat.put_job(JobRecord(JOB_ID, "glacier", "family-archive-vault", "inventory", "InProgress"))
        cat.open_upload(UploadRecord(upload_id, "s3", bucket, key, str(work / "archives" / SET_A / f"{SET_A}.7z.003"),
                                     4_600_000_000, 1, 64 << 20, "{}"))
    return config


@pytest.fixture
def long_world(tmp_path: Path, standin) -> Iterator[Path]:
    yield _long_world(tmp_path, standin.url)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]):
    """One command in this process, ``COLUMNS`` wide; with ``verdict`` a check that found
    problems (an icefloe error line after its report, as `sets verify` gives) counts as run."""

    def run(config: Path, *args: str, columns: int = WIDTH, verdict: bool = False):
        ran = invoke(capsys, "-c", str(config), *args, columns=columns)
        if verdict and ran.returncode != 0:
            one_line_error(ran, after_report=True)
        else:
            ok(ran)
        return ran

    return run


def _walk(command, path=(), panel=None) -> Iterator[tuple[tuple[str, ...], object, str | None]]:
    """Every command under ``command`` with its path and panel (its own, else its group's)."""
    for name, sub in getattr(command, "commands", {}).items():
        own = getattr(sub, "rich_help_panel", None) or panel
        yield (*path, name), sub, own
        yield from _walk(sub, (*path, name), own)


ROOT = get_command(app)
EVERY = list(_walk(ROOT))


def _invokable(command) -> bool:
    """A leaf, or a group that does something of its own (``icefloe catalog``, ``icefloe sets``)."""
    return not getattr(command, "commands", None) or bool(getattr(command, "invoke_without_command", False))


LISTINGS = [(path, cmd) for path, cmd, panel in EVERY if panel == INSPECT and _invokable(cmd)]


def _arguments(path: tuple[str, ...], command, world: Path) -> list[str]:
    """Values for a listing's required arguments, by the argument's name."""
    values = {"pattern": "IMG_", "file": str(world.parent / "inventory.json"), "name": SET_A}
    args = []
    for param in command.params:
        if param.param_type_name == "argument" and param.required:
            assert param.name in values, f"icefloe {' '.join(path)}: no test value for its argument {param.name}"
            args.append(values[param.name])
    return args


def _inventory_file(run, config: Path) -> None:
    """An inventory of the stand-in's bucket, fetched as a person would, for `inventory show`."""
    job = run(config, "inventory", "request").stdout.strip()
    run(config, "jobs", job, "--output", str(config.parent / "inventory.json"))


def test_the_listings_are_found_in_the_app() -> None:
    names = {" ".join(path) for path, _ in LISTINGS}
    assert {"status", "catalog", "find", "sets", "jobs", "uploads list", "inventory show"} <= names
    assert "sets abandon" not in names and "catalog rebuild" not in names and "uploads abort" not in names


def test_every_listing_fits_80_columns_with_long_names(long_world: Path, run) -> None:
    _inventory_file(run, long_world)
    for path, command in LISTINGS:
        result = run(long_world, *path, *_arguments(path, command, long_world), verdict=True)
        shown = " ".join(path)
        assert result.stdout.strip() or result.stderr.strip(), f"icefloe {shown} printed nothing"
        for line in (result.stdout + result.stderr).splitlines():
            assert len(line) <= WIDTH, f"icefloe {shown}: {len(line)} columns: {line!r}"
        assert "…" not in result.stdout, f"icefloe {shown} cut a value short"
    catalog = run(long_world, "catalog").stdout
    assert f"{SET_A}.7z.001" in catalog and "4.3 GiB" in catalog  # whole names, human sizes
    wide = run(long_world, "catalog", columns=240).stdout.splitlines()
    assert wide[0].split() == ["ARCHIVE", "SIZE", "PARTITION", "VOLUME", "COPIES", "CHECKS"]
    assert len(wide) == 3  # a table: the heads, then one line per archive
    found = run(long_world, "find", "Brittany").stdout
    assert PHOTO in found.replace("\n", "") or PHOTO in found
    assert "7.0 MiB" in found and "set: 20261130T021500Z" in found  # the set, short beside its partition
    assert found.count("\n") <= 6  # one short record, not a line per fact
    status = run(long_world, "status").stdout
    assert str(long_world.parent / "mnt" / f"backup-partition-{LABEL_A}") in re.sub(r"\n +", "", status)
    assert "20261130T021500Z" in status


def test_every_listing_prints_json(long_world: Path, run) -> None:
    _inventory_file(run, long_world)
    for path, command in LISTINGS:
        result = run(long_world, *path, *_arguments(path, command, long_world), "--json", verdict=True)
        try:
            json.loads(result.stdout)
        except ValueError as exc:
            raise AssertionError(f"icefloe {' '.join(path)} --json: {exc}: {result.stdout[:200]!r}") from None
    report = json.loads(run(long_world, "catalog", "--json").stdout)
    assert report == json.loads(run(long_world, "catalog", "--format", "json").stdout)
    assert {r["size"] for r in report} == {4_600_000_001, 4_600_000_002}  # exact bytes
    (found,) = json.loads(run(long_world, "find", "Brittany", "--json").stdout)
    assert found["path"] == PHOTO and found["size"] == 7_340_032
    assert json.loads(run(long_world, "find", "Summer holiday", "--json").stdout)[0]["path"] == PHOTO
    assert all(not loc["path"].endswith("grandparents") for loc in json.loads(
        run(long_world, "find", "grandparents", "--json").stdout))  # the folder is no file


def test_two_formats_at_once_is_one_line(long_world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    both = invoke(capsys, "-c", str(long_world), "catalog", "--json", "--format", "csv")
    assert "two formats" in one_line_error(both) and both.returncode == 2
    bad = invoke(capsys, "-c", str(long_world), "catalog", "--format", "yaml")
    assert bad.returncode == 2 and "table" in one_line_error(bad) and "markdown" in bad.stderr


# --- the renderer on its own -------------------------------------------------------------


def test_a_table_fits_or_becomes_records_and_nothing_is_cut() -> None:
    columns = (Column("name"), Column("size", right=True), Column("note", optional=True))
    rows = [["short", size(1536), "x"], ["a-rather-longer-name", size(5 << 30), "y"]]
    assert layout(rows, columns, 80) == ["NAME                     SIZE  NOTE",
                                         "short                 1.5 KiB  x",
                                         "a-rather-longer-name  5.0 GiB  y"]
    assert layout(rows, columns, 32) == ["NAME                     SIZE", "short                 1.5 KiB",
                                         "a-rather-longer-name  5.0 GiB"]  # the optional note went first
    assert layout(rows, columns, 24) == ["short", "  size: 1.5 KiB  note: x",
                                         "a-rather-longer-name", "  size: 5.0 GiB  note: y"]  # records keep it
    long = [["p/" + "x" * 100, size(10), "a note " * 20]]
    lines = layout(long, columns, 40)
    assert all(len(line) <= 40 for line in lines) and lines[0] == "p/" + "x" * 38
    assert "".join(line.strip() for line in lines).replace("size:", "").startswith("p/" + "x" * 100)
    assert [size(n) for n in (0, 1023, 1024, 10 << 20, 3 << 40)] == ["0 B", "1023 B", "1.0 KiB", "10.0 MiB", "3.0 TiB"]


# --- help that teaches --------------------------------------------------------------------

HELP_MARGIN = 2  # rich pads the help text by one column on each side


@pytest.fixture
def help_of(capsys: pytest.CaptureFixture[str]):
    """``icefloe PATH --help`` as rendered at 80 columns."""
    return lambda path: ok(invoke(capsys, *path, "--help", columns=WIDTH))


def _description(text: str) -> list[list[str]]:
    """The paragraphs between the usage line and the first panel, as their rendered lines."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    blocks, block = [], []
    for line in lines[start:end]:
        if line.strip():
            block.append(line.strip())
        elif block:
            blocks.append(block)
            block = []
    return blocks + ([block] if block else [])


def _docstring(command) -> str:
    """The help as written (the docstring, reflowed, with its markup escapes read)."""
    return Text.from_markup(command.help or "").plain


@pytest.mark.parametrize("path", [path for path, _, _ in EVERY], ids=lambda p: " ".join(p))
def test_help_reflows_every_paragraph(path: tuple[str, ...], help_of) -> None:
    command = dict((p, c) for p, c, _ in EVERY)[path]
    doc = _docstring(command)
    assert doc, f"icefloe {' '.join(path)} has no help"
    rendered = _description(help_of(path))
    wanted = [" ".join(p.split()) for p in reflow(doc).split("\n\n")]
    assert [" ".join(" ".join(b).split()) for b in rendered] == wanted
    room = WIDTH - HELP_MARGIN
    for block in rendered:
        for line, after in zip(block, block[1:]):
            assert len(line) + 1 + len(after.split()[0]) > room, (
                f"icefloe {' '.join(path)} --help breaks a line early:\n{line}\n{after}")


def test_top_level_help_groups_commands_by_stage(help_of) -> None:
    for name, command in ROOT.commands.items():
        assert getattr(command, "rich_help_panel", None) in PANELS, f"icefloe {name} has no panel"
    text = help_of(())
    heads = [re.sub(r"[─╭╮]", "", line).strip() for line in text.splitlines() if line.startswith("╭")]
    assert heads == ["Options", *PANELS]
    assert not any(line.rstrip().endswith("<str>") for line in help_of(("catalog",)).splitlines())
    assert "One of: table, csv, json, markdown, html." in " ".join(help_of(("catalog",)).replace("│", "").split())
    assert "One of: Expedited, Standard, Bulk." in " ".join(help_of(("restore",)).replace("│", "").split())


def test_the_choices_help_lists_are_the_library_s(capsys: pytest.CaptureFixture[str]) -> None:
    from typing import get_args

    from icefloe.cli.burn import BurnTool
    from icefloe.cli.iso import DiscType
    from icefloe.cli.restore import Tier
    from icefloe.config import ArchiveConfig, RestoreConfig
    from icefloe.disc.burn import TOOLS
    from icefloe.disc.capacity import DISC_SECTORS

    assert get_args(DiscType) == tuple(DISC_SECTORS)
    assert get_args(BurnTool) == TOOLS == get_args(ArchiveConfig.model_fields["burn_tool"].annotation)
    assert get_args(Tier) == get_args(RestoreConfig.model_fields["tier"].annotation)
    refused = invoke(capsys, "iso", "some-folder", "--disc", "floppy")
    assert refused.returncode == 2 and "bd-r-dl" in one_line_error(refused)
