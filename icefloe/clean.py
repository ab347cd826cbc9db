"""Free work_dir of what cleared sets left there: their archive volumes and disc images.

A set is cleaned only when the catalog records it **cleared** (every gate held: testzip,
cold-storage copies confirmed, discs verified, a fresh mirror; then the partition was
emptied behind it) and each of its volumes still has a cold-storage copy recorded. Only the
files the catalog names as that set's volumes and images are removed, only inside work_dir,
only when their size is the recorded one, never one a file of a set still in progress names
too, and never one another process holds (a reader under ``fsutil.reading``, a writer):
those stay and are reported. Manifests, label pages and the catalog stay.

Each file goes in one unlink, so a clean killed midway leaves every file either whole or
gone, and running it again finishes the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from icefloe.catalog import Catalog
from icefloe.fsutil import _unlocked, remove_unlocked  # the leftover sweep's lock test

VOLUME, IMAGE = "volume", "image"


@dataclass(frozen=True)
class CleanFile:
    set_name: str
    kind: str  # "volume" or "image"
    path: str
    size: int


@dataclass(frozen=True)
class KeptFile:
    set_name: str
    path: str
    reason: str


@dataclass
class CleanResult:
    dry_run: bool
    removed: list[CleanFile] = field(default_factory=list)  # or, in a dry run, would be removed
    kept: list[KeptFile] = field(default_factory=list)
    sets_cleaned: list[str] = field(default_factory=list)
    sets_not_cleared: int = 0

    @property
    def nbytes(self) -> int:
        return sum(f.size for f in self.removed)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _files_of(catalog: Catalog, name: str) -> list[CleanFile]:
    files = [CleanFile(name, VOLUME, a.path, a.size) for a in catalog.archives(set_name=name) if a.path]
    files += [CleanFile(name, IMAGE, i.path, i.size) for i in catalog.images(name) if i.path]
    return files


def _no_copy(catalog: Catalog, name: str) -> list[str]:
    return [a.name for a in catalog.archives(set_name=name) if not catalog.copies(a.name)]


def plan_and_clean(catalog: Catalog, work_dir: Path, *, dry_run: bool = False) -> CleanResult:
    """Remove (or, with ``dry_run``, list) the volumes and disc images of every cleared set."""
    result = CleanResult(dry_run=dry_run)
    sets = catalog.archive_sets()
    cleared = [s for s in sets if s.cleared_at]
    result.sets_not_cleared = len(sets) - len(cleared)
    guarded = {str(Path(f.path).resolve()) for s in sets if not s.cleared_at for f in _files_of(catalog, s.name)}
    for aset in cleared:
        uncopied = _no_copy(catalog, aset.name)
        touched = False
        for item in _files_of(catalog, aset.name):
            path = Path(item.path)
            if not path.is_file() or path.is_symlink():
                continue  # cleaned already (or never kept here)
            reason = _why_keep(path, item, work_dir, guarded, uncopied)
            if reason is None and dry_run and not _unlocked(path):
                reason = "another process holds it"
            if reason is None and not dry_run and not remove_unlocked(path):
                reason = "another process holds it" if path.exists() else None
                if reason is None:
                    continue  # gone meanwhile
            if reason is not None:
                result.kept.append(KeptFile(aset.name, item.path, reason))
                continue
            result.removed.append(item)
            touched = True
        if touched:
            result.sets_cleaned.append(aset.name)
            if not dry_run:
                _drop_empty_folders(catalog, aset.name, work_dir)
    return result


def _why_keep(path: Path, item: CleanFile, work_dir: Path, guarded: set[str], uncopied: list[str]) -> str | None:
    if not _inside(path, work_dir):
        return f"outside work_dir {work_dir}"
    if str(path.resolve()) in guarded:
        return "a set not cleared names it too"
    if uncopied:
        return f"no cold-storage copy recorded of {', '.join(uncopied)}"
    if path.stat().st_size != item.size:
        return f"{path.stat().st_size} bytes, not the {item.size} recorded"
    return None


def _drop_empty_folders(catalog: Catalog, name: str, work_dir: Path) -> None:
    """The set's own folders, once nothing is left in them (never work_dir itself)."""
    folders = {Path(f.path).parent for f in _files_of(catalog, name)}
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.resolve() == work_dir.resolve() or not _inside(folder, work_dir):
            continue
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
