"""Helpers for the restore tests: a partition, archived and stored as the pipeline would."""

from __future__ import annotations

import os
import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from icefloe.archive import Consolidation, consolidate, record_consolidation
from icefloe.catalog import Catalog
from icefloe.coldstore import make_client, open_coldstore
from icefloe.config import ColdstoreConfig
from icefloe.restore import RestoreOptions

MIB = 1 << 20
PASSWORD = "correct horse battery staple"
LABEL = "photos-a"
SENTINEL = ".icefloe-partition"
# Tests poll the stand-in every 50 ms instead of starting at 1 s.
FAST = RestoreOptions(range_size=MIB, download_concurrency=3, poll_first_s=0.05, poll_max_s=0.2,
                      wait_timeout_s=60)


def unique(prefix: str = "r") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_partition(root: Path, *, big: int = 3 * MIB + 12345, seed: int = 7) -> Path:
    """A partition with every shape a restore must bring back, mtimes set to odd nanoseconds."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    (root / SENTINEL).write_text(LABEL + "\n")
    files = {
        "photos/2019/07/IMG_0001.jpg": rng.randbytes(big),  # stored (Copy), spans ranges
        "photos/2019/07/IMG_0002.jpg": rng.randbytes(200_000),
        "photos/2020/clip.mp4": rng.randbytes(700_000),
        "documents/notes.txt": b"shopping list\n" * 5000,  # LZMA2
        "documents/deep/a/b/c/letter.txt": "Grüße, ünïcode — 日本語\n".encode() * 300,
        "Fotos Ümläut 😀/name with spaces & $(x).txt": b"awkward name\n",
        "empty-file": b"",
    }
    for i, (rel, data) in enumerate(sorted(files.items())):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(1_500_000_000_123_456_789 + i, 1_500_000_000_123_456_789 + 1000 * i + 7))
    (root / "empty dir").mkdir()
    os.symlink("photos/2019/07/IMG_0001.jpg", root / "latest.jpg")
    os.symlink("does/not/exist", root / "dangling")
    for i, folder in enumerate(sorted((p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()),
                                      key=lambda p: -len(p.parts))):
        os.utime(folder, ns=(1_400_000_000_000_000_000 + i, 1_400_000_000_000_000_000 + 11 * i))
    return root


def archive(part: Path, out: Path, catalog: Catalog, *, volume_size: int | None = None,
            password: str | None = PASSWORD, now: datetime | None = None) -> Consolidation:
    result = consolidate(part, out, label=LABEL, password=password, volume_size=volume_size, workers=1, now=now)
    record_consolidation(catalog, result)
    return result


def coldstore_config(backend: str) -> ColdstoreConfig:
    name = unique()
    return ColdstoreConfig(backend=backend, vault=name, bucket=name, concurrency=3, part_size_mib=1)


def create_container(cfg: ColdstoreConfig, endpoint_url: str) -> None:
    if cfg.backend == "glacier":
        make_client("glacier", cfg, endpoint_url=endpoint_url).create_vault(vaultName=cfg.vault)
    else:
        make_client("s3", cfg, endpoint_url=endpoint_url).create_bucket(Bucket=cfg.bucket)


def upload_set(result: Consolidation, cfg: ColdstoreConfig, catalog: Catalog, endpoint_url: str) -> None:
    store = open_coldstore(cfg, catalog, endpoint_url=endpoint_url)
    for volume in result.volumes:
        store.upload(volume.path, partition=result.partition_label)


def forget_catalog(catalog: Catalog) -> Path:
    """Close and delete the catalog (with its WAL files): the house burned down."""
    path = catalog.path
    catalog.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


@dataclass
class Stored:
    """A partition archived, uploaded, then everything local lost but the cold store."""

    cfg: ColdstoreConfig
    original: dict[str, tuple]
    set_name: str
    volumes: list[str]
    catalog_path: Path
