"""Options from the environment, starting and stopping, and the foreground command."""

from __future__ import annotations

import io
import threading
import urllib.request
from pathlib import Path

import pytest

from icefloe.errors import ConfigInvalid, UsageError
from icefloe_standin import Standin, StandinOptions, options_from_env, serve_forever


def test_options_from_env() -> None:
    options = options_from_env(
        {
            "ICEFLOE_STANDIN_JOB_DELAY": "2.5",
            "ICEFLOE_STANDIN_INVENTORY_LAG": "60",
            "ICEFLOE_STANDIN_FAULT_RATE": "0.1",
            "ICEFLOE_STANDIN_FAULT_SEED": "42",
            "ICEFLOE_STANDIN_LATENCY_MS": "20",
            "ICEFLOE_STANDIN_BANDWIDTH": "2M",
            "ICEFLOE_STANDIN_VAULT_UNSUPPORTED": "yes",
            "ICEFLOE_STANDIN_STORAGE_DIR": "/tmp/spool",
            "UNRELATED": "x",
        }
    )
    assert options == StandinOptions(
        job_delay_s=2.5,
        inventory_lag_s=60.0,
        fault_rate=0.1,
        fault_seed=42,
        latency_ms=20.0,
        bandwidth_bps=2 * 1024 * 1024,
        vault_unsupported=True,
        storage_dir=Path("/tmp/spool"),
    )
    assert options_from_env({}) == StandinOptions()
    assert options_from_env({"ICEFLOE_STANDIN_JOB_DELAY": ""}) == StandinOptions()


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("ICEFLOE_STANDIN_FAULT_RATE", "1.5"),
        ("ICEFLOE_STANDIN_FAULT_RATE", "lots"),
        ("ICEFLOE_STANDIN_JOB_DELAY", "-1"),
        ("ICEFLOE_STANDIN_BANDWIDTH", "fast"),
        ("ICEFLOE_STANDIN_VAULT_UNSUPPORTED", "maybe"),
        ("ICEFLOE_STANDIN_FAULT_SEED", "1.5"),
    ],
)
def test_bad_environment_is_one_clear_error(var: str, value: str) -> None:
    with pytest.raises(ConfigInvalid) as excinfo:
        options_from_env({var: value})
    assert "\n" not in str(excinfo.value)
    assert var in str(excinfo.value) or "ICEFLOE_STANDIN_" in str(excinfo.value)


def test_options_validate_on_update() -> None:
    options = StandinOptions()
    assert options.updated({"fault_rate": 0.5}).fault_rate == 0.5
    with pytest.raises(ConfigInvalid):
        options.updated({"latency": 5})
    with pytest.raises(ConfigInvalid):
        StandinOptions(bandwidth_bps=-1)
    with pytest.raises(ConfigInvalid):
        StandinOptions(job_delay_s=float("nan"))


def test_start_stop_and_cleanup(tmp_path: Path) -> None:
    standin = Standin(options=StandinOptions(storage_dir=tmp_path))
    standin.set_options(latency_ms=1)  # before start: becomes the initial options
    with standin:
        assert standin.running and standin.url.startswith("http://127.0.0.1:")
        assert standin.options.latency_ms == 1
        assert len(list(tmp_path.iterdir())) == 1  # its own spool directory
        with urllib.request.urlopen(f"{standin.url}/_standin/health", timeout=5) as answer:
            assert answer.status == 200
        with pytest.raises(UsageError) as excinfo:  # the port is taken
            Standin(port=standin.port).start()
        assert str(standin.port) in str(excinfo.value)
    assert not standin.running
    assert list(tmp_path.iterdir()) == []
    standin.stop()  # stopping twice is harmless
    assert standin.counters()["requests"] == 0  # still readable; admin calls are not counted
    with pytest.raises(RuntimeError):
        Standin().counters()  # never started


def test_serve_forever_prints_the_url_and_stops() -> None:
    stop = threading.Event()
    out = io.StringIO()
    thread = threading.Thread(
        target=serve_forever, args=("127.0.0.1", 0, None), kwargs={"stop": stop, "out": out}
    )
    thread.start()
    try:
        for _ in range(100):
            if out.getvalue():
                break
            stop.wait(0.05)
        line = out.getvalue()
        assert line.count("\n") == 1 and "http://127.0.0.1:" in line
        url = line.split()[4]
        with urllib.request.urlopen(f"{url}/_standin/health", timeout=5) as answer:
            assert answer.status == 200
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
