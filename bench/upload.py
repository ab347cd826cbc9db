"""Benchmark: cold-storage uploads, icefloe's two backends against boto3 and awscli.

    .venv/bin/python bench/upload.py [--quick] [--size-mib N] [--latency-ms 50] [--cap-mib 16]
        [--rounds 3] [--only glacier|s3] [--conc N ...] [--parts MIB ...]

Starts its own stand-in process with ``--latency-ms`` added to every request and each
request's body capped at ``--cap-mib`` MiB/s (one connection's share of an uplink), makes a
random file, then measures, each in its own process under GNU time:

- icefloe ``upload`` for concurrency 1, 2, 4, 8, 16 at part sizes 8 and 32 MiB, on the vault
  and on S3 (DEEP_ARCHIVE). The file's SHA-256 and tree hash are in the catalog, as they are
  for archives icefloe made; one run per backend without them shows the extra hashing pass;
- one plain SHA-256 pass over the same file (the CPU yardstick);
- boto3 ``upload_archive``: the whole file in one request (vault);
- ``aws s3 cp --storage-class DEEP_ARCHIVE --checksum-algorithm SHA256`` (awscli from PyPI),
  set to the same part size and concurrency as the icefloe run it is compared with, and once
  with awscli's defaults (CRC32 checksums, 10 threads);
- a set of 4 volumes uploaded at once from one process (one thread and store per volume, as
  the archive flow's tasks do), against 1 volume the same way: the peak RSS of both, and the
  memory bound they share (concurrency x part size).

Each setting runs ``--rounds`` times (3), the rounds one after another, so every pair of
sides alternates (A B A B A B; each icefloe S3 run is followed by awscli at the same
concurrency), and the best run of each counts: the machine is shared. The load average before
and after is printed with the ratios. ``--only``, ``--conc`` and ``--parts`` narrow the settings.

CPU seconds per GiB and MiB/s are net of the same command uploading a 1-byte file
(interpreter start, imports). Peak RSS is GNU time's maximum resident set size. The stand-in runs on the same
machine and uses CPU too. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from measure import MIB, Run, measure, standin  # noqa: E402  (bench/measure.py)

PYTHON = sys.executable
AWS = str(Path(PYTHON).with_name("aws"))
GIB = 1024 * MIB

ICEFLOE = "import sys\nfrom icefloe.cli import main\nmain(sys.argv[1:])"
SHA_PASS = (
    "import hashlib, sys\n"
    "h = hashlib.sha256()\n"
    "with open(sys.argv[1], 'rb', buffering=0) as f:\n"
    "    for block in iter(lambda: f.read(8 << 20), b''):\n"
    "        h.update(block)\n"
    "print(h.hexdigest())\n"
)
VOLUME_SET = (
    "import sys\n"
    "from concurrent.futures import ThreadPoolExecutor\n"
    "from pathlib import Path\n"
    "from icefloe.catalog import Catalog\n"
    "from icefloe.coldstore import open_coldstore\n"
    "from icefloe.config import load_settings\n"
    "settings = load_settings(Path(sys.argv[1]), {})\n"
    "files = [Path(f) for f in sys.argv[2:]]\n"
    "with Catalog.open(settings.catalog_path) as catalog:\n"
    "    stores = [open_coldstore(settings.coldstore, catalog) for _ in files]\n"
    "    with ThreadPoolExecutor(len(files)) as pool:\n"
    "        for stored in pool.map(lambda sf: sf[0].upload(sf[1]), zip(stores, files)):\n"
    "            print(stored.remote_id)\n"
)
BOTO3_ARCHIVE = (
    "import boto3, sys\n"
    "client = boto3.client('glacier', region_name='us-east-1')\n"
    "with open(sys.argv[2], 'rb') as f:\n"
    "    print(client.upload_archive(vaultName=sys.argv[1], body=f)['archiveId'])\n"
)


class Bench:
    def __init__(self, work: Path, env: dict) -> None:
        self.work, self.env, self.count = work, env, 0

    def _config(self, backend: str, extra: str = "") -> tuple[Path, Path]:
        """A fresh icefloe.toml and catalog path for the next run."""
        self.count += 1
        config = self.work / f"icefloe-{self.count}.toml"
        catalog_path = self.work / f"catalog-{self.count}.sqlite"
        config.write_text(
            f'work_dir = "{self.work}"\ncatalog = "{catalog_path}"\n[coldstore]\n'
            f'backend = "{backend}"\nvault = "bench"\nbucket = "bench"\n'
            f'storage_class = "DEEP_ARCHIVE"\n{extra}'
        )
        return config, catalog_path

    def icefloe(self, backend: str, src: Path, part: int, conc: int, *, known: tuple | None) -> Run:
        """One icefloe upload with a fresh catalog; ``known`` (tree hash, SHA-256) seeds the
        catalog's archive record as the archive stage would."""
        from icefloe.catalog import ArchiveRecord, Catalog

        config, catalog_path = self._config(backend)
        name = f"bench-{self.count}"
        if known:
            with Catalog.open(catalog_path) as catalog:
                catalog.put_archive(ArchiveRecord(name, "bench", "bench", src.stat().st_size, known[1],
                                                  path=str(src.resolve()), tree_hash=known[0]))
        cmd = [PYTHON, "-c", ICEFLOE, "-c", str(config), "upload", str(src), "--name", name,
               "--part-size", str(part), "--concurrency", str(conc), "--json"]
        run = measure(f"icefloe {backend} {part} MiB x{conc}", cmd, self.env, src.stat().st_size)
        self._cleanup(backend, catalog_path)
        return run

    def volume_set(self, backend: str, files: list[Path], part: int, conc: int) -> Run:
        """Upload ``files`` at once from one process, each archive already in the catalog."""
        from icefloe.catalog import ArchiveRecord, Catalog
        from icefloe.treehash import file_tree_hash

        config, catalog_path = self._config(backend, f"part_size_mib = {part}\nconcurrency = {conc}\n")
        with Catalog.open(catalog_path) as catalog:
            for i, path in enumerate(files):
                tree, sha = file_tree_hash(path)
                catalog.put_archive(ArchiveRecord(f"set-{self.count}.7z.{i + 1:03d}", "bench", "bench",
                                                  path.stat().st_size, sha, volume=i + 1,
                                                  volumes=len(files), path=str(path.resolve()),
                                                  tree_hash=tree))
        cmd = [PYTHON, "-c", VOLUME_SET, str(config), *map(str, files)]
        size = sum(p.stat().st_size for p in files)
        run = measure(f"icefloe {backend} {len(files)} volumes {part} MiB x{conc}", cmd, self.env, size)
        self._cleanup(backend, catalog_path)
        return run

    def _cleanup(self, backend: str, catalog_path: Path) -> None:
        """The stand-in keeps what it stores: delete it, so memory and disk stay flat."""
        import boto3

        from icefloe.catalog import Catalog

        with Catalog.open(catalog_path) as catalog:
            copies = catalog.copies()
        for copy in copies:
            if backend == "glacier":
                boto3.client("glacier", region_name="us-east-1").delete_archive(
                    vaultName="bench", archiveId=copy.remote_id)
            else:
                boto3.client("s3", region_name="us-east-1").delete_object(Bucket="bench", Key=copy.remote_id)


def awscli_config(work: Path, part: int, conc: int) -> Path:
    path = work / f"aws-{part}-{conc}.cfg"
    path.write_text(
        "[default]\nregion = us-east-1\ns3 =\n"
        f"    multipart_chunksize = {part}MB\n    multipart_threshold = {part}MB\n"
        f"    max_concurrent_requests = {conc}\n"
    )
    return path


def awscli(src: Path, part: int, conc: int, env: dict, work: Path, n: int, sha256: bool = True) -> Run:
    """``aws s3 cp``; with ``sha256`` it sends the SHA-256 part checksums icefloe sends (and
    the stand-in verifies), else awscli's default CRC32."""
    env = dict(env, AWS_CONFIG_FILE=str(awscli_config(work, part, conc)))
    key = f"s3://bench/awscli/{n}"
    cmd = [AWS, "s3", "cp", str(src), key, "--storage-class", "DEEP_ARCHIVE", "--only-show-errors"]
    if sha256:
        cmd += ["--checksum-algorithm", "SHA256"]
    run = measure(f"aws s3 cp {part} MiB x{conc}", cmd, env, src.stat().st_size)
    subprocess.run([AWS, "s3", "rm", key, "--only-show-errors"], env=env, check=True)
    return run


def net_cpu_per_gib(run: Run, base: Run) -> float:
    return max(run.cpu - base.cpu, 0.0) / (run.size / GIB) if run.size > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, fewer settings (a minute or two)")
    parser.add_argument("--size-mib", type=int, default=None, help="file size (default 512, quick 64)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--cap-mib", type=float, default=16.0, help="per-request bandwidth cap, MiB/s")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setting, interleaved")
    parser.add_argument("--only", choices=["glacier", "s3"], help="one backend (no volume sets)")
    parser.add_argument("--conc", type=int, nargs="+", help="these concurrencies only")
    parser.add_argument("--parts", type=int, nargs="+", help="these part sizes (MiB) only")
    args = parser.parse_args()
    size = (args.size_mib or (64 if args.quick else 512)) * MIB
    concurrencies = args.conc or ([1, 4, 16] if args.quick else [1, 2, 4, 8, 16])
    parts = args.parts or ([8] if args.quick else [8, 32])

    work = Path(tempfile.mkdtemp(prefix="icefloe-bench-upload-"))
    try:
        with standin(work, args.latency_ms, args.cap_mib) as env:
            run_all(work, env, size, concurrencies, parts, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def best_of(runs: list[Run]) -> Run:
    """The fastest of a setting's runs, with the least CPU and RSS any of them took."""
    fastest = min(runs, key=lambda r: r.seconds)
    return Run(fastest.label, fastest.seconds, min(r.cpu for r in runs),
               min(r.rss_mib for r in runs), fastest.size)


class Rounds:
    """Every setting's runs across the rounds; ``best(key)`` is the best of them."""

    def __init__(self) -> None:
        self.runs: dict[tuple, list[Run]] = {}

    def add(self, key: tuple, run: Run) -> Run:
        self.runs.setdefault(key, []).append(run)
        return run

    def best(self, key: tuple, startup: Run | None = None) -> Run:
        run = best_of(self.runs[key])
        run.startup = startup.seconds if startup is not None else 0.0
        return run


def run_all(work: Path, env: dict, size: int, concurrencies: list[int], parts: list[int], args) -> None:
    import boto3

    from icefloe.treehash import file_tree_hash

    boto3.client("glacier", region_name="us-east-1").create_vault(vaultName="bench")
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bench")
    src, tiny = work / "archive.bin", work / "tiny.bin"
    with open(src, "wb") as f:
        for _ in range(size // MIB):
            f.write(os.urandom(MIB))
    tiny.write_bytes(b"x")
    known = file_tree_hash(src)
    bench = Bench(work, env)
    backends = [b for b in ("glacier", "s3") if args.only in (None, b)]
    aws_concs = [c for c in concurrencies if c in (4, 8, 16)] if "s3" in backends else []
    print(f"file {size // MIB} MiB, stand-in latency {args.latency_ms:g} ms per request, "
          f"{args.cap_mib:g} MiB/s per request body; {os.cpu_count()} CPUs; each setting "
          f"{args.rounds} times, interleaved (icefloe s3 right before awscli at the same "
          "concurrency), best of each\n", flush=True)

    load_before = os.getloadavg()
    rounds = Rounds()
    for number in range(args.rounds):
        print(f"round {number + 1} of {args.rounds} (load average {os.getloadavg()[0]:.2f})", flush=True)
        rounds.add(("sha", 1), measure("sha256 pass", [PYTHON, "-c", SHA_PASS, str(tiny)], env, 1))
        rounds.add(("sha", size), measure("sha256 pass", [PYTHON, "-c", SHA_PASS, str(src)], env, size))
        for backend in backends:
            rounds.add(("base", backend), bench.icefloe(backend, tiny, 8, 4, known=None))
        if aws_concs:
            rounds.add(("aws base",), awscli(tiny, 8, 8, env, work, 0))
        for backend in backends:
            for part in parts:
                for conc in concurrencies:
                    run = rounds.add((backend, part, conc), bench.icefloe(backend, src, part, conc, known=known))
                    print(f"  {run.label}: {run.size / MIB / run.seconds:6.1f} MiB/s with start-up", flush=True)
                    if backend == "s3" and part == 8 and conc in aws_concs:
                        peer = rounds.add(("aws", conc), awscli(src, 8, conc, env, work, conc))
                        print(f"  {peer.label}: {peer.size / MIB / peer.seconds:6.1f} MiB/s with start-up",
                              flush=True)
        for backend in backends:
            rounds.add(("adhoc", backend), bench.icefloe(backend, src, 8, 8, known=None))
        if "glacier" in backends:
            rounds.add(("boto3", 1), measure("boto3 upload_archive",
                                             [PYTHON, "-c", BOTO3_ARCHIVE, "bench", str(tiny)], env, 1))
            rounds.add(("boto3", size), measure("boto3 upload_archive",
                                                [PYTHON, "-c", BOTO3_ARCHIVE, "bench", str(src)], env, size))
        if aws_concs:  # awscli's defaults: CRC32, 10 threads
            rounds.add(("aws crc",), awscli(src, 8, 10, env, work, 99, sha256=False))
    load_after = os.getloadavg()

    sha_base = rounds.best(("sha", 1))
    sha_run = rounds.best(("sha", size), sha_base)
    sha_cpu = net_cpu_per_gib(sha_run, sha_base)
    base = {b: rounds.best(("base", b)) for b in backends}
    rows: list[tuple[str, Run, float]] = []
    for backend in backends:
        for part in parts:
            for conc in concurrencies:
                run = rounds.best((backend, part, conc), base[backend])
                rows.append((backend, run, net_cpu_per_gib(run, base[backend])))
    adhoc = {b: rounds.best(("adhoc", b), base[b]) for b in backends}
    peers = []
    if "glacier" in backends:
        boto_base = rounds.best(("boto3", 1))
        boto_run = rounds.best(("boto3", size), boto_base)
        peers.append(("boto3 upload_archive (1 request)", boto_run, net_cpu_per_gib(boto_run, boto_base)))
    aws_runs = {}
    if aws_concs:
        aws_base = rounds.best(("aws base",))
        for conc in aws_concs:
            aws_runs[conc] = rounds.best(("aws", conc), aws_base)
            peers.append((f"aws s3 cp SHA256 (8 MiB x{conc})", aws_runs[conc],
                          net_cpu_per_gib(aws_runs[conc], aws_base)))
        crc = rounds.best(("aws crc",), aws_base)
        peers.append(("aws s3 cp defaults (CRC32, 8 MiB x10)", crc, net_cpu_per_gib(crc, aws_base)))

    head = f"{'backend':8} {'part':>5} {'conc':>4} {'MiB/s':>7} {'CPU s/GiB':>9} {'x sha256':>8} {'peak RSS':>9}"
    print("\n" + head + "\n" + "-" * len(head))
    for backend, run, cpu in rows:
        part, conc = re.search(r"(\d+) MiB x(\d+)", run.label).groups()
        print(f"{backend:8} {part:>5} {conc:>4} {run.mib_s:7.1f} {cpu:9.2f} {cpu / sha_cpu:8.2f} "
              f"{run.rss_mib:7.0f} M")
    print(f"\none SHA-256 pass: {sha_cpu:.2f} CPU s/GiB ({sha_run.mib_s:.0f} MiB/s)")
    print("1-byte upload (start-up): " + "; ".join(
        f"{'vault' if b == 'glacier' else b} {base[b].cpu:.2f} CPU s, {base[b].rss_mib:.0f} M" for b in backends))
    for backend, run in adhoc.items():
        print(f"not in the catalog ({backend}, 8 MiB x8): {run.mib_s:.1f} MiB/s, "
              f"{net_cpu_per_gib(run, base[backend]):.2f} CPU s/GiB (hashed first, then uploaded)")

    print(f"\n{'peer':38} {'MiB/s':>7} {'CPU s/GiB':>9} {'peak RSS':>9}")
    for label, run, cpu in peers:
        print(f"{label:38} {run.mib_s:7.1f} {cpu:9.2f} {run.rss_mib:7.0f} M")

    def best(backend: str, part: int = 8, conc: int | None = None) -> tuple[Run, float]:
        chosen = [(r, c) for b, r, c in rows if b == backend and f"{part} MiB x" in r.label
                  and (conc is None or r.label.endswith(f"x{conc}"))]
        return max(chosen, key=lambda rc: rc[0].mib_s)

    print("\nratios (icefloe / peer; throughput > 1 is faster, CPU and RSS < 1 is leaner):")
    if "glacier" in backends:
        vault, vault_cpu = best("glacier")
        print(f"  vault best ({vault.label}) vs boto3 upload_archive: throughput "
              f"{vault.mib_s / boto_run.mib_s:.2f}x, CPU {vault_cpu / peers[0][2]:.2f}x, "
              f"RSS {vault.rss_mib / boto_run.rss_mib:.2f}x")
    for conc, run in aws_runs.items():
        mine, cpu = best("s3", 8, conc if conc in concurrencies else None)
        theirs = net_cpu_per_gib(run, aws_base)
        print(f"  s3 {mine.label} vs aws s3 cp SHA256 8 MiB x{conc}: throughput {mine.mib_s / run.mib_s:.2f}x, "
              f"CPU {cpu / theirs if theirs else float('nan'):.2f}x, RSS {mine.rss_mib / run.rss_mib:.2f}x")
    print("  CPU per GiB vs one SHA-256 pass: " + ", ".join(
        f"{'vault' if b == 'glacier' else b} {best(b)[1] / sha_cpu:.2f}x" for b in backends))
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}", flush=True)
    if not args.only:
        volume_sets(work, bench, size)


def volume_sets(work: Path, bench: Bench, size: int, part: int = 8, conc: int = 4) -> None:
    """A set of 4 volumes uploaded at once against 1: they share one budget of memory."""
    volume = max(size // 4, 2 * part * conc * MIB)  # each volume alone fills the budget
    files = []
    for i in range(4):
        files.append(work / f"set.7z.{i + 1:03d}")
        with open(files[-1], "wb") as f:
            for _ in range(volume // MIB):
                f.write(os.urandom(MIB))
    bound = part * conc
    print(f"\nvolume set ({volume // MIB} MiB volumes, {part} MiB parts x{conc}, all at once in one "
          f"process; bound on part buffers {bound} MiB):")
    print(f"{'backend':8} {'volumes':>7} {'MiB/s':>7} {'peak RSS':>9}   (MiB/s with start-up)")
    for backend in ("glacier", "s3"):
        one = bench.volume_set(backend, files[:1], part, conc)
        four = bench.volume_set(backend, files, part, conc)
        for run, n in ((one, 1), (four, 4)):
            print(f"{backend:8} {n:7} {run.size / MIB / run.seconds:7.1f} {run.rss_mib:7.0f} M")
        print(f"  {backend}: 4 volumes peak {four.rss_mib - one.rss_mib:+.0f} MiB over 1 volume "
              f"(separate budgets would add up to {3 * bound} MiB more)")


if __name__ == "__main__":
    main()
