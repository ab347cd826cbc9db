"""Benchmark: a partition through the whole archive pipeline, with and without Prefect.

In one run, on the same generated partition (70% photo-like, 30% text) against the local
stand-in: (a) the library calls the tasks make, called directly, stage by stage; (b) the
archive_partition flow on a temporary Prefect server. Prints each stage's time and the
orchestration overhead as a ratio (aim: under 10%).

    .venv/bin/python bench/pipeline.py            # 1 GiB
    .venv/bin/python bench/pipeline.py --quick    # 128 MiB
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
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
    """The same library calls the tasks make, without Prefect."""
    from icefloe.archive import consolidate, record_consolidation, test_archive, volume_plan
    from icefloe.catalog import Catalog
    from icefloe.coldstore import open_coldstore, parse_inventory, reconcile
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
        run_mirror(settings, "photos-a", catalog=catalog)
        times["mirror"] = time.perf_counter() - t
        t = time.perf_counter()
        job = store.request_inventory()
        fetched = store.fetch_job_output(job.job_id, settings.work_dir / "inventory.json")
        reconcile(parse_inventory(Path(fetched.path)), catalog)
        times["inventory"] = time.perf_counter() - t
    return times


def with_prefect(config: Path) -> float:
    from prefect.testing.utilities import prefect_test_harness

    from flows.archive import archive_partition

    with prefect_test_harness(server_startup_timeout=120):
        archive_partition(label="photos-a", config=str(config), dry_run=True)  # warm-up: imports, server
        os.sync()
        t = time.perf_counter()
        state = archive_partition(label="photos-a", config=str(config), return_state=True)
        elapsed = time.perf_counter() - t
        if not state.is_completed():
            raise SystemExit(f"flow run failed: {state.message}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="128 MiB")
    args = parser.parse_args()
    size = 128 if args.quick else args.size_mib

    from icefloe.sample import make_sample_partition
    from icefloe_standin import Standin, StandinOptions

    base = Path(tempfile.mkdtemp(prefix="icefloe-bench-pipeline-"))
    try:
        make_sample_partition(base / "photos-a", size)
        with Standin(port=0, options=StandinOptions(storage_dir=base / "standin")) as standin:
            os.environ["AWS_ENDPOINT_URL"] = standin.url
            # Each run starts with no dirty pages, so neither pays for the other's writeback.
            os.sync()
            t = time.perf_counter()
            stages = direct(setup(base, "direct"))
            direct_total = time.perf_counter() - t
            flow_total = with_prefect(setup(base, "flow"))
        print(f"\nicefloe pipeline benchmark: {size} MiB partition, s3 backend, stand-in on loopback\n")
        print(f"{'stage':<16}{'seconds':>10}")
        for stage, seconds in stages.items():
            print(f"{stage:<16}{seconds:>10.2f}")
        print(f"{'total (direct)':<16}{direct_total:>10.2f}")
        print(f"{'total (Prefect)':<16}{flow_total:>10.2f}")
        print(f"\norchestration overhead: {100 * (flow_total / direct_total - 1):+.1f}%  (aim: under 10%)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
