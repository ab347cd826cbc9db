"""The real Prefect UI in headless Chromium: the deployments, a served run's stages and its artifacts.

A real `prefect server start` (its own PREFECT_HOME and port) serves the UI; `deployments/serve.py`
serves the clear-partition deployment (and archive-partition once flows/archive.py exists), a
run of it clears a sample partition, and Chromium renders the pages. The rendered DOM is what the
assertions read; the screenshots are kept in test-artifacts/ui/ for people (CI uploads them).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from builders import make_world

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "ui"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1000", "--virtual-time-budget=15000",
]
STAGES = ["recover clear photos-a", "check gates photos-a", "plan clear photos-a", "stage clear photos-a",
          "confirm clear photos-a", "switch active partition from photos-a", "report clear photos-a",
          "snapshot catalog"]
HAS_ARCHIVE_FLOW = (ROOT / "flows" / "archive.py").exists()
SERVED = ["clear-partition"] + (["archive-partition"] if HAS_ARCHIVE_FLOW else [])


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("headless Chromium is needed for the UI test and was not found: install Debian's "
                "`chromium` package (apt-get install -y chromium; scripts/system-deps.sh does it "
                "with ICEFLOE_WITH_BROWSER=1)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session, with whatever it started (uvicorn, flow runs)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else "(no log)"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A real Prefect server with the UI, on a free port, with its own home."""
    import httpx

    chromium()  # fail first, and clearly, when the browser is missing
    home = tmp_path_factory.mktemp("prefect-ui-home")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_UI_API_URL": f"{url}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false"}
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prefect server did not come up on {url}:\n{tail(log)}")
            time.sleep(0.3)
        yield {"url": url, "home": home, "env": {**env, "PREFECT_API_URL": f"{url}/api"}}
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def served(ui_server: dict) -> Iterator[dict]:
    """`python deployments/serve.py --only ...` against the server: deployment ids and its log."""
    import httpx

    log = ui_server["home"] / "serve.log"
    args = [a for name in SERVED for a in ("--only", name)]
    env = {**ui_server["env"], "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "deployments/serve.py", *args], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 45
        while True:
            found = httpx.post(f"{ui_server['url']}/api/deployments/filter", timeout=5,
                               json={"deployments": {"name": {"any_": SERVED}}}).json()
            if len(found) == len(SERVED):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve.py did not register {SERVED}:\n{tail(log)}")
            time.sleep(0.5)
        yield {"ids": {d["name"]: d["id"] for d in found}, "log": log}
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def clear_run(ui_server: dict, served: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A run of the served clear-partition deployment on a sample partition whose gates all hold."""
    import httpx

    ws = tmp_path_factory.mktemp("ui-workspace")
    for label in ("photos-a", "photos-b"):
        (ws / label).mkdir()
        (ws / label / ".icefloe-partition").write_text(label + "\n")
    (ws / "icefloe.toml").write_text(
        'work_dir = "work"\n[[partitions]]\nlabel = "photos-a"\npath = "photos-a"\n'
        '[[partitions]]\nlabel = "photos-b"\npath = "photos-b"\n[archive]\ndisc = "dvd+r"\n'
        '[coldstore]\ncatalog_snapshots = false\n'  # this run has no cold store to reach
    )
    make_world(ws).catalog.close()
    api = f"{ui_server['url']}/api"
    deadline = time.monotonic() + 60
    while True:  # a busy server may refuse the first request while serve.py still registers
        found = httpx.post(f"{api}/deployments/filter", timeout=10,
                           json={"deployments": {"name": {"any_": ["clear-partition"]}}}).json()
        reply = httpx.post(f"{api}/deployments/{found[0]['id']}/create_flow_run", timeout=10, json={
            "parameters": {"label": "photos-a", "confirm": True, "config": str(ws / "icefloe.toml")}})
        run = reply.json()
        if reply.is_success and "id" in run:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"the server refused the clear run: {reply.status_code} {run}\n{tail(served['log'])}")
        time.sleep(1)
    deadline = time.monotonic() + 60
    while True:
        state = httpx.get(f"{api}/flow_runs/{run['id']}", timeout=5).json()["state"]
        if state and state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"the clear run never finished (last state {state}):\n{tail(served['log'])}")
        time.sleep(0.5)
    assert state["type"] == "COMPLETED", f"{state}\n{tail(served['log'])}"
    assert not (ws / "photos-a" / "dcim").exists()  # it really ran, in serve.py's runner
    artifacts = httpx.post(f"{api}/artifacts/filter", timeout=5,
                           json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}).json()
    return {"id": run["id"], "artifacts": {a["key"]: a["id"] for a in artifacts if a["key"]}}


def render(url: str, shot: str, profile: Path) -> str:
    """Load the page in headless Chromium: keep a screenshot, return the rendered DOM."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / shot
    path.unlink(missing_ok=True)
    proc = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={path}", "--dump-dom", url],
        capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert path.exists(), f"no screenshot of {url}: {proc.stderr[-2000:]}"
    width, height, colours = png_colours(path)
    assert (width, height) == (1400, 1000)
    assert colours >= 50, f"{path} looks blank ({colours} distinct colours)"
    dom = proc.stdout
    assert "Can't connect to Server API" not in dom, f"the UI did not reach the API ({path})"
    return dom


def png_colours(path: Path, row_step: int = 4) -> tuple[int, int, int]:
    """Width, height and distinct colours (sampling every row_step-th row) of an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + size]
        pos += size + 12
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    bpp = 3 if colour_type == 2 else 4
    stride, raw = width * bpp, zlib.decompress(b"".join(chunks))
    prev, seen = bytearray(stride), set()
    for y in range(height):  # undo the PNG row filters (None, Sub, Up, Average, Paeth)
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray(map(lambda a, b: (a + b) & 255, line, prev))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a, b = (line[i - bpp] if i >= bpp else 0), prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % row_step == 0:
            seen.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line
    return width, height, len(seen)


def test_deployments_page_shows_the_served_deployments(ui_server: dict, served: dict, tmp_path: Path) -> None:
    dom = render(f"{ui_server['url']}/v2/deployments", "deployments.png", tmp_path)
    for name in SERVED:
        assert name in dom, f"{name} is not on the deployments page (see {SHOTS / 'deployments.png'})"


def test_flow_run_page_lists_every_stage(ui_server: dict, clear_run: dict, tmp_path: Path) -> None:
    page = f"{ui_server['url']}/v2/runs/flow-run/{clear_run['id']}"
    dom = render(f"{page}?tab=TaskRuns", "clear-flow-run-stages.png", tmp_path)
    assert "clear photos-a" in dom and "clear-partition" in dom and f"{len(STAGES)} Task runs" in dom
    missing = [stage for stage in STAGES if stage not in dom]
    assert missing == [], f"stages not listed: {missing} (see {SHOTS / 'clear-flow-run-stages.png'})"
    assert dom.count("Completed") >= len(STAGES) + 1  # the run and each of its stages
    dom = render(f"{page}?tab=Artifacts", "clear-flow-run-artifacts.png", tmp_path)
    assert "clear-gates-photos-a" in dom and "clear-photos-a" in dom
    assert "clear gates of photos-a: 0 missing" in dom


def test_artifacts_render_the_gates_and_the_report(ui_server: dict, clear_run: dict, tmp_path: Path) -> None:
    assert set(clear_run["artifacts"]) == {"clear-gates-photos-a", "clear-photos-a"}
    base = f"{ui_server['url']}/v2/artifacts/artifact"
    dom = render(f"{base}/{clear_run['artifacts']['clear-gates-photos-a']}", "clear-gates-artifact.png", tmp_path)
    for text in ("inventory_seen", "server_checksum", "image_verified", "mirror_ok", "archive:set1.7z.002"):
        assert text in dom, text
    dom = render(f"{base}/{clear_run['artifacts']['clear-photos-a']}", "clear-report-artifact.png", tmp_path)
    for text in ("Clear of photos-a: done", "files removed", "dcim/2023/a.jpg", "photos-b"):
        assert text in dom, text
