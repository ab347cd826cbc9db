"""Builders shared by the clear tests: a partition with files and a catalog that archived them.

``make_world`` records an archive set the way every stage would (volumes, cold-storage copies,
testzip / checksum / inventory checks, disc images, burns, a mirror run); ``omit`` leaves out one
piece at a time so each clear gate can be tested on its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from helpers import sha_hex
from icefloe.catalog import (
    BURNED_READBACK,
    IMAGE_VERIFIED,
    INVENTORY_SEEN,
    MIRROR_CHECKSUM,
    SERVER_CHECKSUM,
    TESTZIP,
    ArchiveRecord,
    ArchiveSet,
    BurnRecord,
    Catalog,
    CopyRecord,
    ImageRecord,
    ManifestEntry,
    MirrorRun,
    now_iso,
)
from icefloe.config import Settings, load_settings

FILES = {
    "dcim/2023/a.jpg": 3000,
    "dcim/2023/b.jpg": 1500,
    "dcim/2024/c.jpg": 2500,
    "deep/x/y/z.raw": 4096,
    "notes.txt": 40,
}
V1, V2 = "set1.7z.001", "set1.7z.002"
IMG = "set1-disc-01-of-01.iso"


@dataclass
class World:
    """A partition with files and a catalog recording an archive set made from them."""

    part: Path
    catalog: Catalog
    settings: Settings
    omit: set[str] = field(default_factory=set)

    def write(self, rel: str, data: bytes) -> None:
        path = self.part / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def manifest(self, paths: list[str]) -> list[ManifestEntry]:
        out = []
        for rel in paths:
            st = os.lstat(self.part / rel)
            kind = "symlink" if os.path.islink(self.part / rel) else "file"
            sha = None if kind == "symlink" else sha_hex((self.part / rel).read_bytes())
            out.append(ManifestEntry(rel, kind, st.st_size, st.st_mtime_ns, sha))
        return out

    def archive_set(self, name: str, paths: list[str], *, discs: int = 1, burner: bool = False) -> None:
        """Record a set as every stage would: volumes, copies, checks, images, burns, mirror."""
        cat, omit = self.catalog, self.omit
        entries = self.manifest(paths) + [ManifestEntry("dcim", "dir", 0, 1)]
        cat.put_archive_set(ArchiveSet(name, "photos-a", len(paths), 1, True), entries)
        for vol in (1, 2):
            arch = f"{name}.7z.{vol:03d}"
            if f"archive:{arch}" in omit:
                continue
            sha, tree = sha_hex(arch.encode()), sha_hex(b"tree" + arch.encode())
            cat.put_archive(ArchiveRecord(arch, name, "photos-a", 1000 + vol, sha, vol, 2, tree_hash=tree))
            backend = "glacier" if vol == 1 else "s3"
            if f"copy:{arch}" not in omit:
                cat.put_copy(CopyRecord(backend, "family", f"id-{arch}", "{}", 1000 + vol, arch, sha, tree))
            checks = (("testzip", TESTZIP), ("checksum", SERVER_CHECKSUM), ("inventory", INVENTORY_SEEN))
            for key, kind in checks:
                if f"{key}:{arch}" not in omit:
                    cat.verify(f"archive:{arch}", kind, True)
        if "images" not in omit:
            for index in range(1, discs + 1 - ("disc2" in omit)):
                image = f"{name}-disc-{index:02d}-of-{discs:02d}.iso"
                cat.put_image(ImageRecord(image, name, index, discs, "dvd+r", 4096, sha_hex(image.encode())))
                if f"verified:{image}" not in omit:
                    cat.verify(f"image:{image}", IMAGE_VERIFIED, True)
                if burner and f"burned:{image}" not in omit:
                    cat.record_burn(BurnRecord(image, "stdio:/tmp/disc", True, sha_hex(image.encode())))
                    cat.verify(f"image:{image}", BURNED_READBACK, True)
        if "mirror" not in omit:
            cat.record_mirror_run(MirrorRun("photos-a", now_iso(), now_iso(), True, 0))
            if "mirror-checksum" not in omit:
                cat.verify("partition:photos-a", MIRROR_CHECKSUM, True)


def make_world(workspace: Path, *, omit: set[str] = frozenset(), discs: int = 1, burner: bool = False,
               disc: str = "dvd+r", archive: bool = True) -> World:
    settings = load_settings(workspace / "icefloe.toml", environ={})
    updates = {"disc": disc, "burner": "stdio:/tmp/disc" if burner else "none"}
    settings = settings.model_copy(update={"archive": settings.archive.model_copy(update=updates)})
    catalog = Catalog.open(workspace / "work" / "catalog.sqlite")
    world = World(workspace / "photos-a", catalog, settings, set(omit))
    for i, (rel, size) in enumerate(FILES.items()):
        world.write(rel, os.urandom(size))
        os.utime(world.part / rel, ns=(1_600_000_000_000_000_000 + i, 1_600_000_000_123_456_789 + i))
    os.symlink("dcim/2023/a.jpg", world.part / "latest.jpg")
    (world.part / "empty-before").mkdir()
    if archive:
        world.archive_set("set1", [*FILES, "latest.jpg"], discs=discs, burner=burner)
    return world
