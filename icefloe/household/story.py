"""What the household page says: in words, are our photos safe, and where?

What the page says comes from two places only: the catalog (every set, its discs, its cloud
copy and their checks) and a stat-only walk of each mounted partition (files not packed into
a set yet). It never shows a hash, an archive id or a local path; file names are relative to
their partition. Dates are the files' modification times from the manifests, in UTC, as the
disc label pages print them. docs/catalog.md describes the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from icefloe.catalog import (
    BURNED_READBACK,
    IMAGE_VERIFIED,
    INVENTORY_SEEN,
    SERVER_CHECKSUM,
    TESTZIP,
    Catalog,
    ImageRecord,
)
from icefloe.clear.trash import TRASH_DIR
from icefloe.config import Settings
from icefloe.disc.check import CHECK_EVERY
from icefloe.lifecycle import is_abandoned
from icefloe.partitions import is_mounted, partition_fill
from icefloe.units import size

CLOUD_NAMES = {
    "DEEP_ARCHIVE": "Amazon S3 Glacier Deep Archive",
    "GLACIER": "Amazon S3 Glacier Flexible Retrieval",
    "GLACIER_IR": "Amazon S3 Glacier Instant Retrieval",
    "STANDARD": "Amazon S3",
}


@dataclass(frozen=True)
class Check:
    """One line of a set's story: ``ok`` is True (a tick), False (a cross) or None (not yet)."""

    ok: bool | None
    words: str


@dataclass(frozen=True)
class Disc:
    label: str  # as the disc's label page prints it: "<set> disc 1 of 2"
    checks: tuple[Check, ...]
    ready: bool  # its image was read back and matched (and burned, when icefloe burns)


@dataclass(frozen=True)
class SetStory:
    """One archive set, as the page tells it."""

    name: str
    partition: str
    files: int
    total_bytes: int
    first_ns: int | None
    last_ns: int | None
    discs: tuple[Disc, ...]
    discs_expected: bool
    discs_missing: int  # of the set's disc_count, how many have no image yet
    clouds: tuple[str, ...]  # where the copies are: "Amazon S3 Glacier Deep Archive", ...
    cloud: tuple[Check, ...]
    cloud_ready: bool
    cleared_at: str | None
    mirrored: bool  # a good mirror run finished after the set was made
    names: tuple[str, ...]

    @property
    def cloud_where(self) -> str | None:
        return _and(self.clouds) if self.clouds else None

    @property
    def discs_ready(self) -> bool:
        return bool(self.discs) and all(d.ready for d in self.discs) and not self.discs_missing

    @property
    def safe(self) -> bool:
        return self.cloud_ready and (self.discs_ready or (not self.discs_expected and not self.discs))

    @property
    def attention(self) -> bool:
        return any(c.ok is False for c in self.cloud) or any(
            c.ok is False for d in self.discs for c in d.checks
        )

    def waits_for(self) -> list[str]:
        out = []
        if not self.cloud_ready:
            out.append("its cloud copy" if not self.cloud_where else "the cloud's confirmation")
        if self.discs_expected and not self.discs_ready:
            out.append("its discs")
        return out


@dataclass(frozen=True)
class Waiting:
    """Files on a partition that no set holds yet (new, or changed since they were packed)."""

    partition: str
    files: int
    total_bytes: int
    first_ns: int | None
    last_ns: int | None
    mirrored: int  # of those, present when the last good mirror run started
    last_mirror: str | None  # when that run finished
    fill: float | None
    threshold: float
    names: tuple[str, ...]


@dataclass(frozen=True)
class Household:
    sets: tuple[SetStory, ...]
    waiting: tuple[Waiting, ...]
    unmounted: tuple[str, ...]  # configured partitions whose disk is not there
    written_at: str

    @property
    def all_safe(self) -> bool:
        return bool(self.sets) and all(s.safe for s in self.sets) and not self.waiting


# -- facts ---------------------------------------------------------------------------------


def _latest(catalog: Catalog, subject: str, kind: str) -> tuple[bool | None, str]:
    found = catalog.latest_verification(subject, kind)
    return (None, "") if found is None else (found.ok, _day(found.at))


def _day(iso: str) -> str:
    return iso[:10]


def _month(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%B %Y")


def span(first_ns: int | None, last_ns: int | None) -> str:
    """The months the files are from: "March 2026", "March–May 2026", "May 2019 to March 2026"."""
    if first_ns is None or last_ns is None:
        return "dates not known"
    a, b = (datetime.fromtimestamp(n / 1e9, UTC) for n in (first_ns, last_ns))
    if (a.year, a.month) == (b.year, b.month):
        return _month(first_ns)
    if a.year == b.year:
        return f"{a:%B}–{b:%B} {b.year}"
    return f"{_month(first_ns)} to {_month(last_ns)}"


def years(first_ns: int | None, last_ns: int | None) -> str:
    """For the summary: "2019–2026", or the months when they are all of one year."""
    if first_ns is None or last_ns is None:
        return ""
    a, b = (datetime.fromtimestamp(n / 1e9, UTC).year for n in (first_ns, last_ns))
    return f"{a}–{b}" if a != b else span(first_ns, last_ns)


def size_words(n: int) -> str:
    """As every listing writes it (``3.0 MiB``), but "512 bytes" for the family reader."""
    return f"{n} bytes" if n < 1024 else size(n)


def _disc(catalog: Catalog, image: ImageRecord, now: datetime, burns_wanted: bool) -> Disc:
    subject = f"image:{image.name}"
    label = f"{image.set_name} disc {image.disc_index} of {image.disc_count}"
    kind = image.disc_type.upper()
    checks = []
    verified, when = _latest(catalog, subject, IMAGE_VERIFIED)
    checks.append(Check(verified, {True: f"{kind} image read back and matched ({when})",
                                   False: f"{kind} image did not match when read back ({when}): make it again",
                                   None: f"{kind} image not read back yet"}[verified]))
    burned, when = _latest(catalog, subject, BURNED_READBACK)
    if burned is not None or burns_wanted:
        checks.append(Check(burned, {True: f"burned and read back from the disc ({when})",
                                     False: f"the burned disc did not read back right ({when}): burn it again",
                                     None: "not burned yet"}[burned]))
    done = catalog.disc_checks(image.name.removesuffix(".iso"))
    if not done:
        checks.append(Check(None, "no yearly disc check yet (icefloe discs check)"))
    else:
        last = done[-1]
        when = _day(last.checked_at)
        age = now - datetime.fromisoformat(last.checked_at)
        if not last.ok and last.margin_blocks < 0:
            checks.append(Check(False, f"disc check {when}: damaged beyond repair; make a new disc"))
        elif not last.ok:
            checks.append(Check(False, f"disc check {when}: {last.damaged_blocks} damaged blocks, "
                                       "still repairable; make a new disc soon"))
        elif age > CHECK_EVERY:
            checks.append(Check(False, f"last disc check {when}: over a year ago, check it again"))
        else:
            checks.append(Check(True, f"disc check {when}: every sector reads"))
    ready = verified is True and burned is not False and (burned is True or not burns_wanted)
    return Disc(label, tuple(checks), ready)


def _cloud(catalog: Catalog, set_name: str, settings: Settings) -> tuple[tuple[str, ...], tuple[Check, ...], bool]:
    archives = catalog.archives(set_name=set_name)
    cfg = settings.coldstore
    stored, places = [], []
    for archive in archives:
        copies = [c for c in catalog.copies(archive.name) if not c.deleted_at]
        if copies:
            stored.append(archive)
        for copy in copies:
            if copy.backend == "s3":
                places.append(CLOUD_NAMES[cfg.storage_class] if copy.container == cfg.bucket else "Amazon S3")
            else:
                places.append("an Amazon Glacier vault")
    places = list(dict.fromkeys(places))
    where = _and(places) if places else None
    subjects = [f"archive:{a.name}" for a in archives]

    def every(kind: str) -> tuple[bool | None, str]:
        states = [_latest(catalog, s, kind) for s in subjects]
        if not states or any(ok is None for ok, _ in states):
            return (False if any(ok is False for ok, _ in states) else None), ""
        return all(ok for ok, _ in states), max(when for _, when in states)

    tested, _ = every(TESTZIP)
    checks = [Check(tested, {True: "packed into archives that passed their test",
                             False: "an archive failed its test: it is made again",
                             None: "archives not tested yet"}[tested])]
    if not archives:
        checks.append(Check(None, "not in the cloud yet"))
        return tuple(places), tuple(checks), False
    if len(stored) < len(archives):
        checks.append(Check(None, f"not in the cloud yet ({len(stored)} of {len(archives)} parts uploaded)"))
        return tuple(places), tuple(checks), False
    summed, when = every(SERVER_CHECKSUM)
    checks.append(Check(summed, {True: f"in {where}; the service's checksum matches ({when})",
                                 False: f"in {where}, but the service's checksum differs: it is uploaded again",
                                 None: f"in {where}; the service's checksum not compared yet"}[summed]))
    seen, when = every(INVENTORY_SEEN)
    checks.append(Check(seen, {True: f"confirmed by the cloud's own listing ({when})",
                               False: "missing from the cloud's own listing: it is uploaded again",
                               None: "not yet in the cloud's own listing (it can take a day)"}[seen]))
    return tuple(places), tuple(checks), bool(tested and summed and seen)


def _sets(catalog: Catalog, settings: Settings, now: datetime) -> tuple[list[SetStory], dict[str, set]]:
    """Every set not abandoned, newest files first; and per partition, the (path, size,
    mtime_ns) its sets not cleared hold (each manifest is read once: it is the slow part)."""
    disc_wanted = settings.archive.disc != "none"
    burns_wanted = settings.archive.burner != "none"
    out, live = [], {}
    for aset in catalog.archive_sets():
        run = catalog.last_mirror_run(aset.partition_label)
        if is_abandoned(catalog, aset.name):  # its copies promise nothing; a later set holds its files
            continue
        entries = catalog.manifest(aset.name)
        if aset.cleared_at is None:
            live.setdefault(aset.partition_label, set()).update(
                (e.path, e.size, e.mtime_ns) for e in entries if e.kind == "file")
        files = [e for e in entries if e.kind == "file"]  # as the label pages count them
        images = catalog.images(aset.name)
        clouds, cloud, ready = _cloud(catalog, aset.name, settings)
        out.append(SetStory(
            name=aset.name, partition=aset.partition_label,
            files=len(files) or aset.file_count,
            total_bytes=sum(e.size for e in files) or aset.total_bytes,
            first_ns=min((e.mtime_ns for e in files), default=None),
            last_ns=max((e.mtime_ns for e in files), default=None),
            discs=tuple(_disc(catalog, i, now, burns_wanted) for i in images),
            discs_expected=disc_wanted or bool(images),
            discs_missing=max((i.disc_count for i in images), default=0) - len({i.disc_index for i in images}),
            clouds=clouds, cloud=cloud, cloud_ready=ready, cleared_at=aset.cleared_at,
            mirrored=run is not None and run.ok and run.finished_at >= aset.created_at,
            names=tuple(e.path for e in files),
        ))
    return sorted(out, key=lambda s: (s.last_ns or 0, s.name), reverse=True), live


def _walk(root: Path, sentinel: str) -> Iterator[tuple[str, os.stat_result]]:
    """Every regular file under ``root`` (relative name, lstat), without the partition's own
    sentinel and trash; only stat, never a read."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # an unreadable folder is for `consolidate` to report, not this page
        for entry in entries:
            if folder == root and entry.name in (sentinel, TRASH_DIR):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue  # symlinks and the like: the label pages count files only
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone since the listing (a photo moved while the page is written)
            yield Path(entry.path).relative_to(root).as_posix(), st


def _waiting(catalog: Catalog, settings: Settings, live: dict[str, set]) -> tuple[list[Waiting], list[str]]:
    out, unmounted = [], []
    for part in settings.partitions:
        if not is_mounted(part):
            unmounted.append(part.label)
            continue
        packed = live.get(part.label, set())
        run = catalog.last_mirror_run(part.label)
        mirror_ns = (int(datetime.fromisoformat(run.started_at).timestamp() * 1e9)
                     if run is not None and run.ok else None)
        names, sizes, mtimes, mirrored = [], 0, [], 0
        for rel, st in _walk(Path(part.path), part.sentinel):
            if (rel, st.st_size, st.st_mtime_ns) in packed:
                continue
            names.append(rel)
            sizes += st.st_size
            mtimes.append(st.st_mtime_ns)
            # ctime, not mtime: a copied photo keeps its old mtime but arrives now.
            mirrored += mirror_ns is not None and st.st_ctime_ns <= mirror_ns
        if not names:
            continue
        try:
            fill = partition_fill(part)
        except OSError:
            fill = None
        out.append(Waiting(part.label, len(names), sizes, min(mtimes), max(mtimes), mirrored,
                           _day(run.finished_at) if run is not None and run.ok else None,
                           fill, settings.pipeline.fill_threshold, tuple(sorted(names))))
    return out, unmounted


def gather(catalog: Catalog, settings: Settings, now: datetime | None = None) -> Household:
    """Everything the page says, read once."""
    now = now or datetime.now(UTC)
    sets, live = _sets(catalog, settings, now)
    waiting, unmounted = _waiting(catalog, settings, live)
    return Household(tuple(sets), tuple(waiting), tuple(unmounted), now.strftime("%Y-%m-%d %H:%M UTC"))


# -- words ---------------------------------------------------------------------------------


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _and(items: Sequence[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _places(sets: Sequence[SetStory]) -> str:
    discs = sum(len(s.discs) for s in sets)
    places = [f"on {_n(discs, 'disc')} in the safe"] if discs else []
    clouds = [c for s in sets for c in s.clouds]
    if clouds:
        places.append(f"in {_and(clouds)}")
    return _and(places) if places else "in the cloud"


def _from(first: int | None, last: int | None) -> str:
    text = years(first, last)
    return f" from {text}" if text else ""


def _are(count: int, many: str = "are", one: str = "is") -> str:
    return one if count == 1 else many


def _lead(house: Household) -> str:
    """The first sentence: how many files are safe (on discs and in the cloud), and where."""
    safe = [s for s in house.sets if s.safe]
    everything = (*house.sets, *house.waiting)
    total = sum(x.files for x in everything)
    firsts = [x.first_ns for x in everything if x.first_ns is not None]
    lasts = [x.last_ns for x in everything if x.last_ns is not None]
    whole = _from(min(firsts, default=None), max(lasts, default=None))
    if total == 0:
        return "Nothing is archived yet, and the partitions hold no files."
    if not safe:
        return f"None of the {_n(total, 'file')}{whole} is on discs and in the cloud yet."
    if house.all_safe:
        return f"All {_n(total, 'file')}{whole} {_are(total)} safe: {_places(safe)}."
    part = _from(min((s.first_ns for s in safe if s.first_ns is not None), default=None),
                 max((s.last_ns for s in safe if s.last_ns is not None), default=None))
    those = f"those{part}, " if part != whole else ""
    return f"{sum(s.files for s in safe):,} of {_n(total, 'file')}{whole} are safe: {those}{_places(safe)}."


def _pending(story: SetStory) -> str:
    what = f"{_n(story.files, 'file')}{_from(story.first_ns, story.last_ns)} (set {story.name})"
    if story.cleared_at:
        return (f"{what} {_are(story.files, 'were', 'was')} cleared from the computer once every copy "
                "was checked, but a later check failed: see the crosses below.")
    where = "the computer and the mirror" if story.mirrored else "the computer"
    return (f"{what} {_are(story.files)} packed and still on {where}; waiting for "
            f"{_and(story.waits_for() or ['their checks'])}.")


def _unpacked(wait: Waiting) -> str:
    what = f"{_n(wait.files, 'file')}{_from(wait.first_ns, wait.last_ns)} on {wait.partition}"
    they = "it goes" if wait.files == 1 else "they go"
    full = f" (now {wait.fill:.0%} full; packing starts at {wait.threshold:.0%})" if wait.fill is not None else ""
    later = f"{they} to discs and the cloud when {wait.partition} is full{full}."
    if wait.mirrored == wait.files:
        return f"{what} {_are(wait.files)} only on the computer and the mirror: {later}"
    also = f" ({wait.mirrored:,} of them on the mirror too)" if wait.mirrored else ""
    them = "it" if wait.files == 1 else "them"
    return (f"{what} {_are(wait.files)} only on the computer{also}: the mirror copies {them} at its "
            f"next nightly run, and {later}")


def summary(house: Household) -> list[str]:
    """The page's first sentences: is everything safe, and if not, what is not yet and what next."""
    lines = [_lead(house)]
    lines += [_pending(s) for s in house.sets if not s.safe]
    lines += [_unpacked(w) for w in house.waiting]
    trouble = [s.name for s in house.sets if s.attention]
    if trouble:
        lines.append(f"Needs attention: {_and(trouble)} (see the crosses below).")
    if house.unmounted:
        lines.append(f"{_and(house.unmounted)} {_are(len(house.unmounted))} not mounted, so files not "
                     "yet packed there are not counted.")
    return lines
