"""Entries laid out as a pycdlib image: ISO 9660 level 3 + Joliet + Rock Ridge 1.09 + UDF 2.60.

The same layout serves two purposes: measuring a disc exactly before anything is written
(``measure``: pycdlib computes the size in sectors as entries are added, without reading any
data), and writing it (``image.build_image``). Symlinks are Rock Ridge records only: Joliet
has no symlinks, and 7-Zip refuses a whole UDF tree that contains pycdlib's UDF symlinks
(measured with 7-Zip 26), so the UDF tree leaves them out.
"""

from __future__ import annotations

import io
import stat
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from icefloe.disc.entries import DIR, FILE, SYMLINK, DiscEntry
from icefloe.disc.names import DirectoryNames, volume_ident
from icefloe.errors import UsageError

DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755


class _Unread(io.RawIOBase):
    """Stands in for file data while measuring; pycdlib never reads it then."""

    mode = "rb"

    def readable(self) -> bool:
        return True


def new_iso(vol_ident: str) -> pycdlib.PyCdlib:
    iso = pycdlib.PyCdlib()
    iso.new(
        interchange_level=3,
        joliet=3,
        rock_ridge="1.09",
        udf="2.60",
        vol_ident=volume_ident(vol_ident),
        app_ident_str="ICEFLOE",
    )
    # Deep trees are relocated by Rock Ridge; a dot name keeps the folder out of listings.
    iso.set_relocated_name("_RR_MOVED", ".rr_moved")
    return iso


def lay_out(
    entries: Iterable[DiscEntry],
    vol_ident: str,
    data_for: Callable[[DiscEntry], BinaryIO] | None = None,
) -> tuple[pycdlib.PyCdlib, dict[str, str]]:
    """A pycdlib image holding ``entries``, and each file's UDF path (for reading back).

    ``data_for`` gives the file object pycdlib reads a file's data from at write time;
    without it the image can only be measured.
    """
    iso = new_iso(vol_ident)
    # disc path of a folder -> (iso path, joliet path, udf path, names used inside it)
    folders: dict[str, tuple[str, str, str, DirectoryNames]] = {"": ("", "", "", DirectoryNames())}
    udf_paths: dict[str, str] = {}
    for entry in entries:
        parent, _, name = entry.path.rpartition("/")
        try:
            p_iso, p_jol, p_udf, names = folders[parent]
        except KeyError:
            raise UsageError(f"{entry.path}: its folder {parent!r} is not on the disc") from None
        try:
            _add(iso, entry, name, p_iso, p_jol, p_udf, names, folders, udf_paths, data_for)
        except PyCdlibException as exc:
            raise UsageError(f"{entry.path}: cannot be put on a disc: {exc}") from None
    return iso, udf_paths


def _add(
    iso: pycdlib.PyCdlib,
    entry: DiscEntry,
    name: str,
    p_iso: str,
    p_jol: str,
    p_udf: str,
    names: DirectoryNames,
    folders: dict[str, tuple[str, str, str, DirectoryNames]],
    udf_paths: dict[str, str],
    data_for: Callable[[DiscEntry], BinaryIO] | None,
) -> None:
    if entry.kind == DIR:
        paths = (
            f"{p_iso}/{names.iso(name, True)}",
            f"{p_jol}/{names.joliet(name)}",
            f"{p_udf}/{names.udf(name)}",
        )
        mode = entry.mode if entry.mode is not None else DEFAULT_DIR_MODE
        iso.add_directory(
            iso_path=paths[0], rr_name=name, joliet_path=paths[1], udf_path=paths[2],
            file_mode=stat.S_IFDIR | mode,
        )
        folders[entry.path] = (*paths, DirectoryNames())
    elif entry.kind == FILE:
        udf_path = f"{p_udf}/{names.udf(name)}"
        fp: Any = data_for(entry) if data_for else _Unread()
        mode = entry.mode if entry.mode is not None else DEFAULT_FILE_MODE
        iso.add_fp(
            fp, entry.size,
            iso_path=f"{p_iso}/{names.iso(name, False)}", rr_name=name,
            joliet_path=f"{p_jol}/{names.joliet(name)}", udf_path=udf_path,
            file_mode=stat.S_IFREG | mode,
        )
        udf_paths[entry.path] = udf_path
    elif entry.kind == SYMLINK:
        iso.add_symlink(
            symlink_path=f"{p_iso}/{names.iso(name, False)}", rr_symlink_name=name,
            rr_path=entry.target,
        )
    else:
        raise UsageError(f"{entry.path}: unknown entry kind {entry.kind!r}")


def measure(entries: Iterable[DiscEntry], vol_ident: str = "ICEFLOE") -> int:
    """The exact size in sectors of an image of ``entries``, computed without writing it."""
    iso, _ = lay_out(entries, vol_ident)
    try:
        return int(iso.pvd.space_size)
    finally:
        iso.close()
