"""Entries laid out as a pycdlib image: ISO 9660 level 3 + Joliet + Rock Ridge 1.09 + UDF 2.60.

The same layout serves two purposes: measuring a disc exactly before anything is written
(``measure``: pycdlib computes the size in sectors as entries are added, without reading any
data), and writing it (``image.build_image``: pycdlib writes the metadata, and
``extents`` tells where each file's data goes, which stream.py copies itself). Symlinks are Rock Ridge records only: Joliet
has no symlinks, and 7-Zip refuses a whole UDF tree that contains pycdlib's UDF symlinks
(measured with 7-Zip 26), so the UDF tree leaves them out.
"""

from __future__ import annotations

import io
import stat
import threading
from collections.abc import Iterable
from typing import Any

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from icefloe.disc.entries import DIR, FILE, SYMLINK, DiscEntry
from icefloe.disc.names import DirectoryNames, volume_ident
from icefloe.errors import UsageError

DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755


class _Unread(io.RawIOBase):
    """Stands in for a file's data in the layout; pycdlib never reads it."""

    mode = "rb"

    def __init__(self, entry: DiscEntry) -> None:
        super().__init__()
        self.entry = entry

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
    entries: Iterable[DiscEntry], vol_ident: str
) -> tuple[pycdlib.PyCdlib, dict[str, str]]:
    """A pycdlib image holding ``entries``, and each file's UDF path (for reading back).

    pycdlib is never given the files' data: ``extents`` says where it goes.
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
            _add(iso, entry, name, p_iso, p_jol, p_udf, names, folders, udf_paths)
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
        fp: Any = _Unread(entry)
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


def extents(iso: pycdlib.PyCdlib, *, settle: bool = True) -> list[tuple[int, DiscEntry]]:
    """Where each file's data goes: (byte offset in the image, entry), front to back.

    Fixes the layout first, so the offsets are the ones pycdlib writes the metadata for;
    ``settle=False`` reads them as they stand (after pycdlib has written the metadata, say),
    which saves a second layout pass.
    """
    if settle:
        iso.force_consistency()
    out = []
    for ino in iso.inodes:
        if ino.get_data_length() > 0 and isinstance(ino.data_fp, _Unread):
            out.append((int(ino.extent_location()) * iso.logical_block_size, ino.data_fp.entry))
    out.sort(key=lambda item: item[0])
    return out


def measure(entries: Iterable[DiscEntry], vol_ident: str = "ICEFLOE") -> int:
    """The exact size in sectors of an image of ``entries``, computed without writing it.

    The layout is kept for ``laid_out``: a disc is usually written right after it is
    measured, and laying out thousands of files costs about as much as hashing 300 MiB.
    """
    entries = tuple(entries)
    iso, udf_paths = lay_out(entries, vol_ident)
    sectors = int(iso.pvd.space_size)
    with _kept_lock:
        if _kept:
            _kept.pop()[2].close()
        _kept.append(((entries, vol_ident), sectors, iso, udf_paths))
    return sectors


def laid_out(
    entries: Iterable[DiscEntry], vol_ident: str
) -> tuple[pycdlib.PyCdlib, dict[str, str]]:
    """``lay_out``, reusing the layout the last ``measure`` made when it was of the same disc."""
    entries = tuple(entries)
    with _kept_lock:
        if _kept and _kept[0][0] == (entries, vol_ident):
            _, _, iso, udf_paths = _kept.pop()
            return iso, udf_paths
    return lay_out(entries, vol_ident)


# The last measured layout, at most one: (key, sectors, iso, udf paths). Its memory grows
# with the number of files on one disc, as a layout being written does.
_kept: list[tuple[tuple[tuple[DiscEntry, ...], str], int, pycdlib.PyCdlib, dict[str, str]]] = []
_kept_lock = threading.Lock()
