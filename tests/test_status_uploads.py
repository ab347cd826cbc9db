"""`icefloe status` shows every upload the service holds open, ours or not, or says why not."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import boto3

from helpers import icefloe


def status(workspace: Path, **env: str) -> subprocess.CompletedProcess:
    return icefloe("status", *env.pop("args", ["--json"]), cwd=workspace, env=env, timeout=120)


def test_an_upload_icefloe_did_not_start_is_shown(standin, workspace: Path) -> None:
    bucket = f"status-{workspace.parent.name[-10:].lower().replace('_', '-')}"
    s3 = boto3.client("s3", endpoint_url=standin.url)
    s3.create_bucket(Bucket=bucket)
    with (workspace / "icefloe.toml").open("a") as config:
        config.write(f'[coldstore]\nbucket = "{bucket}"\n')
    foreign = s3.create_multipart_upload(Bucket=bucket, Key="icefloe/left-by-a-script.7z")["UploadId"]
    proc = status(workspace)
    assert proc.returncode == 0, proc.stderr
    remote = json.loads(proc.stdout)["service_uploads"]
    assert remote["ok"] and [(u["upload_id"], u["ours"]) for u in remote["uploads"]] == [(foreign, False)]
    table = status(workspace, args=[])
    assert "open uploads on the service: 1 (1 not started by icefloe" in table.stdout


def test_an_unreachable_service_is_one_line_and_status_goes_on(workspace: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    started = time.monotonic()
    proc = status(workspace, args=[], AWS_ENDPOINT_URL=closed)
    assert proc.returncode == 0, proc.stderr
    assert "open uploads on the service: not known (" in proc.stdout and "PARTITION" in proc.stdout
    assert time.monotonic() - started < 60
