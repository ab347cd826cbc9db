"""Uploads survive a flaky service, respect the bandwidth limit, and stay inside the memory bound."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from coldstore_helpers import MIB, PYTHON, cli_env, create_container, retrieve, write_config, write_random

from icefloe.catalog import Catalog
from icefloe.coldstore import open_coldstore
from icefloe.progress import ProgressCounter


class Tally(ProgressCounter):
    def __init__(self) -> None:
        super().__init__(interval=0)
        self.rewinds = 0

    def on_progress(self, nbytes: int) -> None:
        self.rewinds += nbytes < 0
        super().on_progress(nbytes)


def test_ten_percent_of_requests_failing(standin, store, tmp_path: Path) -> None:
    src = tmp_path / "flaky.bin"
    # about 30 requests on each backend (S3 parts are at least 5 MiB)
    data = write_random(src, (26 if store.backend == "glacier" else 61) * MIB + 11)
    standin.set_options(fault_rate=0.1)
    progress = Tally()
    stored = store.upload(src, part_size=MIB, concurrency=4, progress=progress)
    back = retrieve(store, stored, tmp_path / "back.bin")
    counters = standin.counters()
    standin.set_options(fault_rate=0.0)
    assert counters["faults"] >= 2, counters  # the faults did happen, and were retried
    assert back == data
    assert progress.done == len(data)  # bytes of failed attempts were taken back
    assert store.list_uploads() == []


def test_bandwidth_limit(make_store, tmp_path: Path) -> None:
    store = make_store(bandwidth_limit="4M")
    src = tmp_path / "paced.bin"
    write_random(src, 8 * MIB)
    started = time.monotonic()
    store.upload(src, part_size=MIB if store.backend == "glacier" else 8 * MIB, concurrency=4)
    elapsed = time.monotonic() - started
    # 8 MiB at 4 MiB/s, less the first burst, whatever the concurrency.
    assert elapsed >= 1.4, elapsed


# VmHWM, not getrusage: ru_maxrss carries the parent's peak across fork + exec on Linux.
RSS_CLI = (
    "import re, sys\n"
    "from icefloe.cli import main\n"
    "code = 0\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read())[1]\n"
    "print('peak-rss-kib', hwm, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def peak_rss_mib(standin, config: Path, path: Path) -> float:
    run = subprocess.run(
        [PYTHON, "-c", RSS_CLI, "-c", str(config), "upload", str(path), "--part-size", "8",
         "--concurrency", "4", "--json"],
        env=cli_env(standin), capture_output=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    kib = int(re.search(rb"peak-rss-kib (\d+)", run.stderr)[1])
    return kib / 1024


def test_memory_bound_for_a_1_gib_file(standin, coldcfg, tmp_path: Path) -> None:
    """Peak RSS for 1 GiB exceeds the same command's for 1 byte by at most
    concurrency x part size + 64 MiB (4 x 8 MiB + 64 MiB here)."""
    create_container(coldcfg)
    config = write_config(tmp_path, coldcfg)
    small = tmp_path / "one.bin"
    small.write_bytes(b"x")
    big = tmp_path / "gib.bin"
    with open(big, "wb") as f:  # sparse: the upload still reads and hashes every byte
        f.truncate(1024 * MIB)
    base = peak_rss_mib(standin, config, small)
    peak = peak_rss_mib(standin, config, big)
    assert peak - base <= 4 * 8 + 64, (base, peak)
    with Catalog.open(tmp_path / "work" / "catalog.sqlite") as catalog:
        (copy,) = [c for c in catalog.copies() if c.size == 1024 * MIB]
        store = open_coldstore(coldcfg, catalog)
        # Free the stand-in's copy: it is shared by the whole session.
        if coldcfg.backend == "glacier":
            store.client.delete_archive(vaultName=coldcfg.vault, archiveId=copy.remote_id)
        else:
            store.client.delete_object(Bucket=coldcfg.bucket, Key=copy.remote_id)
    os.unlink(big)
    print(f"{coldcfg.backend}: peak RSS {base:.0f} MiB for 1 byte, {peak:.0f} MiB for 1 GiB")


def test_volumes_of_a_set_share_one_budget(standin, make_store, tmp_path: Path) -> None:
    """Four volumes uploading at once, each from its own thread and store as the archive
    flow's tasks do: together they hold at most concurrency x part size of parts, and keep
    to one bandwidth limit."""
    from concurrent.futures import ThreadPoolExecutor

    from icefloe.coldstore.base import S3_MIN_PART
    from icefloe.coldstore.pump import shared_budget

    stores = [make_store(bandwidth_limit="6M", concurrency=2)]
    stores += [open_coldstore(stores[0].cfg, stores[0].catalog) for _ in range(3)]
    part = MIB if stores[0].backend == "glacier" else S3_MIN_PART
    volumes = []
    for i in range(4):
        volumes.append(tmp_path / f"set.7z.{i + 1:03d}")
        write_random(volumes[-1], 3 * part + i + 1, seed=i + 1)  # four parts each
    budget = shared_budget(2, part, 6 * MIB)
    budget.peak = 0
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        stored = list(pool.map(lambda sv: sv[0].upload(sv[1], part_size=MIB), zip(stores, volumes)))
    elapsed = time.monotonic() - started
    assert [s.parts_sent for s in stored] == [4, 4, 4, 4]
    assert 0 < budget.peak <= 2 * part  # not 4 x 2 x part: one budget for the four
    total = sum(v.stat().st_size for v in volumes)
    # one 6 MiB/s limit for all four (less its first quarter-second burst), not 6 MiB/s each
    assert elapsed >= total / (6 * MIB) - 0.5, elapsed
    for s, v in zip(stored, volumes):
        assert retrieve(stores[0], s, tmp_path / f"back-{v.name}") == v.read_bytes()
