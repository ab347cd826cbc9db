"""The manifest of an archive set: every entry's path, kind, size, mtime and SHA-256.

One JSON document (format in docs/manifest.md, ``version`` 1), kept in two places: inside the
archive as ``.icefloe/<set>.manifest.json`` and beside the archive volumes as the sidecar
``<set>.manifest.json`` (sealed as ``<set>.manifest.7z`` with the password when the set is
encrypted). The sidecar also lists the volumes with their sizes and SHA-256s, which the copy
inside the archive cannot know about itself.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from icefloe.catalog import ManifestEntry
from icefloe.errors import PasswordError, UsageError
from icefloe.fsutil import atomic_write_bytes

FORMAT = "icefloe-manifest"
VERSION = 1
KINDS = ("file", "dir", "symlink")
INNER_DIR = ".icefloe"


def inner_name(set_name: str) -> str:
    """The manifest's path inside the archive."""
    return f"{INNER_DIR}/{set_name}.manifest.json"


def sidecar_name(set_name: str) -> str:
    return f"{set_name}.manifest.json"


SEALED_SUFFIX = ".manifest.7z"


def sealed_name(set_name: str) -> str:
    """The sidecar of an encrypted set: the manifest in a 7z with AES-256 and an encrypted
    header, which stock 7-Zip opens with the archive's password."""
    return f"{set_name}{SEALED_SUFFIX}"


def sidecar_for(set_name: str, encrypted: bool) -> str:
    return sealed_name(set_name) if encrypted else sidecar_name(set_name)


def seal(data: bytes, name: str, password: str) -> bytes:
    """``data`` as the one member ``name`` of a 7z archive whose data and names need ``password``."""
    import py7zr

    filters = [{"id": py7zr.FILTER_LZMA2, "preset": 7}, {"id": py7zr.FILTER_CRYPTO_AES256_SHA256}]
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", password=password, header_encryption=True, filters=filters) as sealed:
        sealed.writestr(data, name)
    return buf.getvalue()


def unseal(data: bytes, password: str | None, source: str) -> bytes:
    """The manifest inside a sealed sidecar; PasswordError when ``password`` cannot open it."""
    import py7zr
    from py7zr.io import BytesIOFactory

    if not password:
        raise PasswordError(f"{source} is encrypted: set the archive password and run again")
    factory = BytesIOFactory(64 * len(data) + (64 << 20))  # LZMA2 shrinks JSON about tenfold
    try:
        with py7zr.SevenZipFile(io.BytesIO(data), "r", password=password) as sealed:
            sealed.extractall(factory=factory)
    except Exception:  # noqa: BLE001 - py7zr fails in many ways on a wrong key
        raise PasswordError(
            f"{source} does not open with this archive password: the password is wrong "
            "(or the file is damaged)"
        ) from None
    members = [m for m in factory.products.values()]
    if len(members) != 1:
        raise UsageError(f"{source} holds {len(members)} files, not one manifest")
    return members[0].read()


def write_sidecar(manifest: Manifest, folder: Path, password: str | None) -> tuple[Path, str]:
    """Write the sidecar beside the volumes, sealed with ``password`` when there is one;
    returns its path and the SHA-256 of the bytes written."""
    if password is None:
        path = Path(folder) / sidecar_name(manifest.set_name)
        return path, manifest.write(path)
    data = seal(manifest.dumps(), sidecar_name(manifest.set_name), password)
    path = Path(folder) / sealed_name(manifest.set_name)
    atomic_write_bytes(path, data)
    return path, hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Item:
    """One entry of the manifest. ``sha256`` for files, ``target`` for symlinks."""

    path: str
    kind: str
    size: int
    mtime_ns: int
    sha256: str | None = None
    target: str | None = None

    def to_catalog(self) -> ManifestEntry:
        return ManifestEntry(self.path, self.kind, self.size, self.mtime_ns, self.sha256)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind, "size": self.size, "mtime_ns": self.mtime_ns}
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        if self.target is not None:
            out["target"] = self.target
        return out


@dataclass(frozen=True)
class Volume:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    set_name: str
    partition: str
    created: str  # ISO 8601, UTC
    archive: str  # the archive's name: <set>.7z (volumes add .001, .002, ...)
    encrypted: bool
    compression: str
    volume_size: int | None
    items: tuple[Item, ...]
    volumes: tuple[Volume, ...] = field(default=())  # the sidecar only

    @property
    def file_count(self) -> int:
        return sum(1 for i in self.items if i.kind == "file")

    @property
    def total_bytes(self) -> int:
        return sum(i.size for i in self.items if i.kind == "file")

    def catalog_entries(self) -> tuple[ManifestEntry, ...]:
        return tuple(i.to_catalog() for i in self.items)

    def with_volumes(self, volumes: Sequence[Volume]) -> Manifest:
        return replace(self, volumes=tuple(volumes))

    def to_json(self) -> dict[str, Any]:
        kinds = {k: sum(1 for i in self.items if i.kind == k) for k in KINDS}
        doc: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "set": self.set_name,
            "partition": self.partition,
            "created": self.created,
            "archive": {
                "name": self.archive,
                "encrypted": self.encrypted,
                "compression": self.compression,
                "volume_size": self.volume_size,
            },
            "totals": {
                "files": kinds["file"], "dirs": kinds["dir"], "symlinks": kinds["symlink"], "bytes": self.total_bytes,
            },
            "entries": [i.to_json() for i in self.items],
        }
        if self.volumes:
            doc["archive"]["volumes"] = [{"name": v.name, "size": v.size, "sha256": v.sha256} for v in self.volumes]
        return doc

    def dumps(self) -> bytes:
        # One entry per line: readable, diffable, and greppable without a JSON tool.
        doc = self.to_json()
        entries = doc.pop("entries")
        head = json.dumps(doc, ensure_ascii=False, indent=1)[:-2]
        lines = ",\n  ".join(json.dumps(e, ensure_ascii=False) for e in entries)
        return f'{head},\n "entries": [\n  {lines}\n ]\n}}\n'.encode()

    def write(self, path: Path) -> str:
        """Write atomically; returns the SHA-256 of the bytes written."""
        data = self.dumps()
        atomic_write_bytes(path, data)
        return hashlib.sha256(data).hexdigest()


def loads(data: bytes | str, source: str = "manifest") -> Manifest:
    """Parse a manifest; UsageError naming ``source`` when it is not one icefloe can read."""
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise ValueError("not an icefloe manifest")
        if doc.get("version") != VERSION:
            raise ValueError(f"version {doc.get('version')} is not {VERSION}; upgrade icefloe")
        archive = doc["archive"]
        items = tuple(
            Item(e["path"], e["kind"], int(e["size"]), int(e["mtime_ns"]), e.get("sha256"), e.get("target"))
            for e in doc["entries"]
        )
        for item in items:
            if item.kind not in KINDS:
                raise ValueError(f"entry {item.path!r} has unknown kind {item.kind!r}")
        volumes = tuple(Volume(v["name"], int(v["size"]), v["sha256"]) for v in archive.get("volumes", ()))
        return Manifest(
            set_name=doc["set"],
            partition=doc["partition"],
            created=doc["created"],
            archive=archive["name"],
            encrypted=bool(archive["encrypted"]),
            compression=archive.get("compression", "auto"),
            volume_size=archive.get("volume_size"),
            items=items,
            volumes=volumes,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{source} is not a readable icefloe manifest: {exc}") from None


def read(path: Path) -> Manifest:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the manifest {path}: {exc.strerror}") from None
    return loads(data, str(path))


def read_sidecar(path: Path, password: str | None = None) -> Manifest:
    """A sidecar as ``write_sidecar`` wrote it: plain JSON, or sealed (then ``password`` opens it)."""
    path = Path(path)
    if not path.name.endswith(SEALED_SUFFIX):
        return read(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the manifest {path}: {exc.strerror}") from None
    return loads(unseal(data, password, str(path)), str(path))


def size_bound(items: Iterable[Item], header_slack: int = 64 * 1024) -> int:
    """An upper bound on the sidecar's size before the SHA-256s are known (they are fixed width)."""
    total = header_slack
    for item in items:
        entry = item.to_json()
        if item.kind == "file":
            entry["sha256"] = "0" * 64
        total += len(json.dumps(entry, ensure_ascii=False).encode()) + 4
    return total
