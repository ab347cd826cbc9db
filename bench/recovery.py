"""Benchmark: the PAR2 recovery data of a disc, icefloe against par2cmdline run directly.

    .venv/bin/python bench/recovery.py [--quick] [--size-mib N] [--repeat N]

Generates one disc's worth of archive volumes (random bytes, as LZMA2 or AES output looks;
1 GiB, or 256 MiB with --quick), plans a disc just large enough for the data and its minimum
recovery data (``archive.disc_redundancy`` = 10%), then times, interleaved, each repeat:

- icefloe ``with_recovery`` (staging links, ``par2 create``, the exact layout check),
- ``par2 create`` alone with the same block size and block count on the same files, with
  par2's own defaults (as a person would run it), interleaved with icefloe's runs.

Prints seconds per GiB for both and their ratio, and the disc capacity the recovery data
takes: the DVD+R and BD-R volume sizes with and without it. Not a test: numbers depend on
the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from icefloe.disc import plan_discs, volume_size_for  # noqa: E402
from icefloe.disc.assemble import measure  # noqa: E402
from icefloe.disc.capacity import SECTOR  # noqa: E402
from icefloe.disc.recovery import reserve_sectors, with_recovery  # noqa: E402

MIB = 1024 * 1024
GIB = 1024 * MIB


def generate(folder: Path, total: int, volume: int = 64 * MIB) -> list[Path]:
    out, left, i = [], total, 1
    while left > 0:
        path = folder / f"bench.7z.{i:03d}"
        with open(path, "wb") as handle:
            size = min(volume, left)
            while size > 0:
                chunk = os.urandom(min(size, 8 * MIB))
                handle.write(chunk)
                size -= len(chunk)
        out.append(path)
        left -= volume
        i += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--size-mib", type=int)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    total = (args.size_mib or (256 if args.quick else 1024)) * MIB
    print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="icefloe-bench-par2-") as tmp:
        root = Path(tmp)
        (root / "vols").mkdir()
        vols = generate(root / "vols", total)
        # A disc just large enough: every volume, its kit and the minimum recovery data.
        [loose] = plan_discs(vols, "dvd+r", capacity=4 * total, created="2026-12-01")
        need = measure(list(loose.entries), loose.set_name) + reserve_sectors(list(loose.entries), 0.10)
        [plan] = plan_discs(vols, "dvd+r", capacity=need * SECTOR, created="2026-12-01")
        ours, theirs, made = [], [], None
        for _ in range(args.repeat):
            staging = root / "staging"
            shutil.rmtree(staging, ignore_errors=True)
            started = time.perf_counter()
            made = with_recovery(plan, staging, measure)
            ours.append(time.perf_counter() - started)
            rec = [e for e in made.entries if e.path.endswith(".par2")]
            count = int(re.search(r"\+(\d+)\.par2$", rec[-1].path).group(1))
            block = _block(staging / rec[0].path)
            direct = root / "direct"
            shutil.rmtree(direct, ignore_errors=True)
            direct.mkdir()
            started = time.perf_counter()
            subprocess.run(["par2", "create", "-q", "-q", f"-B{root / 'vols'}", f"-s{block}", f"-c{count}", "-n1",
                            str(direct / "x.par2"), *map(str, vols)], check=True)
            theirs.append(time.perf_counter() - started)
        data = sum(v.stat().st_size for v in vols)
        rec_bytes = sum(e.size for e in made.entries if e.path.endswith(".par2"))
        per = data / GIB
        print(f"data {data / MIB:.0f} MiB in {len(vols)} volumes; block {block} bytes, {count} recovery blocks "
              f"({rec_bytes / data:.1%} of the data)")
        print(f"icefloe with_recovery: {min(ours) / per:.1f}-{max(ours) / per:.1f} s/GiB")
        print(f"par2 create directly:  {min(theirs) / per:.1f}-{max(theirs) / per:.1f} s/GiB")
        print(f"ratio (icefloe / par2, best of each): {min(ours) / min(theirs):.2f}x (aim: within 1.2x)")
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for disc in ("dvd+r", "bd-r"):
        bare, kept = volume_size_for(disc, 0, 0), volume_size_for(disc, 0)
        print(f"{disc}: a volume is {kept // MIB} MiB with 10% recovery data, {bare // MIB} MiB without "
              f"({1 - kept / bare:.1%} of the usable data capacity)")


def _block(index: Path) -> int:
    # The PAR2 main packet follows its 64-byte header: the slice size is its first 8 bytes.
    data = index.read_bytes()
    at = data.find(b"PAR 2.0\0Main\0\0\0\0")
    return int.from_bytes(data[at + 16:at + 24], "little")


if __name__ == "__main__":
    main()
