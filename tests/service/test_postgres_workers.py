"""The larger set-up: the Prefect server on Debian's PostgreSQL, the deployments in a process work
pool, two workers. Everything is started from the worker unit's own command lines."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import boto3
import httpx
from helpers import invoke

from icefloe.sample import make_sample_partition
from icefloe.service import SERVER_UNIT, WORKER_UNIT
from unit_helpers import free_port, run_step, start, stop, wait_for

# A worker looks for scheduled runs every 10 s by default; the test's one run need not wait that long.
FAST_POLL = {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1"}


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, "Debian's postgresql is missing (scripts/system-deps.sh installs it)"
    return found[-1]


class Postgres:
    """A throwaway cluster in a temp folder, run by an unprivileged user (PostgreSQL refuses root)."""

    def __init__(self) -> None:
        # Its own folder under /tmp: pytest's folders are root's alone, closed to that user.
        folder = Path(tempfile.mkdtemp(prefix="icefloe-pg-"))
        self.folder, self.port = folder, free_port()
        self.data, self.sockets = folder / "data", folder / "sockets"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.as_user = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)

    def run(self, *args: str) -> None:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=120, cwd=self.folder)
        assert done.returncode == 0, done.stdout + done.stderr

    def __enter__(self) -> "Postgres":
        self.sockets.mkdir()
        if self.as_user:
            shutil.chown(self.sockets, "nobody")
        self.run(_pg_bin("initdb"), "-D", str(self.data), "-U", "prefect", "--auth=trust", "-E", "UTF8")
        self.run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "postgres.log"), "-w", "start",
                 "-o", f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1")
        self.run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "prefect", "prefect")
        return self

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://prefect@127.0.0.1:{self.port}/prefect"

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _workspace(folder: Path, bucket: str) -> Path:
    make_sample_partition(folder / "photos-a", size_mib=1, seed=11)
    (folder / "offsite").mkdir()
    config = folder / "icefloe.toml"
    config.write_text(
        'work_dir = "work"\n[[partitions]]\nlabel = "photos-a"\npath = "photos-a"\n'
        '[mirror]\ntarget = "offsite"\n[archive]\ndisc = "none"\nencrypt = false\n'
        f'[coldstore]\nbackend = "s3"\nbucket = "{bucket}"\ncatalog_snapshots = false\n'
    )
    return config


def _install(config: Path, unit_dir: Path, port: int) -> dict[str, str]:
    installed = invoke(None, "-c", str(config), "service", "install", "--worker", "--dir", str(unit_dir),
                       "--port", str(port), "--prefect-home", str(unit_dir / "prefect-home"))
    assert installed.returncode == 0
    return {p.name: p.read_text() for p in unit_dir.glob("*.service")}


def test_archive_partition_completes_through_two_workers_on_postgres(tmp_path, standin):
    boto3.client("s3", endpoint_url=standin.url).create_bucket(Bucket="pg-workers")
    config = _workspace(tmp_path / "site", "pg-workers")
    port = free_port()
    units = _install(config, tmp_path / "units", port)
    api, log = f"http://127.0.0.1:{port}/api", tmp_path / "services.log"
    procs = []
    with Postgres() as db:
        database = {"PREFECT_SERVER_DATABASE_CONNECTION_URL": db.url}  # the EnvironmentFile's line
        procs.append(start(units[SERVER_UNIT], log, database))
        try:
            for step in (0, 2):  # `icefloe service wait`, then serve.py --deploy (notify: none configured)
                done = run_step(units[WORKER_UNIT], "ExecStartPre", step, timeout=300)
                assert done.returncode == 0, done.stdout + done.stderr + log.read_text(errors="replace")[-3000:]
            procs += [start(units[WORKER_UNIT], log, FAST_POLL), start(units[WORKER_UNIT], log, FAST_POLL)]
            workers = wait_for(lambda: _workers(api) >= 2 and _workers(api), 120, "two workers never polled", log)
            deployment = httpx.get(f"{api}/deployments/name/archive-partition/archive-partition", timeout=10).json()
            run = httpx.post(f"{api}/deployments/{deployment['id']}/create_flow_run",
                             json={"parameters": {"label": "photos-a"}}, timeout=10).json()
            state = wait_for(lambda: _final_state(api, run["id"]), 400, "the archive run never finished", log)
        finally:
            for proc in reversed(procs):
                stop(proc)
        assert _backend(db) == "postgresql"
    assert workers >= 2
    assert state == "COMPLETED", log.read_text(errors="replace")[-3000:]
    stored = boto3.client("s3", endpoint_url=standin.url).list_objects_v2(Bucket="pg-workers").get("Contents", [])
    assert stored, "the run completed but nothing reached the bucket"


def _workers(api: str) -> int:
    try:
        return len(httpx.post(f"{api}/work_pools/icefloe/workers/filter", json={}, timeout=10).json())
    except (httpx.HTTPError, TypeError):
        return 0


def _final_state(api: str, run_id: str) -> str | None:
    state = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()["state"]["type"]
    return state if state in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"} else None


def _backend(db: Postgres) -> str:
    """Prefect's tables are in this cluster: the server really used PostgreSQL."""
    done = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(db.port), "-U", "prefect", "-d", "prefect", "-Atc",
                           "select count(*) from flow_run"], capture_output=True, text=True, timeout=30)
    return "postgresql" if done.returncode == 0 and int(done.stdout.strip() or 0) >= 1 else done.stderr
