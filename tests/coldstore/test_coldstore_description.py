"""The archive description format (docs/description.md)."""

from __future__ import annotations

import json

import pytest

from icefloe.coldstore.description import (
    FORMAT_VERSION,
    MAX_DESCRIPTION,
    Description,
    check_user_description,
    format_description,
    is_printable_ascii,
    parse_description,
)
from icefloe.errors import UsageError

SHA = "ab" * 32


def desc(**changes) -> Description:
    values = dict(name="photos-a-2026-01.7z.001", size=4_700_000_000, sha256=SHA,
                  created="2026-01-05T03:04:05Z", partition="photos-a")
    values.update(changes)
    return Description(**values)


def test_compact_json_round_trip() -> None:
    text = format_description(desc())
    assert text == (
        '{"v":1,"p":"photos-a","n":"photos-a-2026-01.7z.001","s":4700000000,'
        f'"h":"{SHA}","t":"2026-01-05T03:04:05Z"}}'
    )
    assert parse_description(text) == desc()
    assert json.loads(text)["v"] == 1  # nothing about the set: every reader understands version 1


def test_version_2_says_what_the_set_holds() -> None:
    told = desc(set_files=1234, set_bytes=5_000_000_000, encrypted=True, set_volumes=3)
    text = format_description(told)
    assert text == (
        '{"v":2,"p":"photos-a","n":"photos-a-2026-01.7z.001","s":4700000000,'
        f'"h":"{SHA}","t":"2026-01-05T03:04:05Z","f":1234,"b":5000000000,"e":1,"nv":3}}'
    )
    assert FORMAT_VERSION == 2
    parsed = parse_description(text)
    assert parsed == desc(set_files=1234, set_bytes=5_000_000_000, encrypted=True, set_volumes=3, version=2)
    assert parsed.knows_set and not parse_description(format_description(desc())).knows_set
    plain = parse_description(format_description(desc(set_files=0, set_bytes=0, encrypted=False, set_volumes=1)))
    assert (plain.set_files, plain.encrypted, plain.set_volumes) == (0, False, 1)


@pytest.mark.parametrize(
    "extra",
    [',"f":1', ',"f":-1,"b":1,"e":0,"nv":1', ',"f":1,"b":1,"e":2,"nv":1', ',"f":1,"b":1,"e":true,"nv":1',
     ',"f":1,"b":1,"e":0,"nv":0', ',"f":1,"b":"1","e":0,"nv":1'],
)
def test_malformed_set_fields_are_foreign(extra: str) -> None:
    assert parse_description('{"v":2,"n":"a","s":1,"h":"%s","t":"x"%s}' % (SHA, extra)) is None
    # Version 1 never had them.
    assert parse_description('{"v":1,"n":"a","s":1,"h":"%s","t":"x","f":1,"b":1,"e":0,"nv":1}' % SHA) is None


@pytest.mark.parametrize(
    "name",
    ["Fotos von Oma – Weihnachten 2019.7z", "家族の写真.7z", "tab\there\nnew line.7z", "del\x7f.7z",
     'quote " and \\ backslash.7z', "é" * 400],
)
def test_any_name_gives_printable_ascii_within_the_limit(name: str) -> None:
    text = format_description(desc(name=name, folder="/mnt/backup-a/" + "ü" * 300))
    assert len(text) <= MAX_DESCRIPTION and is_printable_ascii(text)
    parsed = parse_description(text)
    assert parsed is not None and parsed.sha256 == SHA
    if not parsed.name_truncated:
        assert parsed.name == name
    else:
        assert name.startswith(parsed.name) and parsed.folder is None


def test_folder_kept_when_it_fits_and_dropped_first() -> None:
    assert parse_description(format_description(desc(folder="/mnt/backup-a"))).folder == "/mnt/backup-a"
    long = parse_description(format_description(desc(folder="/x" * 600)))
    assert long.folder is None and not long.name_truncated


@pytest.mark.parametrize(
    "text",
    [None, "", "photos-2019.7z", "{not json", "[]", '{"v":1}', '{"v":"1","n":"a","s":1,"h":"%s","t":"x"}' % SHA,
     '{"v":1,"n":"a","s":-1,"h":"%s","t":"x"}' % SHA, '{"v":1,"n":"a","s":1,"h":"xyz","t":"x"}',
     '{"v":1,"n":"a","s":1,"h":"%s","t":"x","other":2}' % SHA, '{"v":true,"n":"a","s":1,"h":"%s","t":"x"}' % SHA],
)
def test_foreign_descriptions_are_not_errors(text) -> None:
    assert parse_description(text) is None


def test_newer_versions_still_parse_their_known_fields() -> None:
    text = '{"v":2,"n":"a.7z","s":1,"h":"%s","t":"2030-01-01T00:00:00Z"}' % SHA
    assert parse_description(text).version == 2
    newer = '{"v":3,"n":"a.7z","s":1,"h":"%s","t":"2030-01-01T00:00:00Z","f":2,"b":9,"e":1,"nv":1,"x":[1]}' % SHA
    parsed = parse_description(newer)
    assert (parsed.version, parsed.name, parsed.set_files, parsed.encrypted) == (3, "a.7z", 2, True)


def test_user_descriptions_follow_the_vault_rule() -> None:
    assert check_user_description("my photos 2019") == "my photos 2019"
    for bad in ("x" * 1025, "caf\u00e9", "line\nbreak"):
        with pytest.raises(UsageError):
            check_user_description(bad)
