"""What the benchmarks share: one command timed with its CPU and peak memory, and a free port.

Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


@dataclass
class Run:
    label: str
    seconds: float
    cpu: float
    rss_mib: float
    size: int
    startup: float = 0.0  # wall seconds of the same command on a 1-byte file, where measured

    @property
    def mib_s(self) -> float:
        """Throughput net of start-up (interpreter, imports, the first requests)."""
        net = self.seconds - self.startup
        return self.size / MIB / net if net > 0 else 0.0


def measure(label: str, cmd: list[str], env: dict, size: int, cwd: Path | None = None) -> Run:
    """Wall time, CPU (user + system) and peak RSS of one command; a failed one ends the bench."""
    prefix = [TIME, "-f", "@@ %U %S %M"] if TIME else []
    started = time.perf_counter()
    done = subprocess.run(prefix + cmd, env=env, capture_output=True, text=True, cwd=cwd, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    match = re.search(r"@@ ([\d.]+) ([\d.]+) (\d+)", done.stderr)
    cpu, rss = (float(match[1]) + float(match[2]), int(match[3]) / 1024) if match else (0.0, 0.0)
    return Run(label, seconds, cpu, rss, size)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
