"""The staged part of a clear: plan, stage into the trash, commit, roll back, recover.

A journal naming the files is written first; then they are renamed into
``<partition>/.icefloe-trash/<stamp>/files/`` (inside the partition, so a rename and never a
copy), and each one is read once there and its SHA-256 compared with the manifest's: a file
edited in place (same size and mtime, other bytes) goes back and is kept. ``commit`` purges
them (the one step that cannot be undone), ``rollback`` puts them back, and ``recover``
finishes whatever a crash interrupted. Nothing here checks gates:
``icefloe.clear.PartitionClear`` does, right before staging. Layout and journal format: docs/clear.md.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from icefloe.catalog import CHECKSUM_MIRROR_DUE, Catalog
from icefloe.clear.content import content_problem, put_back
from icefloe.lifecycle import is_abandoned
from icefloe.errors import GateNotMet, IcefloeError
from icefloe.fsutil import atomic_write_bytes

TRASH_DIR = ".icefloe-trash"
FILES_DIR = "files"  # moved files live here, so a partition file named journal.json can't collide
JOURNAL = "journal.json"
JOURNAL_FORMAT = "icefloe-clear-journal"
JOURNAL_VERSION = 1
DEFAULT_SENTINEL = ".icefloe-partition"
# Set in the catalog's meta table when a commit starts marking sets cleared, dropped once the
# partitions were switched (``partitions.finish_handover``): a crash in between still hands over.
HANDOVER_KEY = "handover_after_clear:{label}"


@dataclass(frozen=True)
class PlannedFile:
    path: str  # relative to the partition, "/"-separated
    size: int
    mtime_ns: int
    # The SHA-256s the pending sets recorded for it (files; empty for symlinks): the bytes
    # on the partition must equal one of them before the file may go.
    sha256s: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeptFile:
    path: str
    reason: str


@dataclass(frozen=True)
class ClearPlan:
    label: str
    partition: str
    sets: tuple[str, ...]  # the sets whose manifests the plan covers; marked cleared on commit
    entries: tuple[PlannedFile, ...]
    kept: tuple[KeptFile, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(e.path for e in self.entries)

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)


def _unchanged(st: os.stat_result, kind: str, size: int, mtime_ns: int) -> bool:
    is_kind = stat.S_ISLNK(st.st_mode) if kind == "symlink" else stat.S_ISREG(st.st_mode)
    return is_kind and st.st_size == size and st.st_mtime_ns == mtime_ns


def _unsafe(root: Path, rel: str, sentinel: str, checked: set[str]) -> str | None:
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return "not a plain relative path"
    if rel == sentinel:
        return "the partition's sentinel file"
    if parts[0] == TRASH_DIR:
        return "inside icefloe's trash folder"
    for depth in range(1, len(parts)):
        parent = "/".join(parts[:depth])
        if parent in checked:
            continue
        try:
            st = os.lstat(root / parent)
        except FileNotFoundError:
            return None  # the file is gone too; nothing to do
        if not stat.S_ISDIR(st.st_mode):
            if stat.S_ISLNK(st.st_mode):
                return "inside a symlinked folder"
            return "parent is not a folder"
        checked.add(parent)
    return None


def _walk(root: Path) -> Iterator[str]:
    """Every non-folder entry under root, relative, skipping the trash; symlinks not followed."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(root / rel_dir if rel_dir else root) as entries:
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if entry.is_dir(follow_symlinks=False):
                    if rel != TRASH_DIR:
                        stack.append(rel)
                else:
                    yield rel


def plan_clear(
    partition_path: Path, catalog: Catalog, label: str, sentinel: str = DEFAULT_SENTINEL
) -> ClearPlan:
    """What a clear would remove: manifest files still there unchanged (size and mtime_ns).

    Files in no manifest (written after consolidation), changed since, or whose manifest
    entry has no SHA-256 to check them against are kept, with the reason; the sentinel and
    the trash folder are never touched. Reads only metadata: the content is compared with
    the manifest's SHA-256 when the file is moved (``stage_files``).
    """
    root = Path(partition_path)
    if not (root / sentinel).is_file():
        raise GateNotMet(
            f"{label} not cleared: {root} has no sentinel file {sentinel}; mount the partition "
            "(or restore its sentinel) and try again"
        )
    # An abandoned set's copies are no promise: only live sets' manifests may name a file to go.
    pending = [s for s in catalog.archive_sets(label) if s.cleared_at is None and not is_abandoned(catalog, s.name)]
    expected: dict[str, list[tuple[str, int, int]]] = {}
    hashes: dict[tuple[str, int, int], set[str | None]] = {}
    for aset in pending:
        for entry in catalog.manifest(aset.name):
            if entry.kind in ("file", "symlink"):
                want = (entry.kind, entry.size, entry.mtime_ns)
                expected.setdefault(entry.path, []).append(want)
                hashes.setdefault((entry.path, entry.size, entry.mtime_ns), set()).add(entry.sha256)
    root_dev = os.lstat(root).st_dev
    entries: list[PlannedFile] = []
    kept: list[KeptFile] = []
    checked: set[str] = set()
    for rel in sorted(expected):
        reason = _unsafe(root, rel, sentinel, checked)
        if reason:
            kept.append(KeptFile(rel, reason))
            continue
        try:
            st = os.lstat(root / rel)
        except (FileNotFoundError, NotADirectoryError):
            continue  # already gone: nothing to remove
        sums = tuple(sorted(h for h in hashes.get((rel, st.st_size, st.st_mtime_ns), ()) if h))
        if not any(_unchanged(st, *want) for want in expected[rel]):
            kept.append(KeptFile(rel, "changed since it was archived"))
        elif st.st_dev != root_dev:
            kept.append(KeptFile(rel, "on another filesystem than the partition"))
        elif stat.S_ISREG(st.st_mode) and not sums:
            kept.append(KeptFile(rel, "its manifest entry has no SHA-256 to check it against"))
        else:
            entries.append(PlannedFile(rel, st.st_size, st.st_mtime_ns, sums))
    for rel in sorted(_walk(root)):
        if rel not in expected and rel != sentinel:
            kept.append(KeptFile(rel, "in no archive (written after the archive was made)"))
    return ClearPlan(label, str(root), tuple(s.name for s in pending), tuple(entries), tuple(kept))


# -- staging, commit, rollback -------------------------------------------------------------


@dataclass(frozen=True)
class StagedClear:
    """A clear whose files sit in the trash: commit purges them, rollback puts them back."""

    label: str
    partition: str
    stamp: str
    sets: tuple[str, ...]
    moved: tuple[str, ...]
    kept: tuple[KeptFile, ...] = ()

    @property
    def stamp_dir(self) -> Path:
        return Path(self.partition) / TRASH_DIR / self.stamp

    @classmethod
    def load(cls, partition: Path, stamp: str) -> StagedClear:
        """Rebuild from the journal, e.g. in a transaction hook that only kept the stamp."""
        journal = _read_journal(Path(partition) / TRASH_DIR / stamp)
        return cls(journal["label"], str(partition), stamp, tuple(journal["sets"]),
                   tuple(journal.get("moved", [f["path"] for f in journal["files"]])))


def _write_journal(stamp_dir: Path, journal: dict[str, Any]) -> None:
    atomic_write_bytes(stamp_dir / JOURNAL, json.dumps(journal, indent=1).encode())


def _read_journal(stamp_dir: Path) -> dict[str, Any]:
    path = stamp_dir / JOURNAL
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
        ok = journal.get("format") == JOURNAL_FORMAT and journal.get("version") == JOURNAL_VERSION
    except (OSError, ValueError, AttributeError) as exc:
        raise IcefloeError(f"clear journal {path} is unreadable ({exc}); its files are under "
                           f"{stamp_dir / FILES_DIR}: move them back by hand") from None
    if not ok:
        raise IcefloeError(f"clear journal {path} has an unknown format or version; upgrade "
                           "icefloe or move its files back by hand")
    return journal


def _new_stamp() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}"


def _ancestors(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def stage_files(plan: ClearPlan) -> StagedClear:
    """Move the plan's files into a new trash stamp. Checks no gates (``PartitionClear`` does).

    A file that changed since the plan, or whose bytes differ from every SHA-256 the plan
    carries for it, stays where it is (kept, with the reason). On any error every moved file
    goes back before the error propagates.
    """
    root = Path(plan.partition)
    dirs = {".": os.lstat(root).st_mtime_ns}  # taken before the trash folder changes them
    for entry in plan.entries:
        for parent in _ancestors(entry.path):
            if parent not in dirs:
                dirs[parent] = os.lstat(root / parent).st_mtime_ns
    (root / TRASH_DIR).mkdir(exist_ok=True)
    stamp = _new_stamp()
    stamp_dir = root / TRASH_DIR / stamp
    stamp_dir.mkdir()
    journal: dict[str, Any] = {
        "format": JOURNAL_FORMAT, "version": JOURNAL_VERSION, "state": "staging",
        "label": plan.label, "stamp": stamp, "created_at": datetime.now(timezone.utc).isoformat(),
        "sets": list(plan.sets), "dirs": dirs,
        "files": [{"path": e.path, "size": e.size, "mtime_ns": e.mtime_ns, "sha256": list(e.sha256s)}
                  for e in plan.entries],
    }
    _write_journal(stamp_dir, journal)  # before any move, so a crash can always be undone
    moved: list[str] = []
    kept = list(plan.kept)
    staged = StagedClear(plan.label, plan.partition, stamp, plan.sets, ())
    try:
        for entry in plan.entries:
            src, dst = root / entry.path, stamp_dir / FILES_DIR / entry.path
            try:
                st = os.lstat(src)
            except FileNotFoundError:
                continue
            kind = "symlink" if stat.S_ISLNK(st.st_mode) else "file"
            if not _unchanged(st, kind, entry.size, entry.mtime_ns):
                kept.append(KeptFile(entry.path, "changed since the plan was made"))
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dst)
            if kind == "file":
                problem = content_problem(dst, entry.size, entry.mtime_ns, entry.sha256s)
            elif not _unchanged(os.lstat(dst), kind, entry.size, entry.mtime_ns):
                problem = "changed since the plan was made"
            else:
                problem = None
            if problem:
                renamed = put_back(dst, src, stamp)
                if renamed:
                    problem += f"; a new file took its place, so it was put back as {renamed}"
                kept.append(KeptFile(entry.path, problem))
                continue
            moved.append(entry.path)
        journal.update(state="staged", moved=moved)
        _write_journal(stamp_dir, journal)
    except BaseException:
        rollback_staged(staged)
        raise
    return StagedClear(plan.label, plan.partition, stamp, plan.sets, tuple(moved), tuple(kept))


def _purge(files_dir: Path) -> None:
    """The one irreversible step."""
    if files_dir.exists():
        shutil.rmtree(files_dir)


def _prune(root: Path, paths: Iterable[str]) -> None:
    """Remove folders left empty by the moves; rmdir only, so nothing else can go."""
    parents = {p for rel in paths for p in _ancestors(rel)}
    for parent in sorted(parents, key=lambda p: p.count("/"), reverse=True):
        try:
            os.rmdir(root / parent)
        except OSError:
            pass  # not empty (kept or new files) or already gone


def _drop_stamp(stamp_dir: Path) -> None:
    (stamp_dir / JOURNAL).unlink(missing_ok=True)
    for leftover in sorted(stamp_dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if leftover.is_dir() and not leftover.is_symlink():
            leftover.rmdir()  # only empty folders remain; anything else makes this fail loudly
        elif leftover.name.startswith(f".{JOURNAL}.") and leftover.name.endswith(".part"):
            leftover.unlink()  # a journal write a crash interrupted
    stamp_dir.rmdir()
    try:
        stamp_dir.parent.rmdir()
    except OSError:
        pass  # other stamps remain


def commit_staged(staged: StagedClear, catalog: Catalog) -> None:
    """Purge the staged files, drop emptied folders, mark the sets cleared. Idempotent.

    It also records that the partitions are owed a handover (``HANDOVER_KEY``), so the switch
    to the other partition happens even when a crash stops the clear right after this.
    """
    stamp_dir = staged.stamp_dir
    if not stamp_dir.is_dir():
        sets = [catalog.get_archive_set(name) for name in staged.sets]
        if all(s is not None and s.cleared_at for s in sets):
            return  # committed already
        raise IcefloeError(f"staged clear {staged.stamp} of {staged.label} is no longer in the "
                           "trash (rolled back?), so nothing was committed; run clear again")
    journal = _read_journal(stamp_dir)
    if journal["state"] != "committing":
        journal["state"] = "committing"  # from here on, recovery finishes rather than undoes
        _write_journal(stamp_dir, journal)
    _purge(stamp_dir / FILES_DIR)
    _prune(Path(staged.partition), journal.get("moved", [f["path"] for f in journal["files"]]))
    catalog.set_state(HANDOVER_KEY.format(label=journal["label"]), journal["stamp"])
    # What stays (new files, files edited in place) reaches the mirror byte for byte next time.
    catalog.set_state(CHECKSUM_MIRROR_DUE.format(label=journal["label"]), journal["stamp"])
    for name in journal["sets"]:
        aset = catalog.get_archive_set(name)
        if aset is not None and not aset.cleared_at:
            catalog.mark_set_cleared(name)
    _drop_stamp(stamp_dir)


def rollback_staged(staged: StagedClear) -> tuple[str, ...]:
    """Move every staged file back; returns the paths that could not be restored."""
    stamp_dir, root = staged.stamp_dir, Path(staged.partition)
    if not stamp_dir.is_dir():
        return ()
    if not (stamp_dir / JOURNAL).exists() and not (stamp_dir / FILES_DIR).exists():
        _drop_stamp(stamp_dir)  # a crash before the journal was written: nothing moved
        return ()
    journal = _read_journal(stamp_dir)
    moved = set(journal.get("moved", ()))
    must_exist = journal["state"] == "committing"
    conflicts, lost = [], []
    for item in journal["files"]:
        rel = item["path"]
        src, dst = stamp_dir / FILES_DIR / rel, root / rel
        if os.path.lexists(src):
            if os.path.lexists(dst):
                conflicts.append(rel)  # something new took its place: never overwrite it
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dst)
        elif not os.path.lexists(dst) and (must_exist or rel in moved):
            lost.append(rel)  # purged by a commit that failed later
    if conflicts:
        return tuple(conflicts + lost)
    _drop_stamp(stamp_dir)
    for rel_dir, mtime_ns in sorted(journal.get("dirs", {}).items(), key=lambda d: -len(d[0])):
        path = root if rel_dir == "." else root / rel_dir
        try:
            os.utime(path, ns=(os.lstat(path).st_atime_ns, mtime_ns), follow_symlinks=False)
        except FileNotFoundError:
            pass
    return tuple(lost)


@dataclass(frozen=True)
class Recovery:
    stamp: str
    action: str  # "rolled back" or "committed"
    unrestored: tuple[str, ...] = ()


def recover(partition_path: Path, catalog: Catalog | None = None) -> list[Recovery]:
    """Finish clears a crash interrupted: undo staged ones, complete committing ones.

    Without a catalog a committing clear is purged but its sets stay uncleared in the catalog
    until the next clear marks them.
    """
    trash = Path(partition_path) / TRASH_DIR
    if not trash.is_dir():
        return []
    done = []
    for stamp_dir in sorted(p for p in trash.iterdir() if p.is_dir()):
        stamp = stamp_dir.name
        if (stamp_dir / JOURNAL).exists() and _read_journal(stamp_dir)["state"] == "committing":
            staged = StagedClear.load(Path(partition_path), stamp)
            if catalog is not None:
                commit_staged(staged, catalog)
            else:
                _purge(stamp_dir / FILES_DIR)
                _prune(Path(partition_path), staged.moved)
                _drop_stamp(stamp_dir)
            done.append(Recovery(stamp, "committed"))
        else:
            staged = StagedClear("", str(partition_path), stamp, (), ())  # rollback needs no more
            done.append(Recovery(stamp, "rolled back", rollback_staged(staged)))
    return done
