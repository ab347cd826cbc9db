"""A season of household use, simulated day by day, with power cuts and faults seeded at random.

Each day new photos land on the active partition, every partition is mirrored, a full one is
rotated away from, archived (``icefloe archive`` as a process, sometimes killed or interrupted
at a chosen stage) and cleared once its gates hold. The checks after each day and at the end
are the routine's promises: one live set per partition, every photo in exactly one confirmed
set or still on its partition, one remote object per archive, no open upload, and nothing in
the work folder that looks complete without being a recorded output.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from helpers import MAIN, create_container, icefloe, sha_hex
from icefloe.catalog import INVENTORY_SEEN, Catalog
from icefloe.coldstore.description import Description, parse_description
from icefloe.config import Settings, load_settings
from icefloe.errors import GateNotMet, IcefloeError
from icefloe.lifecycle import is_abandoned
from icefloe.mirror import run_mirror
from icefloe.partitions import active_partition, partition_fill, rotate
from icefloe.snapshot import is_snapshot_name

LABELS = ("photos-a", "photos-b")
# Days of a season (and of the burned house's): three under CI=true, which still fill, archive
# and clear a partition; five by hand. ICEFLOE_SEASON_DAYS sets either.
SEASON_DAYS = int(os.environ.get("ICEFLOE_SEASON_DAYS") or (3 if os.environ.get("CI", "").lower() == "true" else 5))
KIB = 1024
# Stages a power cut is aimed at, and how each shows from outside the process.
STAGES = ("consolidate", "image", "upload", "complete")
PARTIAL_MARKS = (".part", ".partial")
_NO_NAME = Description(name="", size=0, sha256="0" * 64, created="")


@dataclass
class Outcome:
    """What one archive attempt did, for the season's log."""

    day: int
    label: str
    how: str  # "ran", "killed at <stage>", "interrupted at <stage>", "retried"
    code: int | None
    detail: str = ""


@dataclass
class Season:
    root: Path
    backend: str
    container: str
    standin: Any  # the session's Standin
    api_url: str
    rng: random.Random
    kill_rate: float = 0.5
    fault_rate: float = 0.07
    password: str | None = None  # None: archive.encrypt = false
    log: list[Outcome] = field(default_factory=list)
    photos: dict[str, tuple[str, str]] = field(default_factory=dict)  # rel path -> (label, sha256)
    mtimes: dict[str, int] = field(default_factory=dict)  # rel path -> mtime_ns when added
    counter: int = 0
    retried: bool = False  # the season's one Retry of a failed run, as the UI does it
    retry_outcomes: tuple[bool, bool] | None = None  # (first try failed, the Retry completed)

    # -- set-up ---------------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, backend: str, standin: Any, api_url: str, seed: int,
               password: str | None = None) -> Season:
        container = f"season-{backend}-{seed}".lower()
        where = create_container(standin.url, backend, container)
        for label in LABELS:
            (root / label).mkdir(parents=True)
            (root / label / ".icefloe-partition").write_text(label + "\n")
        (root / "offsite").mkdir()
        parts = "".join(
            f'[[partitions]]\nlabel = "{label}"\npath = "{label}"\ncapacity_gib = 0.003\n' for label in LABELS
        )
        (root / "icefloe.toml").write_text(
            'work_dir = "work"\n' + parts
            + "[pipeline]\nfill_threshold = 0.6\n"
            + '[mirror]\ntarget = "offsite"\n'
            + '[archive]\ndisc = "dvd+r"\nburner = "none"\nvolume_size_mib = 1\n'
            + ("" if password else "encrypt = false\n")
            + f'[coldstore]\nbackend = "{backend}"\n{where}\npart_size_mib = 1\nconcurrency = 2\n'
        )
        return cls(root, backend, container, standin, api_url, random.Random(seed), password=password)

    @property
    def config(self) -> Path:
        return self.root / "icefloe.toml"

    def settings(self) -> Settings:
        return load_settings(self.config, environ={})

    def catalog(self) -> Catalog:
        return Catalog.open(self.settings().catalog_path)

    def env(self) -> dict[str, str]:
        env = {**os.environ, "ICEFLOE_CONFIG": str(self.config), "PREFECT_API_URL": self.api_url,
               "AWS_ENDPOINT_URL": self.standin.url, "COLUMNS": "200"}
        env.pop("ICEFLOE_ARCHIVE_PASSWORD", None)
        if self.password:
            env["ICEFLOE_ARCHIVE_PASSWORD"] = self.password
        return env

    # -- one day --------------------------------------------------------------------------

    def add_photos(self, day: int) -> None:
        with self.catalog() as catalog:
            label = active_partition(catalog, self.settings())
        for _ in range(self.rng.randint(4, 8)):
            self.counter += 1
            rel = f"dcim/day{day:03d}/IMG_{self.counter:05d}.jpg"
            data = self.rng.randbytes(self.rng.randint(60 * KIB, 260 * KIB))
            path = self.root / label / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            moment = 1_500_000_000_000_000_000 + self.counter * 86_400_000_000_123
            os.utime(path, ns=(moment, moment))
            self.photos[rel] = (label, sha_hex(data))
            self.mtimes[rel] = moment

    def mirror_all(self) -> None:
        settings = self.settings()
        with self.catalog() as catalog:
            for label in LABELS:
                run_mirror(settings, label, catalog=catalog, check=False)

    def rotate_if_full(self) -> str | None:
        """The nightly fill check: the full active partition hands over (when it can)."""
        settings = self.settings()
        with self.catalog() as catalog:
            active = active_partition(catalog, settings)
            if partition_fill(settings.partition(active)) < settings.pipeline.fill_threshold:
                return None
            try:
                rotate(catalog, settings, active)
            except GateNotMet:
                pass  # the other one still waits for its clear: keep filling this one
            return active

    def to_archive(self, full: str | None) -> list[str]:
        """Partitions with a set to carry forward, and the one that just filled up."""
        live = self.live_sets()
        waiting = [label for label in LABELS if live[label]]
        return waiting + ([full] if full and full not in waiting else [])

    def icefloe(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return icefloe(*args, cwd=self.root, env=self.env(), drop=("ICEFLOE_ARCHIVE_PASSWORD",), timeout=timeout)

    def archive(self, day: int, label: str) -> None:
        if not self.retried:
            self.retried = True
            self.archive_retried(day, label)
            return
        roll = self.rng.random()
        if roll < self.kill_rate:
            stage = self.rng.choice(STAGES)
            sig = signal.SIGINT if self.rng.random() < 0.3 else signal.SIGKILL
            code, detail = self._archive_until(label, stage, sig)
            how = f"{'interrupted' if sig == signal.SIGINT else 'killed'} at {stage}"
            self.log.append(Outcome(day, label, how, code, detail))
            if self.rng.random() < 0.5:  # someone notices and runs it again at once
                self.archive(day, label)
            return
        self.standin.set_options(fault_rate=self.fault_rate, fault_seed=self.rng.randint(0, 10**6))
        try:
            proc = self.icefloe("archive", label, "--json")
        finally:
            self.standin.set_options(fault_rate=0.0, fault_seed=None)
        self.log.append(Outcome(day, label, "ran", proc.returncode, _last_line(proc.stderr)))

    def archive_retried(self, day: int, label: str) -> None:
        """A deployment run whose upload fails for good, then Retry on the same flow run."""
        from prefect import get_client
        from prefect.deployments import run_deployment
        from prefect.flow_engine import run_flow
        from prefect.states import AwaitingRetry

        from flows.archive import archive_partition
        from icefloe.coldstore.s3 import S3Store
        from icefloe.coldstore.vault import VaultStore

        store = S3Store if self.backend == "s3" else VaultStore
        # A volume no larger than a part goes up in one request, larger ones in parts.
        senders = {"_send_part": store._send_part, "_single": store._single}
        calls = {"n": 0}

        def dies_on_the_second(real):
            def send(this, *args, **kwargs):
                calls["n"] += 1
                if calls["n"] == 2:
                    raise SeasonFault("the line went dead in the middle of the upload")
                return real(this, *args, **kwargs)
            return send

        name = f"season-{self.backend}"
        archive_partition.to_deployment(name=name).apply()
        run = run_deployment(f"archive-partition/{name}", timeout=0,
                             parameters={"label": label, "config": str(self.config)})
        for attr, real in senders.items():
            setattr(store, attr, dies_on_the_second(real))
        try:
            with get_client(sync_client=True) as client:
                first = run_flow(archive_partition, flow_run=client.read_flow_run(run.id), return_type="state")
        finally:
            for attr, real in senders.items():
                setattr(store, attr, real)
        self.log.append(Outcome(day, label, "failed in the upload", 0 if first.is_completed() else 1,
                                first.message or ""))
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run.id, AwaitingRetry(), force=True)
            second = run_flow(archive_partition, flow_run=client.read_flow_run(run.id), return_type="state")
        self.log.append(Outcome(day, label, "retried from the UI", 0 if second.is_completed() else 1,
                                second.message or ""))
        self.retry_outcomes = (first.is_failed(), second.is_completed())

    def _archive_until(self, label: str, stage: str, sig: int) -> tuple[int | None, str]:
        """Start ``icefloe archive``, wait until ``stage`` shows, then send ``sig``."""
        seen = _stage_probe(self, stage)
        proc = subprocess.Popen([sys.executable, "-c", MAIN, "archive", label], cwd=self.root,
                                env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        deadline = time.monotonic() + 300
        hit = False
        while proc.poll() is None and time.monotonic() < deadline:
            if seen():
                hit = True
                break
            time.sleep(0.02)
        if proc.poll() is None:
            # A power cut takes the whole process group; Ctrl-C reaches it too.
            os.killpg(proc.pid, sig)
        try:
            _out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _out, err = proc.communicate()
        if sig == signal.SIGINT and proc.returncode not in (-signal.SIGKILL,):
            _reap_group(proc.pid)
        return proc.returncode, ("" if hit else "stage not reached; ") + _last_line(err.decode(errors="replace"))

    def clear_ready(self) -> None:
        """Clear every partition whose gates hold now (the household's `clear --yes`)."""
        for label in LABELS:
            with self.catalog() as catalog:
                pending = [s for s in catalog.archive_sets(label) if s.cleared_at is None]
            if pending:
                self.icefloe("clear", label, "--yes", "--json")

    def day(self, day: int) -> None:
        self.add_photos(day)
        self.mirror_all()
        full = self.rotate_if_full()
        for label in self.to_archive(full):
            self.archive(day, label)
        self.clear_ready()

    def drain(self, nights: int = 4) -> None:
        """Nights without new photos, no power cuts: everything started must converge."""
        self.kill_rate, self.fault_rate = 0.0, 0.0
        for _ in range(nights):
            self.mirror_all()
            labels = self.to_archive(None)
            if not labels:
                return
            for label in labels:
                self.archive(-1, label)
            self.clear_ready()

    # -- what must hold -------------------------------------------------------------------

    def live_sets(self) -> dict[str, list[str]]:
        """Per partition, its sets neither cleared nor abandoned."""
        with self.catalog() as catalog:
            return {label: [s.name for s in catalog.archive_sets(label)
                            if s.cleared_at is None and not is_abandoned(catalog, s.name)]
                    for label in LABELS}

    def confirmed(self, catalog: Catalog, set_name: str) -> bool:
        archives = catalog.archives(set_name=set_name)
        if not archives:
            return False
        for archive in archives:
            check = catalog.latest_verification(f"archive:{archive.name}", INVENTORY_SEEN)
            if not catalog.copies(archive.name) or check is None or not check.ok:
                return False
        return True

    def photo_problems(self) -> list[str]:
        """Every photo ever added: in exactly one confirmed set, or still on its partition."""
        problems = []
        with self.catalog() as catalog:
            holders: dict[str, list[str]] = {}
            for aset in catalog.archive_sets():
                if is_abandoned(catalog, aset.name):
                    continue
                for entry in catalog.manifest(aset.name):
                    if entry.kind == "file" and entry.path in self.photos:
                        holders.setdefault(entry.path, []).append(aset.name)
            for rel, (label, sha) in sorted(self.photos.items()):
                sets = holders.get(rel, [])
                if len(sets) > 1:
                    problems.append(f"{rel} is in {len(sets)} sets: {sets}")
                on_disk = self.root / label / rel
                if on_disk.exists():
                    if sha_hex(on_disk.read_bytes()) != sha:
                        problems.append(f"{rel} changed on {label}")
                    continue
                if not sets:
                    problems.append(f"{rel} is gone from {label} and in no set")
                elif not self.confirmed(catalog, sets[0]):
                    problems.append(f"{rel} is gone from {label} but set {sets[0]} is not confirmed")
                elif not any(e.path == rel and e.sha256 == sha for e in catalog.manifest(sets[0])):
                    problems.append(f"{rel}: set {sets[0]} holds other bytes")
        return problems

    def remote_problems(self) -> list[str]:
        """One remote object per archive of the catalog, and no multipart upload left open."""
        problems = []
        with self.catalog() as catalog:
            archives = {a.name for a in catalog.archives()}
            copies = [c for c in catalog.copies() if c.deleted_at is None and c.container == self.container]
        remote = self._remote_objects()
        by_archive: dict[str, int] = {}
        for copy in copies:
            by_archive[copy.archive_name] = by_archive.get(copy.archive_name, 0) + 1
        for name in sorted(archives):
            if by_archive.get(name, 0) != 1:
                problems.append(f"archive {name} has {by_archive.get(name, 0)} copies in the catalog")
        recorded = {c.remote_id for c in copies}
        for remote_id in sorted(remote - recorded):
            problems.append(f"remote object {remote_id} is in no catalog copy (a duplicate?)")
        for remote_id in sorted(recorded - remote):
            problems.append(f"catalog copy {remote_id} is not in the {self.backend} container")
        counters = self.standin.counters()
        stored = [(p["upload_id"], p["range"]) for p in counters["vault_parts"]]
        stored += [(p["upload_id"], p["part"]) for p in counters.get("s3_parts", [])]
        twice = sorted({part for part in stored if stored.count(part) > 1})
        if twice:
            problems.append(f"{len(twice)} part(s) the service held were sent again: {twice[:3]}")
        open_uploads = self._open_uploads()
        if open_uploads:
            problems.append(f"{len(open_uploads)} multipart upload(s) left open: {open_uploads[:3]}")
        return problems

    def _remote_objects(self) -> set[str]:
        if self.backend == "s3":
            s3 = boto3.client("s3", endpoint_url=self.standin.url)
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.container)
            return {o["Key"] for page in pages for o in page.get("Contents", [])
                    if not o["Key"].startswith("catalog/")}
        glacier = boto3.client("glacier", endpoint_url=self.standin.url)
        job = glacier.initiate_job(vaultName=self.container,
                                   jobParameters={"Type": "inventory-retrieval", "Format": "JSON"})
        for _ in range(200):
            if glacier.describe_job(vaultName=self.container, jobId=job["jobId"])["Completed"]:
                break
            time.sleep(0.05)
        body = glacier.get_job_output(vaultName=self.container, jobId=job["jobId"])["body"].read()
        return {a["ArchiveId"] for a in json.loads(body)["ArchiveList"]
                if not is_snapshot_name((parse_description(a["ArchiveDescription"]) or _NO_NAME).name)}

    def _open_uploads(self) -> list[str]:
        if self.backend == "s3":
            s3 = boto3.client("s3", endpoint_url=self.standin.url)
            return [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=self.container).get("Uploads", [])]
        glacier = boto3.client("glacier", endpoint_url=self.standin.url)
        return [u["MultipartUploadId"]
                for u in glacier.list_multipart_uploads(vaultName=self.container).get("UploadsList", [])]

    def work_problems(self) -> list[str]:
        """Nothing in work_dir looks complete unless it is an output the catalog records."""
        settings = self.settings()
        work = settings.work_dir
        with self.catalog() as catalog:
            known = {Path(a.path).resolve(): a.sha256 for a in catalog.archives() if a.path}
            known.update({Path(i.path).resolve(): i.sha256 for i in catalog.images() if i.path})
            sets = {s.name: s for s in catalog.archive_sets()}
        problems = []
        for path in sorted(work.rglob("*")):
            if not path.is_file() or any(part.endswith(PARTIAL_MARKS) or ".part" in part
                                         for part in path.relative_to(work).parts):
                continue
            if path.suffix in (".sqlite", ".sqlite-wal", ".sqlite-shm") or "catalog" in path.name:
                continue  # the catalog itself, and its sealed snapshots
            if path.parent.name in ("inventory", "snapshots"):
                continue  # job outputs and snapshots, each written whole by a rename
            resolved = path.resolve()
            if resolved in known:
                if sha_hex(path.read_bytes()) != known[resolved]:
                    problems.append(f"{path.relative_to(work)} differs from its catalog record")
                continue
            if path.name.endswith(".7z") or ".7z." in path.name or path.suffix == ".iso":
                problems.append(f"{path.relative_to(work)} looks complete but no catalog record has it")
            elif path.name.endswith(".manifest.json") and path.name[: -len(".manifest.json")] not in sets:
                problems.append(f"{path.relative_to(work)} is the manifest of a set the catalog lacks")
        return problems


class SeasonFault(IcefloeError):
    """A failure that no retry inside the run gets past (not retryable)."""


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _reap_group(pgid: int) -> None:
    """After Ctrl-C the coders' worker processes must be gone too; give them a moment."""
    for _ in range(100):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.killpg(pgid, signal.SIGKILL)


def _stage_probe(season: Season, stage: str) -> Callable[[], bool]:
    """A cheap check, polled from outside, that the archive run has reached ``stage``."""
    work = season.root / "work"
    start = season.standin.counters()["operations"]

    def ops_grew(*names: str) -> bool:
        now = season.standin.counters()["operations"]
        return any(now.get(n, 0) > start.get(n, 0) for n in names)

    if stage == "consolidate":
        return lambda: work.exists() and any(p.name.endswith(".partial") for p in work.rglob(".*"))
    if stage == "image":
        return lambda: work.exists() and any(p.suffix == ".part" and ".iso" in p.name for p in work.rglob(".*"))
    if stage == "upload":
        return lambda: ops_grew("glacier.UploadMultipartPart", "s3.UploadPart", "s3.PutObject",
                                "glacier.UploadArchive")
    return lambda: ops_grew("glacier.CompleteMultipartUpload", "s3.CompleteMultipartUpload", "s3.PutObject",
                            "glacier.UploadArchive")
