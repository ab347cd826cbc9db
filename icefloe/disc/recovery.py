"""PAR2 recovery data beside the files of a disc, made with par2cmdline (Debian's ``par2``).

Each disc carries its own recovery set over every file on it but RESTORE.txt (volumes,
manifest, SHA256SUMS.txt; RESTORE.txt differs per disc, and copying every disc into one
folder, as it says to, would make it look damaged), so one disc repairs itself with stock tools: ``par2 repair`` on Linux and macOS,
MultiPar or QuickPar on Windows. The recovery data fills the disc's free space and is never
less than the plan's minimum (``archive.disc_redundancy`` of the disc's data), which the plan
reserved room for (``reserve_sectors``).

Blocks are whole sectors and every file on an ISO starts on a sector, so a scattered bad
sector costs one recovery block. The sizes below follow the PAR2 2.0 packet layout as
par2cmdline 0.8.1 writes it: a recovery block is a 68-byte packet header plus the block, and
each recovery file repeats the critical packets about log2(blocks) times (measured). docs/disc.md
has the figures.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from icefloe import units
from icefloe.disc.capacity import SECTOR, sectors_for
from icefloe.disc.entries import FILE, DiscEntry, DiscPlan
from icefloe.errors import ExternalToolError, ExternalToolMissing, TooLarge
from icefloe.restorekit import RESTORE_NAME

PAR2 = "par2"
PAR2_SUFFIX = ".par2"
# About 2,000 source blocks per disc: par2's work grows with blocks x data, and a DVD's
# 2 MiB blocks still leave each scratch of 1 MiB costing two blocks at most.
TARGET_BLOCKS = 2000
MIN_BLOCK = 32 * SECTOR  # 64 KiB: small discs (tests) stay quick to protect
BLOCK_PACKET = 68  # packet header (64) + exponent (4)
CREATOR_PACKET = 120
MAX_RECOVERY_BLOCKS = 32768  # par2cmdline's limit per recovery set
# A full DVD at 10% has about 200 recovery blocks. A disc with more room keeps about that many
# (larger blocks), down to 500 source blocks: so a nearly empty disc filled with recovery data
# costs par2 a quarter of 2,000 blocks' work, and still survives hundreds of bad sectors.
FILL_RECOVERY_BLOCKS = 200
MIN_FILL_SOURCE_BLOCKS = 500
# par2's working memory for the recovery blocks it computes at once. Its own default, 16 MiB,
# makes it read a disc's data again for every 16 MiB of recovery blocks (a DVD at 10% has
# about 440 MiB of them); 256 MiB measured 20% faster on 128 MiB and bounds the memory.
PAR2_MEMORY_MIB = 256
# Directory records for the two par2 files in the three trees, and the rounding of each file.
FILES_SLACK_SECTORS = 8


def block_size(data_bytes: int, blocks: int = TARGET_BLOCKS) -> int:
    """The PAR2 block size for a disc of ``data_bytes``: whole sectors, about ``blocks`` blocks."""
    per_block = -(-max(data_bytes, 1) // blocks)
    return max(MIN_BLOCK, sectors_for(per_block) * SECTOR)


def fill_block_size(data_bytes: int, free_bytes: int) -> int:
    """The block size for recovery data that fills ``free_bytes``: par2's work grows with data x
    recovery blocks, so a disc with room to spare (its last one, say) gets fewer source blocks,
    never under MIN_FILL_SOURCE_BLOCKS, keeping about FILL_RECOVERY_BLOCKS recovery blocks."""
    room = free_bytes / max(data_bytes, 1)  # the share of the data the recovery data can be
    blocks = min(TARGET_BLOCKS, max(MIN_FILL_SOURCE_BLOCKS, int(FILL_RECOVERY_BLOCKS / max(room, 1e-9))))
    return block_size(data_bytes, blocks)


def source_blocks(sizes: list[int], block: int) -> int:
    return sum(-(-size // block) for size in sizes)


def _critical_bytes(sizes: list[int], names: list[str], block: int) -> int:
    main = 64 + 12 + 16 * len(sizes)
    described = sum(64 + 56 + -(-len(n.encode()) // 4) * 4 for n in names)
    checksums = sum(64 + 16 + 20 * -(-s // block) for s in sizes)
    return main + described + checksums


def recovery_bytes(sizes: list[int], names: list[str], count: int, block: int) -> int:
    """Bytes of the index file plus one recovery file of ``count`` blocks (an upper bound)."""
    critical = _critical_bytes(sizes, names, block)
    copies = 2 + math.ceil(math.log2(count + 1))
    return critical + CREATOR_PACKET + count * (block + BLOCK_PACKET) + copies * critical + CREATOR_PACKET


def minimum_blocks(sizes: list[int], block: int, redundancy: float) -> int:
    if redundancy <= 0:
        return 0
    return max(1, math.ceil(redundancy * source_blocks(sizes, block)))


def recovery_min_bytes(sizes: list[int], names: list[str], redundancy: float) -> int:
    """Bytes the least recovery data of files of ``sizes`` takes (0 without redundancy)."""
    if redundancy <= 0:
        return 0
    block = block_size(sum(sizes))
    return recovery_bytes(sizes, names, minimum_blocks(sizes, block, redundancy), block)


def protected(entries) -> list[DiscEntry]:
    """The files of a disc its recovery data covers."""
    return [e for e in entries if e.kind == FILE and e.path != RESTORE_NAME]


def reserve_sectors(entries: list[DiscEntry], redundancy: float) -> int:
    """Sectors the least recovery data of a disc holding ``entries`` takes (0 without)."""
    if redundancy <= 0:
        return 0
    files = protected(entries)
    nbytes = recovery_min_bytes([e.size for e in files], [e.path for e in files], redundancy)
    return sectors_for(nbytes) + FILES_SLACK_SECTORS


def par2_name(set_name: str, index: int, count: int) -> str:
    """The PAR2 index file of a disc, named like its image: ``set-disc-01-of-02.par2``."""
    return f"{set_name}-disc-{index:02d}-of-{count:02d}{PAR2_SUFFIX}"


def par2_base(plan: DiscPlan) -> str:
    return par2_name(plan.set_name, plan.index, plan.count)


def with_recovery(plan: DiscPlan, staging: Path, measure) -> DiscPlan:
    """``plan`` with PAR2 recovery files (written into ``staging``) filling its free space.

    ``measure`` gives the exact sectors of a list of entries. Raises TooLarge when the disc
    cannot hold the minimum, and ExternalToolMissing when par2 is not installed.
    """
    files = protected(plan.entries)
    sizes, names = [e.size for e in files], [e.path for e in files]
    free = (plan.capacity_sectors - plan.sectors - FILES_SLACK_SECTORS) * SECTOR
    block = max(block_size(sum(sizes)), fill_block_size(sum(sizes), free))
    if recovery_bytes(sizes, names, minimum_blocks(sizes, block, plan.redundancy), block) > free:
        block = block_size(sum(sizes))  # larger blocks round the minimum up past the reserved room
    minimum = minimum_blocks(sizes, block, plan.redundancy)
    # As many blocks as fill the disc, up to one per source block (which rebuilds every file)
    # and par2's limit; the upper bound is checked against the exact layout below.
    fill = (free - recovery_bytes(sizes, names, 0, block)) // (block + BLOCK_PACKET)
    count = max(minimum, min(fill, source_blocks(sizes, block), MAX_RECOVERY_BLOCKS))
    while count > minimum and recovery_bytes(sizes, names, count, block) > free:
        count -= 1
    _stage(files, staging)
    while True:
        made = _create(staging, files, par2_base(plan), block, count)
        entries = (*plan.entries, *made)
        sectors = measure(list(entries), plan.set_name)
        if sectors <= plan.capacity_sectors:
            return replace(plan, entries=entries, sectors=sectors)
        over = (sectors - plan.capacity_sectors) * SECTOR
        count -= max(1, -(-over // (block + BLOCK_PACKET)))
        if count < minimum:
            raise TooLarge(
                f"{plan.image_name}: the recovery data ({plan.redundancy:.0%} of the disc's data) "
                f"does not fit a {plan.disc_type} with these volumes; plan the discs again"
            )
        for path in made:
            Path(path.source).unlink()  # type: ignore[arg-type]


def _stage(files: list[DiscEntry], staging: Path) -> None:
    """Each file under its disc name in ``staging``: a link to its source, or its data."""
    staging.mkdir(parents=True, exist_ok=True, mode=0o700)
    for entry in files:
        target = staging / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.source is not None:
            os.symlink(Path(entry.source).resolve(), target)
        else:
            target.write_bytes(entry.data or b"")


def _create(staging: Path, files: list[DiscEntry], base: str, block: int, count: int) -> list[DiscEntry]:
    tool = shutil.which(PAR2)
    if tool is None:
        raise ExternalToolMissing(
            "par2 is not installed; it writes the discs' recovery data "
            "(Debian and Ubuntu: sudo apt install par2)"
        )
    cmd = [
        tool, "create", "-q", "-q", f"-B{staging}", f"-s{block}", f"-c{count}", "-n1", f"-m{PAR2_MEMORY_MIB}",
        str(staging / base), *[str(staging / e.path) for e in files],
    ]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = done.stdout.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ExternalToolError(f"par2 create failed ({done.returncode}): {tail[0]}")
    stem = base.removesuffix(PAR2_SUFFIX)
    made = sorted(p for p in staging.iterdir() if p.name.startswith(stem) and p.name.endswith(PAR2_SUFFIX))
    return [
        DiscEntry(p.name, FILE, p.stat().st_size, source=p, mode=0o644)
        for p in made
    ]


def describe(plan: DiscPlan) -> str:
    """One line: how much recovery data a disc carries, for logs."""
    par2 = [e for e in plan.entries if e.kind == FILE and e.path.endswith(PAR2_SUFFIX)]
    data = sum(e.size for e in plan.entries if e.kind == FILE) - sum(e.size for e in par2)
    rec = sum(e.size for e in par2)
    return f"{plan.image_name}: {units.size(rec)} of recovery data for {units.size(data)} ({rec / max(data, 1):.0%})"
