"""Helpers shared by the cold-store tests (a module of its own: conftest names collide)."""

from __future__ import annotations

import os
import random
import sys
import uuid
from pathlib import Path

from icefloe.coldstore import ColdStore, StoredArchive, make_client
from icefloe.config import ColdstoreConfig
from icefloe.progress import NullProgress

MIB = 1024 * 1024
BACKENDS = ["glacier", "s3"]
PYTHON = sys.executable


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def write_random(path: Path, size: int, seed: int = 0) -> bytes:
    data = random.Random(seed or size).randbytes(size)
    path.write_bytes(data)
    return data


def create_container(cfg: ColdstoreConfig) -> None:
    if cfg.backend == "glacier":
        make_client("glacier", cfg).create_vault(vaultName=cfg.vault)
    else:
        make_client("s3", cfg).create_bucket(Bucket=cfg.bucket)


def retrieve(store: ColdStore, stored: StoredArchive, dest: Path) -> bytes:
    """Read an archive back: a retrieval job (vault) or a restore (S3), then its output."""
    job = store.request_retrieval(stored.remote_id, "Expedited" if store.backend == "glacier" else "Bulk")
    store.fetch_job_output(job.job_id, dest)
    return dest.read_bytes()


def write_config(folder: Path, cfg: ColdstoreConfig, **extra) -> Path:
    """An icefloe.toml for CLI and subprocess runs, with this cold store."""
    values = {
        "backend": cfg.backend,
        "vault": cfg.vault,
        "bucket": cfg.bucket,
        "concurrency": cfg.concurrency,
        "part_size_mib": cfg.part_size_mib,
        **extra,
    }
    lines = [f'work_dir = "{folder / "work"}"', "[coldstore]"]
    for key, value in values.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    path = folder / "icefloe.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def cli_env(standin) -> dict[str, str]:
    env = dict(os.environ)
    env["AWS_ENDPOINT_URL"] = standin.url
    return env


class Crash(BaseException):
    """Stands for the process dying in the middle: nothing below catches it."""


class CrashAfter(NullProgress):
    def __init__(self, nbytes: int) -> None:
        self.left = nbytes

    def on_progress(self, nbytes: int) -> None:
        self.left -= nbytes
        if self.left <= 0:
            raise Crash()
