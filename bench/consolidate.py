"""Benchmark: icefloe consolidation beside 7-Zip on the same reference partition, same run.

    .venv/bin/python bench/consolidate.py [--quick] [--size-mib N] [--workdir DIR]

The reference partition (generated once per size and kept in the work folder) is about 70%
incompressible media-like files (random bytes named .jpg, .heic and .mp4) and 30% text-like
files (log and CSV lines drawn from a Zipf vocabulary, ~3x compressible), in nested folders.
Each tool runs as a child process on a warm page cache, writing to the same disk:

- icefloe ``consolidate`` with 2 workers: media stored, text LZMA2, manifest, and its testzip
  of the result (7-Zip's runs below do not test what they wrote);
- ``7zz a`` with its defaults (LZMA2 level 5, 2 threads; unencrypted only, it is slow);
- ``7zz a -mx=1 -mmt=2``, the fast setting, alone and followed by ``7zz t`` (icefloe tests
  what it wrote before it reports success, so that row is the like-for-like one);

each without and with encryption (``-p... -mhe=on``; icefloe AES-256 for data and header).
It prints wall time, CPU time, archive size, peak RSS and the ratios against icefloe. CPU
time is the steadier figure when the machine is shared. Every run is repeated ``--repeat``
times (default 3), interleaved (A B A B A B), and the best of each is kept; the load average
is printed before and after. ``--baseline DIR`` adds a row for another icefloe source tree
(``git archive HEAD icefloe | tar -x -C DIR``), for before/after figures from one run.
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

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
PASSWORD = "correct horse battery staple"
SEED = 20240501


def _text_source(rnd: random.Random) -> list[str]:
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [12, 9, 8, 7, 7, 6, 6, 6, 5, 4, 3, 3, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    vocab = ["".join(rnd.choices(letters, weights, k=rnd.randint(2, 10))) for _ in range(8000)]
    zipf = [1 / (i + 1) for i in range(len(vocab))]
    return [" ".join(rnd.choices(vocab, zipf, k=rnd.randint(5, 16))) for _ in range(50000)]


def _text(rnd: random.Random, sentences: list[str], size: int, csv: bool) -> bytes:
    parts, have = [], 0
    while have < size:
        lines = rnd.choices(sentences, k=1000)
        if csv:
            chunk = "".join(f"{rnd.randint(10**6, 10**7)},{rnd.random():.6f},\"{s}\"\n" for s in lines)
        else:
            chunk = "".join(f"2024-05-{rnd.randint(1, 28):02d} {rnd.randint(10**6, 10**7)} {s}.\n" for s in lines)
        parts.append(chunk)
        have += len(chunk)
    return "".join(parts).encode()[:size]


def generate(root: Path, size_mib: int) -> Path:
    """The reference partition for ``size_mib``; reused when it already exists."""
    part = root / f"partition-{size_mib}mib"
    done = part / ".bench-complete"
    if done.exists():
        return part
    shutil.rmtree(part, ignore_errors=True)
    rnd = random.Random(SEED)
    total = size_mib * MIB
    media_left, text_left = int(total * 0.7), total - int(total * 0.7)
    (part).mkdir(parents=True)
    (part / ".icefloe-partition").write_text("bench\n")
    n = 0
    while media_left > 0:
        kind = rnd.choices(["jpg", "heic", "mp4"], [6, 2, 1])[0]
        size = min(media_left, rnd.randint(20, 60) * MIB if kind == "mp4" else rnd.randint(1 * MIB, 8 * MIB))
        folder = part / "photos" / f"{2015 + n % 9}" / f"{1 + n % 12:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{n:05d}.{kind}").write_bytes(os.urandom(size))
        media_left -= size
        n += 1
    sentences = _text_source(rnd)
    while text_left > 0:
        csv = rnd.random() < 0.4
        size = min(text_left, rnd.randint(16 * 1024, 4 * MIB))
        folder = part / "documents" / f"project-{n % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"notes-{n:05d}.{'csv' if csv else 'txt'}").write_bytes(_text(rnd, sentences, size, csv))
        text_left -= size
        n += 1
    done.write_text("ok\n")
    return part


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*.7z*") if p.is_file())


TIME = shutil.which("time") or "/usr/bin/time"


def run(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (KiB) of one child process and its children.

    The RSS comes from GNU time around the command: the rusage of a child forked from this
    (large) process would count this process's pages too."""
    with tempfile.NamedTemporaryFile("r") as rss_file:
        wrapped = [TIME, "-f", "%M", "-o", rss_file.name, *cmd] if os.path.exists(TIME) else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            sys.exit(f"bench: {cmd[0]} failed ({proc.returncode}): {err.strip()[-2000:]}")
        text = rss_file.read().strip().splitlines()
        rss = int(text[-1]) if text and text[-1].isdigit() else usage.ru_maxrss
    return elapsed, usage.ru_utime + usage.ru_stime, rss


ICEFLOE = """
import sys
from pathlib import Path
if len(sys.argv) > 4:  # --baseline: another icefloe source tree, e.g. a worktree of main
    sys.path.insert(0, sys.argv[4])
from icefloe.archive import consolidate
pw = sys.argv[3] or None
r = consolidate(Path(sys.argv[1]), Path(sys.argv[2]), label="bench", password=pw, workers=2)
print(r.archive_bytes)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--quick", action="store_true", help="128 MiB instead of 1 GiB")
    ap.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--skip-default", action="store_true", help="skip the slow `7zz a` defaults run")
    ap.add_argument("--repeat", type=int, default=3, help="run each N times, interleaved; keep the best time")
    ap.add_argument("--baseline", type=Path, help="also time the icefloe source tree at this path (before/after)")
    args = ap.parse_args()
    size_mib = 128 if args.quick else args.size_mib
    if shutil.which("7zz") is None:
        sys.exit("bench: 7zz is not installed (apt-get install 7zip)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    part = generate(args.workdir, size_mib)
    print(f"reference partition: {part} ({size_mib} MiB, generated/checked in {time.perf_counter() - t0:.1f} s)")
    print(f"machine: {os.cpu_count()} CPUs, load average before the runs {os.getloadavg()[0]:.2f}")
    top = sorted(p.name for p in part.iterdir() if p.name != ".bench-complete")
    # Warm the page cache so every tool reads from memory alike.
    for p in part.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                while fh.read(8 * MIB):
                    pass

    # (name, encrypted, command, output, test command run after it: like-for-like with icefloe)
    runs: list[tuple[str, bool, list[str], Path, list[str] | None]] = []
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="run-") as tmp:
        out = Path(tmp)
        for encrypted in (False, True):
            pw = PASSWORD if encrypted else ""
            runs.append(("icefloe consolidate (2 workers, + testzip)", encrypted,
                         [sys.executable, "-c", ICEFLOE, str(part), str(out / "icefloe"), pw], out / "icefloe", None))
            if args.baseline is not None:
                runs.append((f"icefloe baseline ({args.baseline.name})", encrypted,
                             [sys.executable, "-c", ICEFLOE, str(part), str(out / "icefloe"), pw,
                              str(args.baseline.resolve())], out / "icefloe", None))
            variants = [("7zz a -mx=1 -mmt=2", ["-mx=1", "-mmt=2"])]
            if not encrypted and not args.skip_default:
                variants.append(("7zz a (defaults)", []))
            for name, opts in variants:
                extra = [f"-p{PASSWORD}", "-mhe=on"] if encrypted else []
                target = out / "seven.7z"
                cmd = ["7zz", "a", "-snl", *opts, *extra, str(target), *top]
                runs.append((name, encrypted, cmd, target, None))
                if opts:
                    test = ["7zz", "t", *extra[:1], str(target)]
                    runs.append((name + " + 7zz t", encrypted, cmd, target, test))
        best: dict[tuple[str, bool], tuple[float, float, int, int]] = {}
        # Interleaved repetitions, best time of each: the machine may be shared.
        for _ in range(args.repeat):
            for name, encrypted, cmd, target, test in runs:
                secs, cpu, rss = run(cmd, cwd=part)
                if test is not None:
                    more = run(test, cwd=part)
                    secs, cpu, rss = secs + more[0], cpu + more[1], max(rss, more[2])
                size = _size(target)
                shutil.rmtree(target) if target.is_dir() else target.unlink()
                key = (name, encrypted)
                if key not in best or secs < best[key][0]:
                    best[key] = (secs, cpu, size, max(rss, best.get(key, (0, 0, 0, 0))[3]))
        rows = [(name, enc, *best[(name, enc)]) for name, enc, *_ in runs]

    print()
    heads = ("enc", "time s", "CPU s", "size MiB", "peak RSS MiB", "speedup", "CPU ratio", "size ratio")
    widths = (4, 8, 8, 9, 13, 8, 10, 11)
    print(f"{'run':48s} " + " ".join(f"{h:>{w}s}" for h, w in zip(heads, widths)))
    for name, enc, secs, cpu, size, rss in rows:
        ours = next(r for r in rows if r[0].startswith("icefloe") and r[1] == enc)
        mine = name == ours[0]
        cells = [
            "yes" if enc else "no", f"{secs:.2f}", f"{cpu:.2f}", f"{size / MIB:.1f}", f"{rss / 1024:.0f}",
            "-" if mine else f"{secs / ours[2]:.2f}x", "-" if mine else f"{cpu / ours[3]:.2f}x",
            "-" if mine else f"{ours[4] / size:.3f}",
        ]
        print(f"{name:48s} " + " ".join(f"{c:>{w}s}" for c, w in zip(cells, widths)))
    print(
        "\nspeedup = the run's wall time / icefloe's; CPU ratio = the run's CPU seconds / icefloe's"
        " (user + system, every process and thread); size ratio = icefloe's size / the run's."
        f"\nload average after the runs: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
