"""Benchmark: building a disc image with icefloe against xorriso and genisoimage.

    .venv/bin/python bench/iso.py [--quick] [--size-mib N] [--repeat N] [--keep DIR]

Generates a reference folder (about 70% incompressible media-like files, 30% text; 1 GiB, or
256 MiB with --quick), then times, in the same run and on the same warm page cache:

- icefloe ``build_image`` (ISO 9660 + Joliet + Rock Ridge + UDF, SHA-256 of every file and of
  the image computed while writing),
- ``xorriso -as mkisofs -R -J`` (xorriso cannot write UDF),
- ``genisoimage -R -J -udf`` (the closest peer with UDF), when installed.

Each runs in its own process; CPU time and peak RSS come from GNU time (``wait4`` without
it). icefloe also runs on a quarter of the folder and on one sparse file as large as the
folder, to show its memory does not grow with the data (only with the number of files).
Prints a table with time and memory against icefloe. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1024 * 1024
WORDS = ["summer", "holiday", "beach", "grandma", "birthday", "cake", "garden", "snow", "school", "concert", "wedding", "picnic", "mountain", "lake", "bicycle", "puppy", "kitten", "museum", "train", "airport", "market", "festival", "harbour"]

ICEFLOE_BUILD = """
import sys
from pathlib import Path
from icefloe.disc import build_image, plan_tree
build_image(plan_tree(Path(sys.argv[1]), "bd-r-dl"), Path(sys.argv[2]))
"""


def generate(root: Path, total: int, seed: int = 7) -> None:
    """Four sub-folders of equal size, each ~70% random "photos/videos" and ~30% text."""
    rng = random.Random(seed)
    quarter = total // 4
    for q in range(4):
        part = root / f"part{q + 1}"
        (part / "DCIM").mkdir(parents=True)
        (part / "notes").mkdir()
        media_left, text_left, i = int(quarter * 0.7), quarter - int(quarter * 0.7), 0
        while media_left > 0:
            size = min(media_left, rng.randint(2 * MIB, 8 * MIB))
            ext = rng.choice(["jpg", "heic", "mp4", "mov"])
            (part / "DCIM" / f"IMG_{q}{i:05d}.{ext}").write_bytes(os.urandom(size))
            media_left -= size
            i += 1
        while text_left > 0:
            size = min(text_left, rng.randint(20_000, 400_000))
            words = " ".join(rng.choice(WORDS) for _ in range(size // 6 + 1))
            (part / "notes" / f"note-{q}{i:05d}.txt").write_text(words[:size])
            text_left -= size
            i += 1


def warm(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                while handle.read(8 * MIB):
                    pass


def run(cmd: list[str], out: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS bytes) of one child process.

    Peak RSS comes from GNU time when installed: a child forked from this Python process
    would otherwise report this process's own RSS as its peak.
    """
    timer = ["/usr/bin/time", "-f", "maxrss_kib=%M cpu_s=%U+%S"] if os.path.exists("/usr/bin/time") else []
    started = time.perf_counter()
    proc = subprocess.Popen([*timer, *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.stdout.read()  # type: ignore[union-attr]
    stderr = proc.stderr.read()  # type: ignore[union-attr]
    proc.stdout.close()  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed: {stderr.decode(errors='replace')[-2000:]}")
    rss = usage.ru_maxrss * 1024
    cpu = usage.ru_utime + usage.ru_stime
    for line in stderr.decode(errors="replace").splitlines():
        if line.startswith("maxrss_kib="):
            kib, cpus = line.split()
            rss = int(kib.split("=")[1]) * 1024
            cpu = sum(float(x) for x in cpus.split("=")[1].split("+"))
    if out.exists():
        out.unlink()
    return seconds, cpu, rss


def best(repeat: int, cmd: list[str], out: Path) -> tuple[float, float, int]:
    """The fastest of ``repeat`` runs (other load on the machine only slows runs down)."""
    runs = [run(cmd, out) for _ in range(repeat)]
    fastest = min(runs)
    return fastest[0], fastest[1], max(r[2] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB")
    parser.add_argument("--size-mib", type=int, help="data size in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the best counts")
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    args = parser.parse_args()
    size = (args.size_mib or (256 if args.quick else 1024)) * MIB

    work = Path(tempfile.mkdtemp(prefix="icefloe-bench-iso-"))
    data = args.keep or work / "data"
    try:
        if not (data / "part4").is_dir():
            print(f"generating {size // MIB} MiB in {data} ...", file=sys.stderr)
            generate(data, size)
        warm(data)
        out = work / "out.iso"
        py = [sys.executable, "-c", ICEFLOE_BUILD]
        rows = [("icefloe (pycdlib, +UDF, +SHA-256)", size, *best(args.repeat, [*py, str(data), str(out)], out))]
        rows.append(("icefloe on 1/4 of the folder", size // 4,
                     *best(args.repeat, [*py, str(data / "part1"), str(out)], out)))
        sparse = work / "one-file"
        sparse.mkdir(exist_ok=True)
        with open(sparse / "video.mov", "wb") as handle:
            handle.truncate(size)
        rows.append(("icefloe, one sparse file of that size", size,
                     *best(1, [*py, str(sparse), str(out)], out)))
        xorriso = ["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", str(out), str(data)]
        rows.append(("xorriso -as mkisofs -R -J", size, *best(args.repeat, xorriso, out)))
        if shutil.which("genisoimage"):
            gen = ["genisoimage", "-quiet", "-R", "-J", "-udf", "-o", str(out), str(data)]
            rows.append(("genisoimage -R -J -udf", size, *best(args.repeat, gen, out)))
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the data too, unless it lives in --keep

    base = rows[0][2]
    print(f"\nISO build of {size // MIB} MiB, {os.cpu_count()} CPUs, fastest of {args.repeat}; "
          "icefloe fsyncs its image, the others do not\n")
    print(f"| {'tool':38} | {'wall s':>6} | {'CPU s':>6} | {'MB/s':>6} | {'peak RSS MiB':>12} | {'time vs icefloe':>15} |")
    print(f"|{'-' * 40}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 14}|{'-' * 17}|")
    for name, nbytes, wall, cpu, rss in rows:
        print(
            f"| {name:38} | {wall:6.2f} | {cpu:6.2f} | {nbytes / wall / 1e6:6.0f} | "
            f"{rss / MIB:12.1f} | {wall / base:14.2f}x |"
        )


if __name__ == "__main__":
    main()
