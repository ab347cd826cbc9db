"""Benchmark: a partition through the whole archive pipeline, with and without Prefect.

In one run, on the same generated partition (70% photo-like, 30% text) against the local
stand-in: (a) the library calls the tasks make, called directly, stage by stage; (b) the
archive_partition flow on one temporary Prefect server. The two take turns ``--repeat``
times (default 3), each round on a fresh work_dir, bucket and mirror, and the best of each
counts. Prints each stage's time, the orchestration overhead (aim: under 5%) and its spread
over the rounds, the load average before and after, the peak memory of icefloe's processes
(this one and its workers) and, apart, of the Prefect server and of the stand-in (which
stands for AWS and runs as its own process), and the work_dir space the run needed against
the partition's size.

    .venv/bin/python bench/pipeline.py                  # 1 GiB
    .venv/bin/python bench/pipeline.py --size-mib 4096  # the 4 GiB partition of the routine
    .venv/bin/python bench/pipeline.py --quick          # 128 MiB, 2 rounds
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="icefloe-bench-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}.items():
    os.environ[key] = value

CONFIG = """\
work_dir = "work-{tag}"
[[partitions]]
label = "photos-a"
path = "photos-a"
[mirror]
target = "mirror-{tag}"
[archive]
disc = "dvd+r"
burner = "none"
encrypt = false
[coldstore]
backend = "s3"
bucket = "bench-{tag}"
part_size_mib = 32
concurrency = 8
"""


def setup(base: Path, tag: str) -> Path:
    import boto3

    (base / f"mirror-{tag}").mkdir()
    config = base / f"icefloe-{tag}.toml"
    config.write_text(CONFIG.format(tag=tag))
    boto3.client("s3").create_bucket(Bucket=f"bench-{tag}")
    return config


def direct(config: Path) -> dict[str, float]:
    """The same library calls the tasks make, without Prefect: the flow's byte-for-byte
    mirror and its catalog snapshot included."""
    from icefloe.archive import consolidate, record_consolidation, test_archive, volume_plan
    from icefloe.catalog import Catalog
    from icefloe.coldstore import open_coldstore, parse_inventory, reconcile
    from icefloe.coldstore.snapshots import backup_catalog
    from icefloe.config import load_settings
    from icefloe.disc.records import build_set_images, verify_recorded_image
    from icefloe.mirror import run_mirror

    times: dict[str, float] = {}
    settings = load_settings(config, {})
    part = settings.partition("photos-a")
    with Catalog.open(settings.catalog_path) as catalog:
        t = time.perf_counter()
        volume_size, capacity = volume_plan(settings.archive)
        result = consolidate(part.path, settings.work_dir / "archives", label="photos-a",
                             volume_size=volume_size, disc_capacity=capacity, workers=settings.archive.workers)
        record_consolidation(catalog, result)
        times["consolidate"] = time.perf_counter() - t
        t = time.perf_counter()
        test_archive([v.path for v in result.volumes], None, workers=settings.archive.workers)
        times["testzip"] = time.perf_counter() - t
        t = time.perf_counter()
        images = build_set_images(catalog, result.set_name, settings.archive.disc, settings.work_dir / "discs")
        times["disc images"] = time.perf_counter() - t
        t = time.perf_counter()
        for image in images:
            verify_recorded_image(catalog, image.path)
        times["verify images"] = time.perf_counter() - t
        t = time.perf_counter()
        store = open_coldstore(settings.coldstore, catalog)
        for volume in result.volumes:
            store.upload(volume.path, partition="photos-a")
        times["upload"] = time.perf_counter() - t
        t = time.perf_counter()
        run_mirror(settings, "photos-a", catalog=catalog, check=False, checksum=True)
        times["mirror"] = time.perf_counter() - t
        t = time.perf_counter()
        job = store.request_inventory()
        fetched = store.fetch_job_output(job.job_id, settings.work_dir / "inventory.json")
        reconcile(parse_inventory(Path(fetched.path)), catalog)
        times["inventory"] = time.perf_counter() - t
        t = time.perf_counter()
        backup_catalog(settings, catalog, None)
        times["catalog snapshot"] = time.perf_counter() - t
    return times


def with_prefect(config: Path) -> tuple[float, list[tuple[str, float, float]]]:
    """The flow's wall time, and each of its task runs as (name, start, seconds), the start
    counted from the flow run's, as the Prefect server recorded them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.archive import archive_partition

    t = time.perf_counter()
    state = archive_partition(label="photos-a", config=str(config), return_state=True)
    elapsed = time.perf_counter() - t
    if not state.is_completed():
        raise SystemExit(f"flow run failed: {state.message}")
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run_id)
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    origin = flow_run.start_time
    tasks = sorted((r.name, (r.start_time - origin).total_seconds(), (r.end_time - r.start_time).total_seconds())
                   for r in runs if r.start_time and r.end_time)
    return elapsed, sorted(tasks, key=lambda task: task[1])


def covered(tasks: list[tuple[str, float, float]]) -> float:
    """Seconds of the flow run that at least one task run covers (concurrent ones once)."""
    total, reach = 0.0, float("-inf")
    for _, start, seconds in sorted(tasks, key=lambda task: task[1]):
        end = start + seconds
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def peak_rss_mib() -> float:
    """The largest resident set of this process and of any worker process it waited for."""
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(me, children) / 1024


def servers_peak_mib() -> dict[str, float]:
    """The peak resident set (VmHWM) of each process this one started and still runs: the
    stand-in and Prefect's server, read before they stop."""
    peaks: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        try:
            status = (proc / "status").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() != str(os.getpid()) or "VmHWM" not in fields:
            continue
        name = "stand-in" if "standin" in cmdline else "Prefect server" if "prefect" in cmdline else cmdline[:40]
        peaks[name] = max(peaks.get(name, 0.0), int(fields["VmHWM"].split()[0]) / 1024)
    return peaks


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="128 MiB, 2 rounds")
    parser.add_argument("--repeat", type=int)
    args = parser.parse_args()
    size = 128 if args.quick else args.size_mib
    rounds = args.repeat or (2 if args.quick else 3)

    from prefect.testing.utilities import prefect_test_harness

    from flows.archive import archive_partition
    from icefloe.sample import make_sample_partition
    from measure import standin

    base = Path(tempfile.mkdtemp(prefix="icefloe-bench-pipeline-"))
    print(f"load before: {load()}")
    try:
        make_sample_partition(base / "photos-a", size)
        partition = tree_bytes(base / "photos-a")
        stages: list[dict[str, float]] = []
        direct_totals: list[float] = []
        flow_totals: list[float] = []
        flow_tasks: list[list[tuple[str, float, float]]] = []
        work_peak = 0
        with standin(base, latency_ms=0, cap_mib=0), prefect_test_harness(server_startup_timeout=180):
            archive_partition(label="photos-a", config=str(setup(base, "warm")), dry_run=True)  # imports, server
            for turn in range(rounds):
                # Each run starts with no dirty pages, so neither pays for the other's writeback.
                os.sync()
                t = time.perf_counter()
                stages.append(direct(setup(base, f"direct{turn}")))
                direct_totals.append(time.perf_counter() - t)
                os.sync()
                elapsed, tasks = with_prefect(setup(base, f"flow{turn}"))
                flow_totals.append(elapsed)
                flow_tasks.append(tasks)
                work_peak = max(work_peak, tree_bytes(base / f"work-flow{turn}"))
                for tag in (f"direct{turn}", f"flow{turn}"):  # bounded disk use, round after round
                    shutil.rmtree(base / f"work-{tag}", ignore_errors=True)
                    shutil.rmtree(base / f"mirror-{tag}", ignore_errors=True)
            ours, servers = peak_rss_mib(), servers_peak_mib()
        best = min(range(rounds), key=lambda i: direct_totals[i])
        overheads = [100 * (f / d - 1) for f, d in zip(flow_totals, direct_totals)]
        print(f"\nicefloe pipeline benchmark: {size} MiB partition, s3 backend, stand-in on loopback, "
              f"{rounds} interleaved rounds\n")
        print(f"{'stage':<16}{'seconds':>10}   (the fastest direct round)")
        for stage, seconds in stages[best].items():
            print(f"{stage:<16}{seconds:>10.2f}")
        print(f"{'total (direct)':<16}{min(direct_totals):>10.2f}   rounds: "
              + " ".join(f"{x:.1f}" for x in direct_totals))
        print(f"{'total (Prefect)':<16}{min(flow_totals):>10.2f}   rounds: "
              + " ".join(f"{x:.1f}" for x in flow_totals))
        # Prefect's own time: the flow run's wall time that no task run covers (start-up,
        # submitting, waiting on futures, the end). The stage work inside the tasks is the same
        # library calls as the direct side's, so this share does not swing with the machine.
        outside = [total - covered(tasks) for total, tasks in zip(flow_totals, flow_tasks)]
        fastest = min(range(rounds), key=lambda i: flow_totals[i])
        print(f"\nthe fastest flow run's tasks (start after the flow run's, seconds):")
        for name, start, seconds in flow_tasks[fastest]:
            print(f"  {name[:44]:<44}{start:>8.2f}{seconds:>9.2f}")
        print(f"\norchestration overhead, best against best: {100 * (min(flow_totals) / min(direct_totals) - 1):+.1f}%"
              f"  (aim: under 5%); per round: " + " ".join(f"{x:+.1f}%" for x in overheads))
        print("time of the flow runs outside any task run: "
              + " ".join(f"{x:.2f} s ({100 * x / t:.2f}%)" for x, t in zip(outside, flow_totals)))
        print(f"peak memory: icefloe (this process and its workers) {ours:.0f} MiB; "
              + "; ".join(f"{name} {mib:.0f} MiB" for name, mib in sorted(servers.items())))
        print(f"work_dir after the flow run: {work_peak / 2**20:.0f} MiB = {work_peak / partition:.2f}x the "
              f"partition ({partition / 2**20:.0f} MiB): archives, disc images, PAR2 data, catalog")
        print(f"load after: {load()}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
