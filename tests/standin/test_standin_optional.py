"""The stand-in is an extra: icefloe for real AWS imports and runs without moto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WITHOUT_MOTO = """
import importlib, pkgutil, sys
sys.modules["moto"] = None  # as if the standin extra were not installed
import icefloe, flows, tasks
for package in (icefloe, flows, tasks):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
assert not any(name.startswith("icefloe_standin") for name in sys.modules), "standin imported"
from icefloe.cli import main
main(sys.argv[1:])
"""


def _icefloe_without_moto(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WITHOUT_MOTO, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def test_icefloe_imports_without_moto_and_the_stand_in_names_its_extra() -> None:
    # One process: every module imported with moto hidden, then the stand-in asked to start.
    done = _icefloe_without_moto("standin", "--port", "0")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "icefloe[standin]" in lines[0] and "Traceback" not in done.stderr, done.stderr
