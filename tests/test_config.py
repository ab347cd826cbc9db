"""Configuration: one line naming the key for every mistake; environment overrides the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from icefloe.config import STARTER, load_settings, parse_rate, read_password
from icefloe.errors import ConfigInvalid, PasswordError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a").mkdir(exist_ok=True)
    path = tmp_path / "icefloe.toml"
    path.write_text(text)
    return path


def test_relative_paths_are_anchored_at_the_file(tmp_path: Path) -> None:
    cfg = load_settings(write(tmp_path, 'work_dir = "w"\n[[partitions]]\nlabel="a"\npath="a"\n'), {})
    assert cfg.work_dir == tmp_path / "w"
    assert cfg.partition("a").path == tmp_path / "a"
    assert cfg.catalog_path == tmp_path / "w" / "catalog.sqlite"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[coldstore]\nbackend = "s3"\nconcurrency = 3\n')
    cfg = load_settings(path, {"ICEFLOE_COLDSTORE__BACKEND": "glacier"})
    assert cfg.coldstore.backend == "glacier"
    assert cfg.coldstore.concurrency == 3


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[coldstore]\npart_size_mib = 64\n")
    assert load_settings(None, {"ICEFLOE_CONFIG": str(path)}).coldstore.part_size == 64 << 20


@pytest.mark.parametrize(
    "text, key",
    [
        ("bogus = 1\n", "bogus: unknown key"),
        ("[coldstore]\nbuckit = 'x'\n", "coldstore.buckit: unknown key"),
        (
            '[[partitions]]\nlabel="a"\npath="a"\n[[partitions]]\nlabel="a"\npath="a"\n',
            "partitions: label 'a' is used twice",
        ),
        ("[coldstore]\npart_size_mib = 48\n", "coldstore.part_size_mib: 48 is not a power of two"),
        ("[restore]\nrange_size_mib = 3\n", "restore.range_size_mib: 3 is not a power of two"),
        ("[coldstore]\npart_size_mib = 512\nconcurrency = 16\n",
         "coldstore: concurrency x part_size_mib would hold 16 x 512 MiB = 8192 MiB in memory"),
        ("[restore]\nrange_size_mib = 4096\n",
         "restore: (download_concurrency + 1) x range_size_mib would hold 5 x 4096 MiB"),
        ('[archive]\npassword = "hunter2"\n', "archive: 'password' must not be written"),
        ('[coldstore]\naws_secret_access_key = "x"\n', "coldstore: 'aws_secret_access_key'"),
        ('[archive]\ndisc = "floppy"\n', "archive.disc"),
        ('[coldstore]\nbandwidth_limit = "fast"\n', "coldstore.bandwidth_limit"),
        ("[coldstore\n", "not valid TOML"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigInvalid) as info:
        load_settings(write(tmp_path, text), {})
    message = str(info.value)
    assert key in message
    assert "\n" not in message
    assert "hunter2" not in message


def test_a_missing_partition_folder_is_an_error_only_where_it_is_used(tmp_path: Path) -> None:
    cfg = load_settings(write(tmp_path, '[[partitions]]\nlabel="a"\npath="a"\n'
                                        '[[partitions]]\nlabel="b"\npath="gone"\n'), {})
    assert cfg.partition("b").path == tmp_path / "gone"  # loading and looking up still work
    assert cfg.partition_folder("a").path == tmp_path / "a"
    with pytest.raises(ConfigInvalid) as info:
        cfg.partition_folder("b")
    assert str(info.value).startswith(f"partitions.1.path: {tmp_path / 'gone'} does not exist or is not a folder")


def test_missing_named_file_is_an_error_but_no_file_means_defaults(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ConfigInvalid, match="not found"):
        load_settings(tmp_path / "nope.toml", {})
    monkeypatch.chdir(tmp_path)
    assert load_settings(None, {}).coldstore.backend == "s3"


def test_starter_file_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "icefloe.toml"
    path.write_text(STARTER)
    cfg = load_settings(path, {})
    assert cfg.archive.password_env == "ICEFLOE_ARCHIVE_PASSWORD"


def test_password_comes_from_the_named_variable(tmp_path: Path) -> None:
    cfg = load_settings(write(tmp_path, '[archive]\npassword_env = "MY_PW"\n'), {})
    assert read_password(cfg.archive, {"MY_PW": "s3cret"}) == "s3cret"
    assert read_password(cfg.archive, {}) is None
    with pytest.raises(PasswordError):
        read_password(cfg.archive, {"MY_PW": ""})


@pytest.mark.parametrize("text, value", [("0", 0), ("512K", 512 * 1024), ("2M", 2 << 20), ("1.5G", 3 << 29)])
def test_parse_rate(text: str, value: int) -> None:
    assert parse_rate(text) == value
