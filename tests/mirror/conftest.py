"""Fixtures for the mirror tests: a real sshd on 127.0.0.1 (one per session) and a fake runner.

The sshd follows FACTS.md ("rsync over SSH"): fresh host and client keys in a temporary folder,
a private sshd_config, started without systemd and stopped by its pid file. The client key
lives in a folder with a space in its name, so every ssh test also checks rsync's -e quoting.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Sshd:
    port: int
    user: str
    identity_file: Path
    known_hosts: Path
    log: Path

    def target(self, path: Path) -> str:
        return f"{self.user}@127.0.0.1:{path}"

    def mirror_toml(self, path: Path, port: int | None = None, **extra: object) -> str:
        """A [mirror] section pointing at this server (or at ``port``, e.g. a closed one)."""
        values: dict[str, object] = {
            "target": self.target(path),
            "ssh_port": port or self.port,
            "identity_file": str(self.identity_file),
            "known_hosts": str(self.known_hosts),
            **extra,
        }
        return "[mirror]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())


def _wait_listening(port: int, proc_log: Path, deadline_s: float = 15) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not start on port {port}: {proc_log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real OpenSSH server on 127.0.0.1 accepting one generated key for the current user."""
    if not Path(SSHD).exists() or not shutil.which("rsync"):
        pytest.fail("the mirror tests need openssh-server and rsync (apt-get install rsync openssh-server)")
    home = tmp_path_factory.mktemp("sshd")
    keys = home / "client keys"
    keys.mkdir()
    for key in (home / "host_key", keys / "id_ed25519"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (home / "authorized_keys").write_text((keys / "id_ed25519.pub").read_text())
    port = free_port()
    config = home / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
        f"PidFile {home / 'sshd.pid'}\nAuthorizedKeysFile {home / 'authorized_keys'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nMaxStartups 50\nLogLevel VERBOSE\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    subprocess.run([SSHD, "-t", "-f", str(config)], check=True, capture_output=True)
    log = home / "sshd.log"
    subprocess.run([SSHD, "-f", str(config), "-E", str(log)], check=True)
    known_hosts = home / "known_hosts"
    host_key = (home / "host_key.pub").read_text().split()
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    try:
        _wait_listening(port, log)
        yield Sshd(port, getpass.getuser(), keys / "id_ed25519", known_hosts, log)
    finally:
        pid_file = home / "sshd.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (picked free, then released)."""
    return free_port()


@dataclass
class FakeRunner:
    """Replays rsync output (lines) and an exit code; records the commands it was given."""

    stdout: Sequence[str] = ()
    stderr: Sequence[str] = ()
    exit_code: int = 0
    calls: list[list[str]] = field(default_factory=list)

    def run(
        self, argv: Sequence[str], on_stdout: Callable[[str], None], on_stderr: Callable[[str], None]
    ) -> int:
        self.calls.append(list(argv))
        for line in self.stderr:
            on_stderr(line + "\n")
        for line in self.stdout:
            on_stdout(line + "\n")
        return self.exit_code


@pytest.fixture
def fake_runner() -> type[FakeRunner]:
    return FakeRunner


@pytest.fixture
def partition(tmp_path: Path) -> Path:
    """A partition with its sentinel, a couple of folders and files."""
    root = tmp_path / "photos-a"
    (root / "2024" / "summer").mkdir(parents=True)
    (root / ".icefloe-partition").write_text("photos-a\n")
    (root / "2024" / "summer" / "beach.jpg").write_bytes(os.urandom(50_000))
    (root / "2024" / "notes.txt").write_text("hello\n")
    (root / "readme.txt").write_text("family photos\n")
    return root
