"""Benchmark: restoring, icefloe beside 7-Zip, py7zr, awscli and boto3, same data, same run.

    .venv/bin/python bench/restore.py [--quick] [--size-mib N] [--latency-ms 20] [--cap-mib 16]

Extraction: the reference partition of bench/consolidate.py (70% incompressible media, 30%
text) consolidated once by icefloe (encrypted, 32 MiB volumes), then extracted into an empty
folder by, each in its own process under GNU time on a warm page cache:

- icefloe ``extract_set``: every file staged, hashed, checked against the 7z CRC and the
  manifest's SHA-256, fsynced, renamed into place, mtimes set;
- ``7zz x`` (7-Zip 26; it checks CRCs, fsyncs nothing), and ``7zz x`` followed by
  ``sync FILE...`` of every file it wrote (the fair peer: icefloe's files are durable);
- py7zr ``extractall`` (CRCs, no fsync).

Each side runs three times, interleaved, and the best of each counts; the load average
before and after is printed with the ratios.

Download: one random file stored on the vault and on S3 of a local stand-in process with
``--latency-ms`` per request and each response capped at ``--cap-mib`` MiB/s (one
connection's share of a downlink), retrieved, then downloaded by:

- icefloe ``download_job_output``: 8 MiB ranges, 1 and 4 at a time, each verified (vault:
  the service's tree hash), journalled, the whole file's hashes checked at the end;
- boto3 ``get_job_output`` in one stream, as the hand-written scripts did (vault; unverified);
- ``aws s3 cp`` (awscli's s3transfer, 8 MiB parts, 4 at a time; S3).

The downloads run three times, interleaved (vault x1, x4, boto3, S3 x1, x4, awscli, again),
and the best of each counts; the load average before and after is printed with the ratios.

``--only extract|download`` runs one half; ``--baseline DIR`` adds rows for the icefloe source
tree at DIR (e.g. ``git archive HEAD | tar -x -C DIR``), interleaved with the others.

Not a test: the numbers depend on the machine.
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
sys.path.insert(0, str(ROOT / "bench"))
from measure import MIB, Run, measure, standin  # noqa: E402  (bench/measure.py)

PYTHON = sys.executable
AWS = str(Path(PYTHON).with_name("aws"))
PASSWORD = "correct horse battery staple"

EXTRACT = (
    "import sys\nfrom pathlib import Path\nfrom icefloe.restore import extract_set, file_source\n"
    "r = extract_set([file_source(Path(p)) for p in sys.argv[3:]], Path(sys.argv[1]), password=sys.argv[2])\n"
    "r.raise_for_problems()\n"
)
PY7ZR = (
    "import sys, multivolumefile, py7zr\n"
    "with multivolumefile.open(sys.argv[3], 'rb') as vol:\n"
    "    with py7zr.SevenZipFile(vol, password=sys.argv[2]) as z:\n"
    "        z.extractall(sys.argv[1])\n"
)
ICEFLOE_DOWNLOAD = (
    "import sys\nfrom pathlib import Path\nfrom icefloe.catalog import Catalog\n"
    "from icefloe.coldstore import open_coldstore\nfrom icefloe.config import ColdstoreConfig\n"
    "from icefloe.restore import RestoreOptions, download_job_output\n"
    "backend, job, dest, size, sha, tree, conc = sys.argv[1:8]\n"
    "cfg = ColdstoreConfig(backend=backend, vault='bench', bucket='bench')\n"
    "with Catalog.open(Path(dest).with_suffix('.sqlite')) as cat:\n"
    "    download_job_output(open_coldstore(cfg, cat), job, Path(dest), size=int(size), identity=sha,\n"
    "        sha256=sha, tree_hash=tree if tree != '-' else None,\n"
    "        options=RestoreOptions(range_size=8 << 20, download_concurrency=int(conc)))\n"
)
BOTO3_JOB_OUTPUT = (
    "import boto3, shutil, sys\n"
    "out = boto3.client('glacier', region_name='us-east-1').get_job_output(vaultName='bench', jobId=sys.argv[1])\n"
    "with open(sys.argv[2], 'wb') as f:\n"
    "    shutil.copyfileobj(out['body'], f, 8 << 20)\n"
)


def table(title: str, runs: list[Run], base: Run) -> None:
    print(f"\n{title}")
    print(f"{'run':46s} {'wall s':>8s} {'cpu s':>8s} {'MiB/s':>8s} {'RSS MiB':>8s} {'time vs icefloe':>16s}")
    for run in runs:
        print(f"{run.label:46s} {run.seconds:8.2f} {run.cpu:8.2f} {run.mib_s:8.1f} {run.rss_mib:8.0f} "
              f"{run.seconds / base.seconds:15.2f}x")


def from_tree(script: str, tree: Path | None) -> str:
    """``script`` importing icefloe from the source tree ``tree`` (a baseline) when given."""
    return script if tree is None else f"import sys\nsys.path.insert(0, {str(tree.resolve())!r})\n" + script


def bench_extract(work: Path, size_mib: int, env: dict, baseline: Path | None = None) -> None:
    from consolidate import generate  # bench/consolidate.py's reference partition

    from icefloe.archive import consolidate

    part = generate(ROOT / "bench" / "out", size_mib)
    result = consolidate(part, work / "archives", label="bench", password=PASSWORD, volume_size=32 * MIB, workers=2)
    volumes = [str(v.path) for v in result.volumes]
    total = result.total_bytes
    print(f"set {result.set_name}: {result.file_count} files, {total / MIB:.0f} MiB in {len(volumes)} volumes")

    def fresh(name: str) -> Path:
        out = work / name
        shutil.rmtree(out, ignore_errors=True)
        return out

    # 7-Zip writes into the page cache and returns; icefloe's files are on the disk when it
    # returns. The fair peer is 7zz x followed by an fsync of every file it wrote (sync FILE...).
    sevenzip_sync = '7zz x -y -p"$1" -o"$2" "$3" >/dev/null && find "$2" -type f -exec sync -- {} +'
    sides = {
        "icefloe extract_set (SHA-256 + fsync + mtimes)":
            lambda: [PYTHON, "-c", EXTRACT, str(fresh("icefloe")), PASSWORD, *volumes],
        **({"icefloe baseline extract_set":
            lambda: [PYTHON, "-c", from_tree(EXTRACT, baseline), str(fresh("baseline")), PASSWORD, *volumes]}
           if baseline is not None else {}),
        "7zz x (CRC only, no fsync)":
            lambda: ["7zz", "x", "-y", f"-p{PASSWORD}", f"-o{fresh('7zz')}", volumes[0]],
        "7zz x, then sync of every file":
            lambda: ["sh", "-c", sevenzip_sync, "sh", PASSWORD, str(fresh("7zz-sync")), volumes[0]],
        "py7zr extractall (CRC only, no fsync)":
            lambda: [PYTHON, "-c", PY7ZR, str(fresh("py7zr")), PASSWORD, str(Path(volumes[0]).with_suffix(""))],
    }
    load_before = os.getloadavg()
    best: dict[str, Run] = {}
    for _ in range(3):  # interleaved, best of three each: the machine is shared
        for label, cmd in sides.items():
            run = measure(label, cmd(), env, total)
            if label not in best or run.seconds < best[label].seconds:
                best[label] = run
    load_after = os.getloadavg()
    runs = list(best.values())
    table("extraction of one archive set (best of 3, interleaved)", runs, runs[0])
    ice = runs[0]
    for peer in runs[1:]:
        print(f"icefloe vs {peer.label}: {peer.seconds / ice.seconds:.2f}x as fast "
              f"(cpu {ice.cpu:.2f} s vs {peer.cpu:.2f} s)")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")


def bench_download(work: Path, size: int, env: dict, baseline: Path | None = None) -> None:
    import boto3

    from icefloe.treehash import file_tree_hash

    src = work / "archive.bin"
    with open(src, "wb") as handle:
        handle.writelines(os.urandom(MIB) for _ in range(size // MIB))
    tree, sha = file_tree_hash(src)
    glacier = boto3.client("glacier", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    glacier.create_vault(vaultName="bench")
    s3.create_bucket(Bucket="bench")
    with open(src, "rb") as handle:
        archive_id = glacier.upload_archive(vaultName="bench", body=handle)["archiveId"]
    s3.upload_file(str(src), "bench", "archive.bin", ExtraArgs={"StorageClass": "DEEP_ARCHIVE"})
    s3.restore_object(Bucket="bench", Key="archive.bin", RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}})
    job = glacier.initiate_job(vaultName="bench", jobParameters={"Type": "archive-retrieval", "ArchiveId": archive_id,
                                                                 "Tier": "Expedited"})["jobId"]
    while glacier.describe_job(vaultName="bench", jobId=job)["StatusCode"] != "Succeeded":
        time.sleep(0.2)
    aws_env = dict(env, AWS_CONFIG_FILE=str(work / "aws.cfg"))
    (work / "aws.cfg").write_text("[default]\nregion = us-east-1\ns3 =\n    multipart_chunksize = 8MB\n"
                                  "    multipart_threshold = 8MB\n    max_concurrent_requests = 4\n")

    def dest(name: str) -> str:
        path = work / "dl" / name
        path.parent.mkdir(exist_ok=True)
        path.unlink(missing_ok=True)
        return str(path)

    vault_sides = {
        f"icefloe vault 8 MiB ranges x{conc} (verified)":
            lambda conc=conc: [PYTHON, "-c", ICEFLOE_DOWNLOAD, "glacier", job, dest(f"v{conc}"), str(size), sha,
                               tree, str(conc)]
        for conc in (1, 4)
    }
    vault_sides["boto3 get_job_output, one stream (unverified)"] = lambda: [PYTHON, "-c", BOTO3_JOB_OUTPUT, job,
                                                                          dest("boto3")]
    s3_sides = {
        f"icefloe s3 8 MiB ranges x{conc} (verified)":
            lambda conc=conc: [PYTHON, "-c", ICEFLOE_DOWNLOAD, "s3", "restore:archive.bin", dest(f"s{conc}"),
                               str(size), sha, "-", str(conc)]
        for conc in (1, 4)
    }
    s3_sides["aws s3 cp 8 MiB x4"] = lambda: [AWS, "s3", "cp", "s3://bench/archive.bin", dest("awscli"),
                                              "--only-show-errors"]
    if baseline is not None:
        script = from_tree(ICEFLOE_DOWNLOAD, baseline)
        vault_sides["icefloe baseline vault x4"] = lambda: [PYTHON, "-c", script, "glacier", job, dest("bv4"),
                                                            str(size), sha, tree, "4"]
        s3_sides["icefloe baseline s3 x4"] = lambda: [PYTHON, "-c", script, "s3", "restore:archive.bin",
                                                      dest("bs4"), str(size), sha, "-", "4"]
    load_before = os.getloadavg()
    best: dict[str, Run] = {}
    for _ in range(3):  # interleaved, best of three each: the machine is shared
        for sides in (vault_sides, s3_sides):
            for label, cmd in sides.items():
                run = measure(label, cmd(), aws_env if label.startswith("aws") else env, size)
                if label not in best or run.seconds < best[label].seconds:
                    best[label] = run
    load_after = os.getloadavg()
    runs = [best[label] for label in vault_sides]
    s3_runs = [best[label] for label in s3_sides]
    table("download from the vault (stand-in; best of 3, interleaved)", runs, runs[1])
    table("download from S3 (stand-in; best of 3, interleaved)", s3_runs, s3_runs[1])
    print(f"icefloe s3 x4 vs aws s3 cp x4: {s3_runs[1].mib_s / s3_runs[2].mib_s:.2f}x the throughput "
          f"(cpu {s3_runs[1].cpu:.2f} s vs {s3_runs[2].cpu:.2f} s); "
          f"vault x4 vs boto3 one stream: {runs[1].mib_s / runs[2].mib_s:.2f}x")
    if baseline is not None:
        print(f"baseline s3 x4 vs aws s3 cp x4: {s3_runs[3].mib_s / s3_runs[2].mib_s:.2f}x "
              f"(cpu {s3_runs[3].cpu:.2f} s); baseline vault x4: {runs[3].mib_s:.1f} MiB/s")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 MiB partition, 64 MiB download")
    parser.add_argument("--size-mib", type=int, default=None, help="partition size (default 128, quick 32)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--cap-mib", type=float, default=16.0, help="per-response bandwidth cap, MiB/s")
    parser.add_argument("--only", choices=("extract", "download"), help="run one half only")
    parser.add_argument("--baseline", type=Path, help="also time the icefloe source tree at this path")
    args = parser.parse_args()
    size_mib = args.size_mib or (32 if args.quick else 128)
    work = Path(tempfile.mkdtemp(prefix="icefloe-bench-restore-"))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; work folder {work}")
    try:
        with standin(work, args.latency_ms, args.cap_mib) as env:
            if args.only != "download":
                bench_extract(work, size_mib, env, args.baseline)
            if args.only != "extract":
                bench_download(work, (64 if args.quick else 256) * MIB, env, args.baseline)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
