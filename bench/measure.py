"""What the benchmarks share: one command timed with its CPU and peak memory, a free port, and
the local stand-in, slowed to a given latency and bandwidth, for as long as a bench needs it.

Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def standin(work: Path, latency_ms: float, cap_mib: float) -> Iterator[dict]:
    """The stand-in on a free port, its objects under ``work``; yields the environment that
    points boto3 (and awscli) at it, also set in this process. Stopped on the way out."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        ICEFLOE_STANDIN_LATENCY_MS=str(latency_ms),
        ICEFLOE_STANDIN_BANDWIDTH=str(int(cap_mib * MIB)),
        ICEFLOE_STANDIN_STORAGE_DIR=str(work / "standin"),
    )
    env.pop("AWS_PROFILE", None)
    os.environ.update({k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                                           "AWS_SECRET_ACCESS_KEY", "AWS_CONFIG_FILE",
                                           "AWS_SHARED_CREDENTIALS_FILE")})
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from icefloe.cli import main; main(sys.argv[1:])",
         "standin", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        line = process.stdout.readline()
        if "listening" not in line:
            raise SystemExit(f"the stand-in did not start: {line}")
        yield env
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
