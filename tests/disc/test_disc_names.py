"""Names per file system: short unique ISO 9660, Joliet within 64 bytes, UDF within its limit."""

from __future__ import annotations

import re

from icefloe.disc.names import DirectoryNames, split_ext, volume_ident


def test_iso9660_names_are_d_characters_and_unique() -> None:
    names = DirectoryNames()
    made = [names.iso(f"photo-2024-01-01-{i:04d}.jpeg", False) for i in range(2000)]
    made += [names.iso(n, False) for n in (".bashrc", "日本.txt", "a.b.c", "x" * 300)]
    made += [names.iso(n, True) for n in ("my.dir", "my.dir2", "Photos 2024", "photos_2024")]
    assert len(set(made)) == len(made)
    for name in made:
        stem, _, ext = name.removesuffix(";1").partition(".")
        assert re.fullmatch(r"[A-Z0-9_]{1,8}", stem), name
        assert re.fullmatch(r"[A-Z0-9_]{0,3}", ext), name


def test_joliet_names_fit_64_bytes_keep_extension_and_dedupe_ignoring_case() -> None:
    names = DirectoryNames()
    long = "L" * 196 + ".jpg"
    first, second = names.joliet(long), names.joliet(long[:-5] + "M.jpg")
    assert first == "L" * 60 + ".jpg"
    assert second == "L" * 58 + "~2.jpg"
    assert names.joliet("Same.TXT") == "Same.TXT"
    assert names.joliet("same.txt") == "same~2.txt"
    assert names.joliet('a*b?c:d;e\\f"g<h>i|j.txt') == "a_b_c_d_e_f_g_h_i_j.txt"
    uni = names.joliet("é" * 120 + ".txt")
    assert len(uni.encode("utf-8")) <= 64 and uni.endswith(".txt")


def test_udf_keeps_real_names_unless_too_long() -> None:
    names = DirectoryNames()
    ascii_200 = "a" * 196 + ".jpg"
    assert names.udf(ascii_200) == ascii_200  # Latin-1: 253 allowed
    mixed = "日" + "a" * 199 + ".jpeg"  # UTF-16: 126 characters at most
    short = names.udf(mixed)
    assert short.endswith(".jpeg") and len(short.encode("utf-16-be")) <= 252
    assert names.udf(mixed[:150] + "b.jpeg") != short  # shortened alike, then made unique


def test_same_order_same_names() -> None:
    items = ["b.txt", "B.TXT", "x" * 100, "é" * 70]
    a, b = DirectoryNames(), DirectoryNames()
    assert [(a.iso(n, False), a.joliet(n), a.udf(n)) for n in items] == [
        (b.iso(n, False), b.joliet(n), b.udf(n)) for n in items
    ]


def test_split_ext_and_volume_ident() -> None:
    assert split_ext("photo.jpeg") == ("photo", ".jpeg")
    assert split_ext(".bashrc") == (".bashrc", "")
    assert split_ext("archive." + "x" * 20) == ("archive." + "x" * 20, "")
    # pycdlib reuses it for Joliet's volume identifier: 16 UCS-2 characters.
    assert volume_ident("photos-a-2026-11-27", "_1OF3") == "PHOTOS_A_20_1OF3"
    assert len(volume_ident("x" * 50)) == 16
