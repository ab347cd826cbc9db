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
    assert FORMAT_VERSION == json.loads(text)["v"] == 1


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


def test_user_descriptions_follow_the_vault_rule() -> None:
    assert check_user_description("my photos 2019") == "my photos 2019"
    for bad in ("x" * 1025, "caf\u00e9", "line\nbreak"):
        with pytest.raises(UsageError):
            check_user_description(bad)
