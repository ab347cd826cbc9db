"""Names on a disc: the real name kept wherever the file system allows it.

A disc carries four directory trees over the same data:

- ISO 9660 (level 3): d-characters only (A-Z, 0-9, _), so every entry gets a short, unique,
  made-up name. Nobody reads it; it exists because the standard requires it.
- Rock Ridge: the real name, any length, and symlinks. Linux, macOS, xorriso and isoinfo -R
  read this one.
- Joliet: what older Windows reads. At most 64 characters (pycdlib counts UTF-8 bytes), and
  ``* / : ; ? \\ " < > |`` and control characters are not allowed. Long names are shortened
  keeping their extension, and names that shorten to the same string (compared ignoring case,
  as Windows does) get ``~2``, ``~3``, ... before the extension.
- UDF: the real name, unless it is longer than UDF allows (253 Latin-1 or 126 UTF-16
  characters); then shortened like Joliet's. Windows 10+, macOS and 7-Zip read this one.

Each directory is named independently; the caller passes every name of one directory in
order, and the same order always gives the same names.
"""

from __future__ import annotations

import re
from collections.abc import Callable

ISO_STEM = 8
ISO_EXT = 3
JOLIET_MAX_UTF8 = 64
UDF_MAX_LATIN1 = 253
UDF_MAX_UTF16 = 252  # bytes: 126 UTF-16 code units
EXT_MAX = 16  # a longer "extension" is just part of the name

_NOT_D = re.compile(r"[^A-Z0-9_]")
_JOLIET_BAD = re.compile(r'[\x00-\x1f*/:;?\\"<>|]')


def split_ext(name: str) -> tuple[str, str]:
    """("IMG_0001", ".JPG"); a leading dot or an over-long suffix is not an extension."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > EXT_MAX:
        return name, ""
    return stem, "." + ext


def _d_chars(text: str) -> str:
    return _NOT_D.sub("_", text.upper())


def _shorten(name: str, fits: Callable[[str], bool], tag: str = "") -> str:
    """``name`` with its stem cut (extension kept) until ``stem + tag + ext`` fits."""
    stem, ext = split_ext(name)
    if not fits(ext + tag + "x"):
        stem, ext = name, ""
    while stem and not fits(stem + tag + ext):
        stem = stem[:-1]
    return stem + tag + ext


class DirectoryNames:
    """Assigns the ISO 9660, Joliet and UDF names of the entries of one directory."""

    def __init__(self) -> None:
        self._used: dict[str, set[str]] = {"iso": set(), "joliet": set(), "udf": set()}
        # Where to resume counting for a base name, so many similar names stay linear.
        self._next: dict[tuple[str, str], int] = {}

    def iso(self, name: str, is_dir: bool) -> str:
        """A unique d-character name, 8.3 for files and 8 characters for folders."""
        if is_dir:
            base, ext = _d_chars(name.replace(".", "_"))[:ISO_STEM] or "_", None
        else:
            stem, dot_ext = split_ext(name)
            base = _d_chars(stem)[:ISO_STEM] or "_"
            ext = _d_chars(dot_ext[1:])[:ISO_EXT]

        def render(stem: str) -> str:
            return stem if ext is None else f"{stem}.{ext}"

        used = self._used["iso"]
        candidate = base
        if render(candidate) in used:
            n = self._next.get(("iso", render(base)), 1)
            while render(candidate) in used:
                n += 1
                tag = f"_{n}"
                candidate = base[: ISO_STEM - len(tag)] + tag
            self._next[("iso", render(base))] = n
        used.add(render(candidate))
        return render(candidate) if ext is None else render(candidate) + ";1"

    def joliet(self, name: str) -> str:
        clean = _JOLIET_BAD.sub("_", name)
        return self._unique("joliet", clean, _joliet_fits, fold=True)

    def udf(self, name: str) -> str:
        return self._unique("udf", name, _udf_fits, fold=False)

    def _unique(self, kind: str, name: str, fits: Callable[[str], bool], fold: bool) -> str:
        key: Callable[[str], str] = str.casefold if fold else str
        used = self._used[kind]
        candidate = name if fits(name) else _shorten(name, fits)
        if key(candidate) in used:
            n = self._next.get((kind, key(name)), 1)
            while key(candidate) in used:
                n += 1
                candidate = _shorten(name, fits, f"~{n}")
            self._next[(kind, key(name))] = n
        used.add(key(candidate))
        return candidate


def _joliet_fits(name: str) -> bool:
    return len(name.encode("utf-8")) <= JOLIET_MAX_UTF8


def _udf_fits(name: str) -> bool:
    try:
        return len(name.encode("latin-1")) <= UDF_MAX_LATIN1
    except UnicodeEncodeError:
        return len(name.encode("utf-16-be")) <= UDF_MAX_UTF16


def volume_ident(text: str, suffix: str = "") -> str:
    """An ISO 9660 volume identifier from a set name: d-characters, at most 16, because
    pycdlib reuses it for the Joliet descriptor, which holds 16 UCS-2 characters."""
    room = 16 - len(suffix)
    return (_d_chars(text)[:room] or "ICEFLOE") + suffix
