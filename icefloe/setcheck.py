"""`icefloe sets verify SET`: check a set's copies again, wherever they are, and record it.

- **Local volumes** (while still in work_dir): testzip and their SHA-256 against the catalog;
  recorded as TESTZIP per volume, as the archive run records it.
- **S3 copies**: a HEAD (size and icefloe's SHA-256); recorded as INVENTORY_SEEN, the
  confirmation the clear gates read. An object not found is recorded as failed.
- **Vault copies**: a vault has no HEAD, so the newest fetched inventory decides (size and
  tree hash); recorded the same way. A copy newer than that inventory is skipped.
- **Disc images** (while still in work_dir): read end to end with their PAR2 margin
  (icefloe/disc/check.py); recorded as a disc check.

Each file read holds ``fsutil.reading``, so `icefloe clean` leaves it alone meanwhile. A check
that could not be made (no password, no inventory, the service not answering) is reported and
not recorded: it says nothing about the copy.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from icefloe.archive import test_archive
from icefloe.catalog import INVENTORY_SEEN, TESTZIP, ArchiveRecord, Catalog, CopyRecord
from icefloe.coldstore import reconcile
from icefloe.coldstore.inventory import latest_inventory
from icefloe.errors import ChecksumMismatch, IcefloeError, InputNotFound, RemoteNotFound
from icefloe.fsutil import reading
from icefloe.lifecycle import state_of
from icefloe.progress import Progress

OK, FAILED, SKIPPED = "ok", "FAILED", "skipped"


@dataclass(frozen=True)
class CheckLine:
    """One check of one thing: what was checked, how it went, and whether it was recorded."""

    check: str  # "testzip", "head", "inventory", "disc"
    subject: str  # a volume, a copy's archive, or a disc image
    status: str  # ok, FAILED, skipped
    detail: str
    recorded: bool


def verify_set(
    catalog: Catalog,
    name: str,
    *,
    password: str | None,
    store_for: Callable[[str, str], object],
    workers: int = 1,
    progress: Progress | None = None,
) -> list[CheckLine]:
    """Every check of set ``name`` that can be made now. ``store_for(backend, container)``
    gives the ColdStore holding a copy."""
    state_of(catalog, name)  # an unknown set: one line naming `icefloe sets`
    archives = sorted(catalog.archives(set_name=name), key=lambda a: a.volume)
    lines = _testzip(catalog, archives, password, workers, progress)
    lines += _remote(catalog, archives, store_for)
    lines += _discs(catalog, name)
    return lines


def _testzip(catalog: Catalog, archives: list[ArchiveRecord], password: str | None, workers: int,
             progress: Progress | None) -> list[CheckLine]:
    if not archives:
        return []
    missing = [a for a in archives if not a.path or not Path(a.path).is_file()]
    if missing:
        return [CheckLine("testzip", a.name, SKIPPED, "not in work_dir (cleaned, or moved)", False) for a in missing]
    try:
        return testzip_volumes(catalog, archives, password, workers, progress)
    except IcefloeError as exc:  # a wrong or missing password: nothing learnt about the volumes
        return [CheckLine("testzip", a.name, FAILED, exc.message, False) for a in archives]


def testzip_volumes(catalog: Catalog, archives: list[ArchiveRecord], password: str | None, workers: int,
                    progress: Progress | None) -> list[CheckLine]:
    """testzip a set's volumes and compare their SHA-256 with the catalog's; records TESTZIP
    per volume, as the archive run and `sets verify` both do. A damaged volume fails every
    volume of the set (one 7z archive); an error that says nothing about the volumes (a wrong
    or missing password, an unreadable file) is raised and nothing is recorded."""
    try:
        with ExitStack() as held:
            for a in archives:
                held.enter_context(reading(Path(a.path or "")))
            shas = test_archive([Path(a.path or "") for a in archives], password, workers=workers, progress=progress)
    except ChecksumMismatch as exc:
        for a in archives:
            catalog.verify(f"archive:{a.name}", TESTZIP, False, exc.message)
        return [CheckLine("testzip", a.name, FAILED, exc.message, True) for a in archives]
    lines = []
    for a, sha in zip(archives, shas):
        ok = sha == a.sha256
        detail = "testzip and SHA-256 match" if ok else f"SHA-256 {sha}, not the {a.sha256} recorded"
        catalog.verify(f"archive:{a.name}", TESTZIP, ok, detail)
        lines.append(CheckLine("testzip", a.name, OK if ok else FAILED, detail, True))
    return lines


def testzip_set(catalog: Catalog, set_name: str, password: str | None, workers: int,
                progress: Progress | None) -> int:
    """testzip every volume of a recorded set (``testzip_volumes``); the number of volumes.

    Fails with InputNotFound for a set the catalog lacks, and with ChecksumMismatch naming the
    volumes when any CRC or SHA-256 differs.
    """
    archives = sorted(catalog.archives(set_name=set_name), key=lambda r: r.volume)
    if not archives:
        raise InputNotFound(f"the catalog has no archive set {set_name!r}: consolidate it first")
    wrong = [line for line in testzip_volumes(catalog, archives, password, workers, progress) if line.status != OK]
    if wrong:
        raise ChecksumMismatch(f"{', '.join(line.subject for line in wrong)}: {wrong[0].detail}")
    return len(archives)


def _remote(catalog: Catalog, archives: list[ArchiveRecord], store_for: Callable[[str, str], object]) -> list[CheckLine]:
    lines = []
    copies = [c for a in archives for c in catalog.copies(a.name)]
    for backend, container in sorted({(c.backend, c.container) for c in copies}):
        here = [c for c in copies if (c.backend, c.container) == (backend, container)]
        if backend == "s3":
            try:
                store = store_for(backend, container)
            except IcefloeError as exc:
                lines += [CheckLine("head", c.archive_name or c.remote_id, FAILED, exc.message, False) for c in here]
                continue
            lines += [_head(catalog, store, c) for c in here]
        else:
            lines += _inventory(catalog, backend, container, here)
    return lines


def _confirm(catalog: Catalog, copy: CopyRecord, ok: bool, detail: str) -> None:
    catalog.verify(f"archive:{copy.archive_name}", INVENTORY_SEEN, ok,
                   f"{copy.backend} {copy.container} {copy.remote_id[:16]}: {detail}")


def _head(catalog: Catalog, store, copy: CopyRecord) -> CheckLine:
    subject = copy.archive_name or copy.remote_id
    try:
        head = store.head(copy.remote_id)
    except RemoteNotFound:
        detail = f"s3://{copy.container}/{copy.remote_id} not found by HEAD"
        _confirm(catalog, copy, False, "not found by HEAD")
        return CheckLine("head", subject, FAILED, detail, True)
    except IcefloeError as exc:  # the service did not answer: nothing learnt about the copy
        return CheckLine("head", subject, FAILED, exc.message, False)
    problems = []
    if head.size != copy.size:
        problems.append(f"size {head.size}, not {copy.size}")
    if copy.sha256 and head.sha256 != copy.sha256:
        problems.append(f"SHA-256 {head.sha256}, not {copy.sha256}")
    detail = "; ".join(problems) or f"size and SHA-256 confirmed by HEAD ({head.storage_class})"
    _confirm(catalog, copy, not problems, detail)
    return CheckLine("head", subject, FAILED if problems else OK, f"s3://{copy.container}/{copy.remote_id}: {detail}", True)


def _inventory(catalog: Catalog, backend: str, container: str, copies: list[CopyRecord]) -> list[CheckLine]:
    inventory = latest_inventory(catalog, backend, container)
    if inventory is None:
        why = f"no inventory of vault {container} was fetched: `icefloe inventory request` (about 4 hours)"
        return [CheckLine("inventory", c.archive_name or c.remote_id, SKIPPED, why, False) for c in copies]
    found = reconcile(inventory, catalog, record=False)
    ids = {c.remote_id for c in copies}
    lines = []
    for copy in found.seen:
        if copy.remote_id in ids:
            _confirm(catalog, copy, True, f"in the {inventory.date} inventory")
            lines.append(CheckLine("inventory", copy.archive_name or "", OK,
                                   f"in the vault inventory of {inventory.date}, size and tree hash agree", True))
    for copy, why in found.mismatched:
        if copy.remote_id in ids:
            _confirm(catalog, copy, False, why)
            lines.append(CheckLine("inventory", copy.archive_name or "", FAILED, why, True))
    for copy in found.missing:
        if copy.remote_id in ids:
            _confirm(catalog, copy, False, f"not in the {inventory.date} inventory")
            lines.append(CheckLine("inventory", copy.archive_name or "", FAILED,
                                   f"not in the vault inventory of {inventory.date}", True))
    for copy in found.pending:
        if copy.remote_id in ids:
            lines.append(CheckLine("inventory", copy.archive_name or "", SKIPPED,
                                   f"stored after the newest inventory ({inventory.date}): request a new one", False))
    return lines


def _discs(catalog: Catalog, name: str) -> list[CheckLine]:
    from icefloe.disc.check import check_disc, record_check

    lines = []
    for image in sorted(catalog.images(name), key=lambda i: i.disc_index):
        if not image.path or not Path(image.path).is_file():
            lines.append(CheckLine("disc", image.name, SKIPPED, "image not in work_dir (cleaned, or moved); "
                                   "check the disc itself with `icefloe discs check DEVICE`", False))
            continue
        try:
            with reading(Path(image.path)):
                result = record_check(catalog, check_disc(Path(image.path)))
        except IcefloeError as exc:
            lines.append(CheckLine("disc", image.name, FAILED, exc.message, False))
            continue
        lines.append(CheckLine("disc", image.name, OK if result.ok else FAILED, result.detail or "", True))
    return lines
