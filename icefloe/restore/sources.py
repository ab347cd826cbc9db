"""Where an archive set's volumes are read from: files, mounted discs, or ISO images.

A 7z multi-volume archive is one byte stream cut into files (docs/archive.md), so the
extractor reads the volumes as one seekable stream (:class:`~icefloe.volumestream.VolumeReader`,
which testzip reads with too). A volume that is missing becomes a hole of its expected size
(:func:`fill_holes`): reading it raises MissingVolume, so folders stored elsewhere can still
be extracted and verified, and the error names the file.

Discs: each disc carries some volumes, the manifest sidecar, SHA256SUMS.txt and RESTORE.txt
at its root (docs/disc.md). :func:`gather_discs` takes mounted disc folders (or a folder the
files were copied into) and ISO files, which are read in place through their UDF tree with
pycdlib (Joliet or ISO 9660 for images without UDF), so nothing is copied first.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from icefloe import manifest as mf
from icefloe.errors import InputNotFound, InputUnreadable, PasswordError, UsageError
from icefloe.volumestream import PositionedStream, VolumeSource

SUMS_NAME = "SHA256SUMS.txt"
_VOLUME = re.compile(r"^(?P<set>.+)\.7z(?:\.(?P<num>\d{3,}))?$")
_ISO_MAGIC = b"CD001"
SECTOR = 2048


def split_volume_name(name: str) -> tuple[str, int] | None:
    """``("set", 2)`` for ``set.7z.002``, ``("set", 1)`` for ``set.7z``; None otherwise."""
    match = _VOLUME.match(name)
    if not match:
        return None
    return match["set"], int(match["num"] or 1)


def fill_holes(sources: Sequence[VolumeSource]) -> list[VolumeSource]:
    """Give missing volumes a size: a split archive's volumes all have the first one's size,
    except the last. A missing last volume keeps ``None`` (its size is unknown)."""
    out = list(sources)
    first = next((s.size for s in out if s.size is not None), None)
    for i, src in enumerate(out[:-1]):
        if src.size is None and first is not None:
            out[i] = VolumeSource(src.name, first, src.sha256, None, src.where)
    return out


# -- discs --------------------------------------------------------------------------------


class _IsoMember(PositionedStream):
    """One file inside an ISO image, opened on its own handle (so readers never share one)."""

    def __init__(self, image: Path, path: str, kind: str) -> None:
        import pycdlib

        super().__init__()
        self._iso = pycdlib.PyCdlib()
        self._iso.open(str(image))
        try:
            self._io = self._iso.open_file_from_iso(**{kind: path})
            self._io.__enter__()
            self.size = self._io.seek(0, io.SEEK_END)
        except BaseException:
            self._iso.close()
            raise

    def readinto(self, buffer) -> int:  # type: ignore[override]
        self._io.seek(self._pos)
        n = self._io.readinto(buffer)
        self._pos += n
        return n

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._io.__exit__(None, None, None)
            self._iso.close()
        super().close()


@dataclass(frozen=True)
class DiscFile:
    name: str
    size: int
    where: str
    opener: Callable[[], BinaryIO]


def is_iso(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(16 * SECTOR + 1)
            return handle.read(5) == _ISO_MAGIC
    except OSError:
        return False


def iso_root_files(image: Path) -> list[DiscFile]:
    """The files at the root of an ISO image, read through UDF, else Joliet, else ISO 9660."""
    import pycdlib
    from pycdlib.pycdlibexception import PyCdlibException

    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(image))
    except (OSError, PyCdlibException) as exc:
        raise InputUnreadable(f"{image} is not a readable disc image ({exc})") from None
    try:
        return _root_files(iso, image)
    except (PyCdlibException, UnicodeDecodeError, ValueError) as exc:
        raise InputUnreadable(f"{image} is damaged: its file tree does not read ({exc})") from None
    finally:
        iso.close()


def _root_files(iso, image: Path) -> list[DiscFile]:
    if iso.has_udf():
        kind = "udf_path"
    elif iso.has_joliet():
        kind = "joliet_path"
    else:
        kind = "rr_path" if iso.has_rock_ridge() else "iso_path"
    out = []
    for child in iso.list_children(**{kind: "/"}):
        if child is None or child.is_dir():
            continue
        name = _child_name(iso, child, kind)
        if name in (".", ".."):
            continue
        path = "/" + name
        size = int(iso.get_record(**{kind: path}).get_data_length())
        out.append(DiscFile(name, size, f"{image}:{path}",
                            lambda p=path: _IsoMember(image, p, kind)))  # type: ignore[misc]
    return out


def _child_name(iso, child, kind: str) -> str:
    if kind == "udf_path":
        return child.file_identifier().decode("utf-8")
    if kind == "joliet_path":
        return child.file_identifier().decode("utf-16_be")
    if kind == "rr_path" and child.rock_ridge is not None:
        return child.rock_ridge.name().decode("utf-8")
    return child.file_identifier().decode("ascii").split(";")[0]


def folder_files(folder: Path) -> list[DiscFile]:
    out = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_file():
            path = Path(entry.path)
            out.append(DiscFile(entry.name, entry.stat().st_size, str(path),
                                lambda p=path: open(p, "rb")))  # type: ignore[misc]  # noqa: SIM115 - the reader closes it
    return out


@dataclass
class DiscSet:
    """One archive set as found on the discs given."""

    name: str
    volumes: list[VolumeSource] = field(default_factory=list)
    sidecar: mf.Manifest | None = None
    sidecar_problem: str | None = None


def gather_discs(paths: Sequence[Path], password: str | None = None) -> list[DiscSet]:
    """The archive sets on these discs (mounted folders, ISO files, or folders of copied files).

    An encrypted set's sidecar is sealed (``<set>.manifest.7z``) and opened with ``password``:
    a wrong one is a PasswordError at once, before any volume is read.
    """
    if not paths:
        raise UsageError("name at least one disc: a mounted disc folder or an ISO file")
    files: dict[str, DiscFile] = {}
    sums: dict[str, str] = {}
    for path in map(Path, paths):
        if path.is_dir():
            found = folder_files(path)
        elif path.is_file():
            if not is_iso(path):
                raise UsageError(f"{path} is neither a folder nor an ISO image")
            found = iso_root_files(path)
        else:
            raise InputNotFound(f"{path} does not exist")
        for item in found:
            if item.name == SUMS_NAME:  # the same on every disc of a set; discs of other sets differ
                sums.update(_read_sums(item))
            files.setdefault(item.name, item)
    by_set: dict[str, dict[int, DiscFile]] = {}
    for name, item in files.items():
        parsed = split_volume_name(name)
        if parsed and not name.endswith(mf.SEALED_SUFFIX):
            by_set.setdefault(parsed[0], {})[parsed[1]] = item
    if not by_set:
        raise InputNotFound(
            "no archive volumes (*.7z, *.7z.001, ...) at the root of "
            + ", ".join(str(p) for p in paths)
        )
    return [_disc_set(set_name, found, files, sums, password) for set_name, found in sorted(by_set.items())]


def _disc_set(
    set_name: str, found: dict[int, DiscFile], files: dict[str, DiscFile], sums: dict[str, str],
    password: str | None = None,
) -> DiscSet:
    result = DiscSet(set_name)
    sidecar = files.get(mf.sealed_name(set_name)) or files.get(mf.sidecar_name(set_name))
    data = None
    if sidecar is not None:
        try:
            data = _read_all(sidecar)
        except Exception as exc:  # noqa: BLE001 - an unreadable sidecar only loses a fallback
            result.sidecar_problem = f"{sidecar.where} cannot be read ({exc})"
    if sidecar is not None and data is not None:
        want = sums.get(sidecar.name)
        if want and hashlib.sha256(data).hexdigest() != want:
            result.sidecar_problem = f"{sidecar.name} does not match {SUMS_NAME}; it was not used"
        else:
            try:
                if sidecar.name.endswith(mf.SEALED_SUFFIX):
                    data = mf.unseal(data, password, sidecar.where)
                result.sidecar = mf.loads(data, sidecar.where)
            except PasswordError:
                raise  # its checksum matched: the password, not the disc, is wrong
            except UsageError as exc:
                result.sidecar_problem = exc.message
    expected: list[tuple[str, int | None, str | None]]
    if result.sidecar is not None and result.sidecar.volumes:
        expected = [(v.name, v.size, v.sha256) for v in result.sidecar.volumes]
    else:
        # No list of volumes: number them from SHA256SUMS.txt and what is here, gaps included.
        numbered = {split_volume_name(n)[1]: n for n in sums if (split_volume_name(n) or ("",))[0] == set_name}
        numbered.update({i: f.name for i, f in found.items()})
        width = max(len(n.rsplit(".", 1)[-1]) if ".7z." in n else 3 for n in numbered.values())
        expected = [
            (numbered.get(i, f"{set_name}.7z.{i:0{width}d}"), None, sums.get(numbered.get(i, "")))
            for i in range(1, max(numbered) + 1)
        ]
    by_name = {f.name: f for f in found.values()}
    for name, size, sha in expected:
        item = by_name.get(name)
        if item is None:
            result.volumes.append(VolumeSource(name, size, sha, None, name))
        else:
            result.volumes.append(VolumeSource(name, item.size, sha, item.opener, item.where))
    result.volumes = fill_holes(result.volumes)
    return result


def _read_all(item: DiscFile) -> bytes:
    with item.opener() as handle:
        return handle.read()


def _read_sums(item: DiscFile) -> dict[str, str]:
    """SHA256SUMS.txt as {name: sha256}; GNU escaping of ``\\`` and newlines undone."""
    out: dict[str, str] = {}
    try:
        text = _read_all(item).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - without sums, volumes are still checked by 7z and the manifest
        return out
    for line in text.splitlines():
        escaped = line.startswith("\\")
        sha, _, name = line.lstrip("\\").partition("  ")
        if len(sha) == 64 and name:
            if escaped:
                name = name.replace("\\n", "\n").replace("\\\\", "\\")
            out[name] = sha.lower()
    return out
