"""What every test folder shares: icefloe's command line, run two ways, and a tree snapshot.

``icefloe(...)`` runs the real entry point in a subprocess, as a person runs it (exit code,
stderr, a kill or a Ctrl-C are real). ``invoke(capsys, ...)`` runs the same entry point in
this process, where a test needs monkeypatching or speed. Both give ``returncode``,
``stdout`` and ``stderr``, so ``ok`` and ``one_line_error`` read either.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import pytest

MAIN = "from icefloe.cli import main; main()"
COMMAND = [sys.executable, "-c", MAIN]  # for a test that starts (and kills) a run itself


def sha_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_workspace(root: Path) -> Path:
    """``root`` with two partitions (with sentinels) and a config file pointing at them."""
    for label in ("photos-a", "photos-b"):
        part = root / label
        part.mkdir(parents=True)
        (part / ".icefloe-partition").write_text(label + "\n")
    (root / "icefloe.toml").write_text(
        'work_dir = "work"\n'
        '[[partitions]]\nlabel = "photos-a"\npath = "photos-a"\n'
        '[[partitions]]\nlabel = "photos-b"\npath = "photos-b"\n'
        '[archive]\ndisc = "dvd+r"\n'
    )
    return root


def create_container(endpoint_url: str, backend: str, name: str) -> str:
    """A vault ("glacier") or bucket ("s3") on the stand-in; the [coldstore] line naming it."""
    import boto3

    if backend == "glacier":
        boto3.client("glacier", endpoint_url=endpoint_url).create_vault(vaultName=name)
        return f'vault = "{name}"'
    boto3.client("s3", endpoint_url=endpoint_url).create_bucket(Bucket=name)
    return f'bucket = "{name}"'


def icefloe(*args: str, cwd: Path, env: Mapping[str, str] | None = None, drop: tuple[str, ...] = (),
            columns: int = 200, timeout: float = 300) -> subprocess.CompletedProcess:
    """``icefloe ARGS`` in a subprocess with no terminal (it never waits for a prompt), as wide
    as ``columns``. The environment is this one without the variables starting with ``drop``,
    plus ``env``.
    """
    environ = {k: v for k, v in os.environ.items() if not (drop and k.startswith(drop))}
    environ = {**environ, "COLUMNS": str(columns), **(env or {})}
    return subprocess.run([*COMMAND, *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


class Ran(NamedTuple):
    """What ``invoke`` gives: a CompletedProcess's fields, and ``code, out, err = invoke(...)``."""

    returncode: int
    stdout: str
    stderr: str


def invoke(capsys: pytest.CaptureFixture[str] | None, *args: str, columns: int | None = None) -> Ran:
    """``icefloe ARGS`` through ``main`` in this process; stdout and stderr as captured (empty
    with no ``capsys``, as in a module's fixture); as wide as ``columns`` where given."""
    from icefloe.cli import main

    if capsys is not None:
        capsys.readouterr()  # what came before is not this command's
    saved = os.environ.get("COLUMNS")
    if columns is not None:
        os.environ["COLUMNS"] = str(columns)
    try:
        main(list(args))
        code = 0
    except SystemExit as done:
        code = done.code or 0
    finally:
        if columns is not None and saved is None:
            del os.environ["COLUMNS"]
        elif columns is not None:
            os.environ["COLUMNS"] = saved
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return Ran(code, out, err)


def ok(proc: subprocess.CompletedProcess | Ran) -> str:
    """A run that succeeded without a traceback; its stdout."""
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def one_line_error(proc: subprocess.CompletedProcess | Ran, *, after_report: bool = False) -> str:
    """A failed run whose stderr is one line starting with ``icefloe: ``; that line.

    ``after_report``: the line may follow the run's own report of what it did (the last line).
    """
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert (after_report and lines) or len(lines) == 1, proc.stderr
    assert lines[-1].startswith("icefloe: "), proc.stderr
    return lines[-1]


# What icefloe keeps in a partition's top folder: the sentinel, the trash, its own folder.
ICEFLOE_FILES = ".icefloe*"


def snapshot(root: Path, *, everything: bool = False, mtimes: bool = True) -> dict[str, tuple]:
    """Every entry under ``root`` by relative path, for comparing trees before and after:
    ``("dir", mtime)``, ``("link", target, mtime)``, ``("file", size, mtime, sha256)``.

    By default the photos: icefloe's own top-level files (``.icefloe*``) are left out, as a
    restore does not bring them back. ``everything`` keeps them and adds ``root`` itself as
    ``"."``, for "nothing changed, not even a folder's mtime". ``mtimes=False`` puts None
    where a copy that keeps no times (a disc, a mirror) would differ.
    """

    def when(st: os.stat_result) -> int | None:
        return st.st_mtime_ns if mtimes else None

    out: dict[str, tuple] = {".": ("dir", when(os.lstat(root)))} if everything else {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == root and not everything:
            dirnames[:] = [d for d in dirnames if not fnmatch.fnmatchcase(d, ICEFLOE_FILES)]
            filenames = [f for f in filenames if not fnmatch.fnmatchcase(f, ICEFLOE_FILES)]
        for name in dirnames + filenames:
            path = here / name
            rel = path.relative_to(root).as_posix()
            st = os.lstat(path)
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path), when(st))
            elif path.is_dir():
                out[rel] = ("dir", when(st))
            else:
                out[rel] = ("file", st.st_size, when(st), sha_hex(path.read_bytes()))
    return out


def files_of(tree: Mapping[str, tuple]) -> dict[str, str]:
    """From a snapshot: each regular file's SHA-256."""
    return {rel: entry[3] for rel, entry in tree.items() if entry[0] == "file"}
