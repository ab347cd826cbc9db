"""Benchmark: building a disc image with icefloe against xorriso and genisoimage.

    .venv/bin/python bench/iso.py [--quick] [--size-mib N] [--repeat N] [--keep DIR] [--baseline DIR]

Generates a reference folder (about 70% incompressible media-like files, 30% text; 1 GiB, or
256 MiB with --quick), then times, in the same run and on the same warm page cache, each
tool ``--repeat`` times interleaved (icefloe, xorriso, genisoimage, icefloe, ...), the best
of each counting:

- icefloe ``plan_tree`` + ``build_image`` (ISO 9660 + Joliet + Rock Ridge + UDF, the image's
  SHA-256 computed while writing, the image fsynced), with the files' SHA-256s known
  beforehand, as an archive set's volumes are from the catalog (the sums are computed before
  the timing starts), and again computing every file's SHA-256 while writing,
- ``xorriso -as mkisofs -R -J`` (xorriso cannot write UDF), then ``sync`` of its image, and
  the same with ``--md5`` (xorriso's own checksums: an MD5 of the session and of every file,
  recorded in the image), its nearest equivalent of icefloe's SHA-256s,
- ``genisoimage -R -J -udf`` (the closest peer with UDF), then ``sync``, when installed.

Interleaved with them, the bounds: one SHA-256 pass over the data (the image's checksum
costs at least that), ``cat`` of every file to /dev/null, and ``cat`` of every file into one
file, then ``sync`` (the copy any writer makes). Every side fsyncs its image, as icefloe
must before the image counts as written. Then the
read-back check: icefloe ``verify_image`` (every file through UDF against its SHA-256)
against ``7zz t -tudf`` (reads every file through UDF) and ``sha256sum`` of the image,
interleaved the same way.

Each runs in its own process; CPU time and peak RSS come from GNU time (``wait4`` without
it). icefloe also runs on a quarter of the folder and on one sparse file as large as the
folder, to show its memory does not grow with the data (only with the number of files).
Prints a table with time and memory against icefloe, the ratios against the peers and the
load average before and after. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
import json, sys
from pathlib import Path
from icefloe.disc import build_image, plan_tree
known = {"checksums": json.loads(Path(sys.argv[3]).read_text())} if len(sys.argv) > 3 else {}
build_image(plan_tree(Path(sys.argv[1]), "bd-r-dl", **known), Path(sys.argv[2]))
"""

ICEFLOE_VERIFY = """
import sys
from icefloe.disc import read_sidecar, verify_image
verify_image(sys.argv[1], read_sidecar(sys.argv[1]).checksums)
"""

# What any image writer of this data pays at least: one SHA-256 pass over the data (the image's
# checksum; hashlib, 4 MiB reads into one buffer), reading every file, and writing them all
# into one file and fsyncing it.
ONE_SHA256_PASS = """
import hashlib, os, sys
sha, buf = hashlib.sha256(), bytearray(4 << 20)
for folder, _, names in sorted(os.walk(sys.argv[1])):
    for name in sorted(names):
        with open(os.path.join(folder, name), "rb", buffering=0) as handle:
            while n := handle.readinto(buf):
                sha.update(memoryview(buf)[:n])
"""
READ_ALL = 'find "$0" -type f -print0 | xargs -0 cat > /dev/null'
COPY_ALL = 'find "$0" -type f -print0 | xargs -0 cat > "$1" && sync "$1"'


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


def checksums(root: Path) -> dict[str, str]:
    """Every file's SHA-256 by its path on the disc, as consolidation records them."""
    sums = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            sha = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(8 * MIB):
                    sha.update(chunk)
            sums[path.relative_to(root).as_posix()] = sha.hexdigest()
    return sums


def run(cmd: list[str], out: Path | None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS bytes) of one child process; removes ``out`` after.

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
    if out is not None:
        for leftover in out.parent.glob(out.name + "*"):
            leftover.unlink()
    return seconds, cpu, rss


def synced(cmd: list[str], out: Path) -> list[str]:
    """``cmd``, then an fsync of its output (coreutils ``sync FILE``), timed as one."""
    return ["sh", "-c", '"$@" && sync "$0"', str(out), *cmd]


def interleaved(repeat: int, cmds: list[tuple[list[str], Path | None]]) -> list[tuple[float, float, int]]:
    """Each command ``repeat`` times, taking turns (A B A B ...); the fastest run of each.

    Other load on the machine only slows runs down, and taking turns spreads it over all.
    """
    runs: list[list[tuple[float, float, int]]] = [[] for _ in cmds]
    for _ in range(repeat):
        for i, (cmd, out) in enumerate(cmds):
            runs[i].append(run(cmd, out))
    return [(*min(r)[:2], max(x[2] for x in r)) for r in runs]


def best(repeat: int, cmd: list[str], out: Path) -> tuple[float, float, int]:
    return interleaved(repeat, [(cmd, out)])[0]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB")
    parser.add_argument("--size-mib", type=int, help="data size in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the best counts")
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    parser.add_argument("--baseline", type=Path,
                        help="also time the icefloe package in this folder (e.g. an older "
                             "`git archive` of icefloe/), interleaved with the others")
    args = parser.parse_args()
    size = (args.size_mib or (256 if args.quick else 1024)) * MIB

    work = Path(tempfile.mkdtemp(prefix="icefloe-bench-iso-"))
    data = args.keep or work / "data"
    try:
        if not (data / "part4").is_dir():
            print(f"generating {size // MIB} MiB in {data} ...", file=sys.stderr)
            generate(data, size)
        sums = work / "sums.json"
        sums.write_text(json.dumps(checksums(data)))  # also warms the page cache
        load_before = load()
        out = work / "out.iso"
        py = [sys.executable, "-c", ICEFLOE_BUILD]
        sides: list[tuple[str, list[str]]] = [
            ("icefloe (+UDF, +image SHA-256)", [*py, str(data), str(out), str(sums)]),
            ("icefloe, + SHA-256 of every file", [*py, str(data), str(out)]),
            ("xorriso -as mkisofs -R -J, sync", synced(
                ["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", str(out), str(data)], out)),
            ("xorriso, + --md5 (image and files)", synced(
                ["xorriso", "-as", "mkisofs", "-quiet", "--md5", "-R", "-J", "-o", str(out), str(data)], out)),
        ]
        if args.baseline:
            sides.insert(2, (f"icefloe from {args.baseline}"[:38], [
                "env", f"PYTHONPATH={args.baseline.resolve()}", *py, str(data), str(out)]))
        if shutil.which("genisoimage"):
            sides.append(("genisoimage -R -J -udf, sync", synced(
                ["genisoimage", "-quiet", "-R", "-J", "-udf", "-o", str(out), str(data)], out)))
        sides += [
            ("bound: one SHA-256 pass (hashlib)", [sys.executable, "-c", ONE_SHA256_PASS, str(data)]),
            ("bound: cat every file > /dev/null", ["sh", "-c", READ_ALL, str(data)]),
            ("bound: cat every file > one, sync", ["sh", "-c", COPY_ALL, str(data), str(out)]),
        ]
        timed = interleaved(args.repeat, [(cmd, out) for _, cmd in sides])
        rows = [(name, size, *t) for (name, _), t in zip(sides, timed, strict=True)]
        rows.insert(2, ("icefloe on 1/4 of the folder", size // 4,
                        *best(args.repeat, [*py, str(data / "part1"), str(out)], out)))
        sparse = work / "one-file"
        sparse.mkdir(exist_ok=True)
        with open(sparse / "video.mov", "wb") as handle:
            handle.truncate(size)
        rows.insert(3, ("icefloe, one sparse file of that size", size,
                        *best(1, [*py, str(sparse), str(out)], out)))
        shutil.rmtree(sparse)
        run([*py, str(data), str(out)], None)  # kept for the read-back check
        checks: list[tuple[str, list[str]]] = [
            ("icefloe verify_image (UDF, SHA-256)", [sys.executable, "-c", ICEFLOE_VERIFY, str(out)]),
            ("7zz t -tudf (reads all through UDF)", ["7zz", "t", "-tudf", str(out)]),
            ("sha256sum of the image", ["sha256sum", str(out)]),
        ]
        if args.baseline:
            checks.insert(1, (f"verify_image from {args.baseline}"[:38], [
                "env", f"PYTHONPATH={args.baseline.resolve()}", sys.executable, "-c",
                ICEFLOE_VERIFY, str(out)]))
        verify = interleaved(args.repeat, [(cmd, None) for _, cmd in checks])
        load_after = load()
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the data too, unless it lives in --keep

    base, base_cpu = rows[0][2], rows[0][3]
    print(f"\nISO build of {size // MIB} MiB, {os.cpu_count()} CPUs, fastest of {args.repeat} "
          "interleaved; every tool fsyncs its image\n")
    print(f"| {'tool':38} | {'wall s':>6} | {'CPU s':>6} | {'MB/s':>6} | {'peak RSS MiB':>12} | {'time vs icefloe':>15} |")
    print(f"|{'-' * 40}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 14}|{'-' * 17}|")
    for name, nbytes, wall, cpu, rss in rows:
        print(
            f"| {name:38} | {wall:6.2f} | {cpu:6.2f} | {nbytes / wall / 1e6:6.0f} | "
            f"{rss / MIB:12.1f} | {wall / base:14.2f}x |"
        )
    for (name, _), (wall, cpu, rss) in zip(checks, verify, strict=True):
        print(
            f"| {name:38} | {wall:6.2f} | {cpu:6.2f} | {size / wall / 1e6:6.0f} | "
            f"{rss / MIB:12.1f} | {wall / verify[0][0]:14.2f}x |"
        )
    print()
    for name, _, wall, cpu, _ in rows[1:]:
        if name.startswith(("icefloe on", "icefloe, one", "bound:")):
            continue
        print(f"icefloe builds {wall / base:.2f}x as fast as {name} (by CPU time: {cpu / base_cpu:.2f}x)")
    for (name, _), (wall, _, _) in zip(checks[1:], verify[1:], strict=True):
        print(f"icefloe verifies {wall / verify[0][0]:.2f}x as fast as {name}")
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_after}")


if __name__ == "__main__":
    main()
