"""Session-wide fixtures: one stand-in, one Prefect harness, loopback only."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Prefect reads its settings at import: point it at a private home before anything imports it.
_PREFECT_HOME = tempfile.mkdtemp(prefix="icefloe-prefect-home-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# boto3 must never find real credentials or reach AWS from the tests.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server (SQLite) shared by every flow test in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def standin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator["object"]:
    """One local AWS stand-in (S3 + Glacier vault API) on 127.0.0.1 for the whole session."""
    from icefloe_standin import Standin, StandinOptions

    options = StandinOptions(storage_dir=tmp_path_factory.mktemp("standin"))
    with Standin(port=0, options=options) as server:
        yield server


@pytest.fixture
def standin(standin_server, monkeypatch: pytest.MonkeyPatch):
    """The shared stand-in with default options and fresh counters; AWS_ENDPOINT_URL points at it."""
    from icefloe_standin import StandinOptions

    standin_server.set_options(**{k: v for k, v in vars(StandinOptions()).items() if k != "storage_dir"})
    standin_server.reset_counters()
    monkeypatch.setenv("AWS_ENDPOINT_URL", standin_server.url)
    yield standin_server
    standin_server.set_options(**{k: v for k, v in vars(StandinOptions()).items() if k != "storage_dir"})


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder with two partitions (with sentinels) and a config file pointing at them."""
    from helpers import make_workspace

    return make_workspace(tmp_path)


@pytest.fixture
def world(workspace: Path):
    """The workspace's photos-a with files and a catalog that archived them (tests/builders.py)."""
    from builders import make_world

    w = make_world(workspace)
    yield w
    w.catalog.close()


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen]:
    """A live process that is not this one, to stand for another run's lease holder."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def no_catalog_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests whose clears have no cold store: no catalog snapshot is attempted."""
    monkeypatch.setenv("ICEFLOE_COLDSTORE__CATALOG_SNAPSHOTS", "false")


# Every test gets one kind, so `pytest -m unit` is the quick loop: integration tests start a
# server (Prefect, the stand-in, sshd, Postgres, systemd units) and ui tests drive Chromium.
SERVERS = {"prefect_harness", "standin", "standin_server", "sshd", "postgres"}
UI_FILES = {"test_ui.py", "test_household_page.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in UI_FILES and "chromium" in item.path.read_text(errors="replace"):
            kind = "ui"
        elif SERVERS & set(getattr(item, "fixturenames", ())) or item.path.parent.name in {
            "lifecycle", "service", "notify", "flows"}:
            kind = "integration"
        else:
            kind = "unit"
        item.add_marker(getattr(pytest.mark, kind))
