"""The yearly disc check: read a disc (or its image) end to end and measure its PAR2 margin.

Every sector of the ISO (its own length, from the volume descriptor; the medium is longer)
is read, one sector at a time where a stretch fails, and counted when unreadable. The disc's
root files are then copied off as far as they read, into a temporary folder, and stock
``par2 verify`` counts the damaged blocks against the recovery blocks: the margin is what
is left. The result is one ``DiscCheck`` row in the catalog (docs/catalog.md).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from icefloe.catalog import Catalog, DiscCheck
from icefloe.disc.capacity import SECTOR
from icefloe.disc.recovery import PAR2_SUFFIX
from icefloe.errors import ChecksumMismatch, ExternalToolMissing, InputNotFound, UsageError
from icefloe.restore.repair import copy_readable
from icefloe.restore.sources import folder_files, iso_root_files, is_iso

CHUNK_SECTORS = 512  # 1 MiB reads; a failing one is retried sector by sector
CHECK_EVERY = timedelta(days=365)
_AVAILABLE = re.compile(r"You have (\d+) out of (\d+) data blocks available")
_RECOVERY = re.compile(r"You have (\d+) recovery blocks available")
_TOTAL = re.compile(r"There are a total of (\d+) data blocks")
_VOL = re.compile(r"\.vol\d+\+(\d+)\.par2$")


def iso_sectors(path: Path) -> int:
    """The image's own length in sectors, from its primary volume descriptor."""
    with open(path, "rb") as handle:
        handle.seek(16 * SECTOR + 80)
        return struct.unpack("<I", handle.read(4))[0]


def unreadable_sectors(path: Path, sectors: int) -> int:
    bad = 0
    with open(path, "rb", buffering=0) as handle:
        at = 0
        while at < sectors:
            n = min(CHUNK_SECTORS, sectors - at)
            try:
                handle.seek(at * SECTOR)
                if len(handle.read(n * SECTOR)) == n * SECTOR:
                    at += n
                    continue
            except OSError:
                pass
            for one in range(at, at + n):  # find the bad ones in this stretch
                try:
                    handle.seek(one * SECTOR)
                    if len(handle.read(SECTOR)) != SECTOR:
                        bad += 1
                except OSError:
                    bad += 1
            at += n
    return bad


def check_disc(path: Path) -> DiscCheck:
    """Read the disc or image at ``path`` end to end; its margin from stock ``par2 verify``."""
    path = Path(path)
    if not path.exists():
        raise InputNotFound(f"{path} does not exist")
    if shutil.which("par2") is None:
        raise ExternalToolMissing("par2 is not installed; it measures the recovery margin "
                                  "(Debian and Ubuntu: sudo apt install par2)")
    if path.is_dir():
        files = folder_files(path)
        sectors = sum(-(-f.size // SECTOR) for f in files)
        bad = 0
    elif is_iso(path):
        sectors = iso_sectors(path)
        bad = unreadable_sectors(path, sectors)
        files = iso_root_files(path)
    else:
        raise UsageError(f"{path} is neither a disc folder nor an ISO image or disc device")
    index = next((f for f in files if f.name.endswith(PAR2_SUFFIX) and ".vol" not in f.name), None)
    if index is None:
        raise UsageError(f"{path} has no PAR2 recovery data (no .par2 index at its root)")
    disc = index.name.removesuffix(PAR2_SUFFIX)
    with tempfile.TemporaryDirectory(prefix="icefloe-check-") as tmp:
        for item in files:
            copy_readable(item, Path(tmp) / item.name)
        done = subprocess.run(["par2", "verify", index.name], cwd=tmp, capture_output=True,
                              text=True, errors="replace", check=False)
    out = done.stdout
    if (avail := _AVAILABLE.search(out)) is not None:
        # Damage found: par2 counts the recovery blocks it could read (no line when none).
        have, total = int(avail.group(1)), int(avail.group(2))
        damaged = total - have
        got = _RECOVERY.search(out)
        recovery = int(got.group(1)) if got else 0
    else:
        total, damaged = _source_blocks(out), 0
        recovery = sum(int(m.group(1)) for f in files if (m := _VOL.search(f.name)))
    margin = recovery - damaged
    ok = done.returncode == 0 and margin >= 0 and bad == 0 and damaged == 0
    if damaged == 0 and bad == 0 and "All files are correct" in out:
        detail = "every sector read; all files are correct"
    elif margin >= 0:
        detail = f"{bad} unreadable sectors, {damaged} damaged blocks: repairable ({margin} blocks to spare)"
    else:
        detail = f"{bad} unreadable sectors, {damaged} damaged blocks: NOT repairable ({-margin} blocks short)"
    return DiscCheck(disc, str(path), ok, sectors, bad, damaged, recovery, total, margin, detail)


def _source_blocks(par2_output: str) -> int:
    total = _TOTAL.search(par2_output)
    return int(total.group(1)) if total else 0


def record_check(catalog: Catalog, check: DiscCheck) -> DiscCheck:
    catalog.record_disc_check(check)
    return check


@dataclass(frozen=True, slots=True)
class DueDisc:
    """A disc whose yearly check is due: its name, its set, and its last check if it had one."""

    disc: str
    set_name: str
    last_checked: str | None
    last_ok: bool | None


def due_discs(catalog: Catalog, now: datetime | None = None, every: timedelta = CHECK_EVERY) -> list[DueDisc]:
    """The discs (from the recorded images) not checked within ``every``, oldest check first."""
    now = now or datetime.now(UTC)
    due = []
    for image in catalog.images():
        disc = image.name.removesuffix(".iso")
        checks = catalog.disc_checks(disc)
        last = checks[-1] if checks else None
        since = datetime.fromisoformat(last.checked_at if last else image.created_at)
        if now - since > every:
            due.append(DueDisc(disc, image.set_name, last.checked_at if last else None, last.ok if last else None))
    return sorted(due, key=lambda d: d.last_checked or "")


def discs_due(catalog: Catalog, now: datetime | None = None, every: timedelta = CHECK_EVERY) -> list[dict]:
    """``due_discs`` as JSON: ``disc``, ``set``, ``last_checked``, ``last_ok`` (`icefloe status --json`)."""
    return [{"disc": d.disc, "set": d.set_name, "last_checked": d.last_checked, "last_ok": d.last_ok}
            for d in due_discs(catalog, now, every)]


@dataclass(frozen=True, slots=True)
class DiscsChecked:
    """What a yearly disc check did: the discs that were due, those read, those skipped."""

    due: tuple[str, ...]
    checked: tuple[str, ...]
    skipped: tuple[str, ...]


def damage_verdict(results: list[DiscCheck]) -> ChecksumMismatch | None:
    """What the household must do about the damaged discs among ``results``; None if none."""
    bad = [r for r in results if not r.ok]
    if not bad:
        return None
    worst = [r.disc for r in bad if r.margin_blocks < 0]
    return ChecksumMismatch(
        f"{len(bad)} of {len(results)} discs are damaged"
        + (f", {', '.join(worst)} beyond repair: restore from the other copy" if worst else
           ": every one is still repairable; burn a new copy from its image (or a repaired copy) soon")
    )
