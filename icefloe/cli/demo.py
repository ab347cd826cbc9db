"""`icefloe demo`: the whole routine on a sample partition, against the local stand-in."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Literal

import typer

from icefloe.cli.app import app, info
from icefloe.cli.flowrun import run_flow
from icefloe.cli.helptext import SET_UP
from icefloe.errors import IcefloeError, UsageError
from icefloe.units import size

DEMO_MARKER = ".icefloe-demo"

DEMO_TOML = """\
# Written by `icefloe demo`: a sample routine against the local stand-in.
work_dir = "work"

[[partitions]]
label = "photos-a"
path = "partitions/photos-a"
[[partitions]]
label = "photos-b"
path = "partitions/photos-b"

[mirror]
target = "offsite-mirror"        # a local folder stands in for the offsite server

[archive]
password_env = "ICEFLOE_ARCHIVE_PASSWORD"
disc = "dvd+r"
burner = "stdio:burned-disc.img"  # burn into a file and read it back

[coldstore]
backend = "{backend}"
bucket = "family-archive"
vault = "family-archive"
part_size_mib = 8
concurrency = 4
"""


def _fresh_demo_dir(directory: Path) -> Path:
    directory = directory.resolve()
    if directory.exists():
        if not (directory / DEMO_MARKER).exists() and any(directory.iterdir()):
            raise UsageError(f"{directory} exists and is not a demo folder; choose another --dir")
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / DEMO_MARKER).write_text("made by icefloe demo; safe to delete\n")
    return directory


@app.command(rich_help_panel=SET_UP)
def demo(
    directory: Path = typer.Option(Path("demo-work"), "--dir", help="Folder for everything the demo makes (replaced)."),
    backend: Literal["s3", "glacier"] = typer.Option(
        "s3", "--backend", help="S3 Deep Archive, or the Glacier vault API."),
    size_mib: int = typer.Option(24, "--size-mib", min=1, max=4096, help="Size of the sample partition."),
    ui: bool = typer.Option(False, "--ui", help="Afterwards, serve the Prefect UI on 127.0.0.1:4200 until Ctrl-C."),
) -> None:
    """Run the whole routine on a sample partition, with no AWS account.

    Starts the local AWS stand-in and a local Prefect, makes a sample partition, mirrors it,
    runs the archive pipeline (consolidate, disc images, burn into a file, upload, inventory,
    reconcile), clears the partition behind its gates, and prints the catalog.
    """
    from icefloe.sample import make_sample_partition

    root = _fresh_demo_dir(directory)
    config = root / "icefloe.toml"
    config.write_text(DEMO_TOML.format(backend=backend))
    make_sample_partition(root / "partitions" / "photos-a", size_mib)
    (root / "partitions" / "photos-b").mkdir(parents=True)
    (root / "partitions" / "photos-b" / ".icefloe-partition").write_text("photos-b\n")
    (root / "offsite-mirror").mkdir()

    # The demo process talks only to its own stand-in, with throwaway credentials.
    os.environ.update(
        {
            "ICEFLOE_CONFIG": str(config),
            "ICEFLOE_ARCHIVE_PASSWORD": "demo-password",
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    if not os.environ.get("PREFECT_API_URL"):
        os.environ["PREFECT_HOME"] = str(root / "prefect")

    from icefloe.cli.app import standin_package

    kit = standin_package()
    options = kit.StandinOptions(job_delay_s=2.0, inventory_lag_s=0.0, storage_dir=root / "standin")
    with kit.Standin(port=0, options=options) as standin:
        os.environ["AWS_ENDPOINT_URL"] = standin.url
        info(f"stand-in: {standin.url}; sample partition: {size_mib} MiB in {root / 'partitions/photos-a'}")
        _create_container(backend)
        _run_routine(config, backend)
    _show_catalog(config)
    home = os.environ.get("PREFECT_HOME")
    info("")
    info(f"Everything is in {root}. The catalog: icefloe -c {config} catalog")
    if home:
        info(f"The runs, stages and artifacts in the Prefect UI: PREFECT_HOME={home} "
             f".venv/bin/prefect server start, then open http://127.0.0.1:4200 (or rerun with --ui)")
    if ui and home:
        import subprocess

        info("serving the Prefect UI on http://127.0.0.1:4200 — Ctrl-C to stop")
        subprocess.run(["prefect", "server", "start", "--host", "127.0.0.1", "--port", "4200"], check=False)


def _create_container(backend: str) -> None:
    import boto3

    if backend == "s3":
        boto3.client("s3").create_bucket(Bucket="family-archive")
    else:
        boto3.client("glacier").create_vault(vaultName="family-archive")


def _run_routine(config: Path, backend: str) -> None:
    from flows.archive import archive_partition
    from flows.clear import clear_partition_flow
    from flows.inventory import poll_inventory, unconfirmed_copies
    from flows.mirror import mirror_partitions

    cfg = str(config)
    info("1/4 nightly mirror")
    run_flow(mirror_partitions, labels=["photos-a"], config=cfg)
    info("2/4 archive photos-a: consolidate, disc images, burn, upload, inventory")
    result = run_flow(archive_partition, label="photos-a", config=cfg)
    info(f"    set {result.set_name}: {len(result.volumes)} archive(s), {len(result.images)} disc image(s)")
    info("3/4 poll the inventory until every copy is confirmed")
    deadline = time.monotonic() + 120
    while unconfirmed_copies(cfg):
        if time.monotonic() > deadline:
            raise IcefloeError("the stand-in's inventory did not confirm the uploads within 2 minutes")
        run_flow(poll_inventory, config=cfg)
        time.sleep(1)
    info("4/4 clear photos-a behind its gates; photos-b becomes active")
    cleared = run_flow(clear_partition_flow, label="photos-a", confirm=True, config=cfg)
    info(f"    cleared {cleared.summary.files} files; active partition: {cleared.active}")


def _show_catalog(config: Path) -> None:
    from icefloe.catalog import Catalog
    from icefloe.config import load_settings

    settings = load_settings(config, {})
    with Catalog.open(settings.catalog_path) as catalog:
        for row in catalog.report():
            checks = ", ".join(k for k, ok in row["checks"].items() if ok)
            info(f"  {row['archive']}: {size(row['size'])} -> {' '.join(row['copies'])} [{checks}]")
