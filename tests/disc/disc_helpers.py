"""Helpers for the disc tests: trees of awkward shapes, real 7z volumes, tool runners."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

# 200 characters; the second one is 227 UTF-8 bytes, under ext4's 255-byte limit.
LONG_ASCII = "L" * 196 + ".jpg"
LONG_UNICODE = "é" * 27 + "a" * 169 + ".txt"
UNICODE = "Fotos_Ümläut_日本語_😀.jpg"
SHELLY = "sp ace $(x);&|`'\"*?<>"
DEEP = [f"level{i:02d}" for i in range(12)]


def run(*cmd: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a tool with a UTF-8 locale; its output as text."""
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env=env, errors="replace", check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def make_shapes(root: Path) -> Path:
    """A tree with every shape the issue names (except the 4 GiB file, tested on its own)."""
    root.mkdir(parents=True)
    (root / UNICODE).write_bytes(b"unicode name\n")
    (root / LONG_ASCII).write_bytes(b"long ascii name\n")
    (root / LONG_UNICODE).write_bytes(b"long unicode name\n")
    shelly = root / SHELLY
    shelly.mkdir()
    (shelly / "$HOME & `rm -rf` ; echo.txt").write_bytes(b"shell metacharacters\n")
    (root / "empty-file").write_bytes(b"")
    (root / "empty dir").mkdir()
    deep = root.joinpath(*DEEP)
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_bytes(b"deep\n")
    (root / "random.bin").write_bytes(os.urandom(300_000))
    (root / "Same.TXT").write_bytes(b"upper\n")
    (root / "same.txt").write_bytes(b"lower\n")
    os.symlink("random.bin", root / "link-relative")
    os.symlink("/etc/hostname", root / "link-absolute")
    os.symlink("does/not/exist", root / "link-dangling")
    os.symlink(os.path.join(*DEEP), root / "link-to-dir")
    return root


def tree_listing(root: Path) -> dict[str, tuple[str, str | None]]:
    """relative path -> (kind, sha256 or link target) for every entry under root."""
    out: dict[str, tuple[str, str | None]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("symlink", os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir", None)
            else:
                out[rel] = ("file", sha256_file(path))
    return out


def make_volumes(tmp: Path, nbytes: int, volume: str = "300k", name: str = "set") -> tuple[Path, list[Path]]:
    """A real 7z archive of random data split into volumes by 7zz; (source dir, volumes)."""
    src = tmp / "source"
    src.mkdir()
    left, i = nbytes, 0
    while left > 0:
        size = min(left, 250_000)
        (src / f"photo-{i:03d}.jpg").write_bytes(os.urandom(size))
        left -= size
        i += 1
    out = tmp / "volumes"
    out.mkdir()
    run("7zz", "a", "-mx=0", f"-v{volume}", str(out / f"{name}.7z"), ".", cwd=src)
    return src, sorted(out.iterdir())


class RecordingProgress:
    def __init__(self) -> None:
        self.queued: list[tuple[int, str]] = []
        self.done = 0
        self.finished = 0

    def on_queued(self, total: int, label: str) -> None:
        self.queued.append((total, label))

    def on_progress(self, nbytes: int) -> None:
        self.done += nbytes

    def on_done(self) -> None:
        self.finished += 1


def record_set(catalog, tmp: Path, name: str = "photos-a-1", nbytes: int = 1_000_000) -> list[Path]:
    """A consolidated set as the catalog records it: 7z volumes plus a manifest sidecar."""
    from icefloe.catalog import ArchiveRecord, ArchiveSet

    src, volumes = make_volumes(tmp, nbytes, volume="300k", name=name)
    manifest = volumes[0].parent / f"{name}.manifest.json"
    manifest.write_text('{"format": "test manifest"}\n')
    catalog.put_archive_set(ArchiveSet(
        name=name, partition_label="photos-a", file_count=len(list(src.iterdir())),
        total_bytes=nbytes, encrypted=False, manifest_path=str(manifest),
        manifest_sha256=sha256_file(manifest),
    ))
    for i, vol in enumerate(volumes, start=1):
        catalog.put_archive(ArchiveRecord(
            name=vol.name, set_name=name, partition_label="photos-a", size=vol.stat().st_size,
            sha256=sha256_file(vol), volume=i, volumes=len(volumes), path=str(vol),
        ))
    return volumes
