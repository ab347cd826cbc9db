"""Consolidation: a full partition becomes one 7z archive (in disc-sized volumes if asked)
with a manifest, encrypted when a password is configured, tested before success is reported.

    result = consolidate(Path("/mnt/backup-a"), work_dir / "archives", label="photos-a",
                         password=pw, volume_size=lambda reserve: volume_size_for("dvd+r", reserve),
                         catalog=catalog)   # checked first, the set recorded in one transaction
    test_archive(result.volumes[0].path, pw)   # testzip, later, on every core

The archive layout and restore steps are in docs/archive.md, the manifest in docs/manifest.md.
"""

from icefloe.archive.check import test_archive, volume_paths
from icefloe.archive.consolidation import (
    ArchiveVolume,
    Consolidation,
    VolumeSizer,
    consolidate,
    record_consolidation,
    set_name_for,
)
from icefloe.archive.scan import MEDIA_EXTENSIONS, Entry, classify, scan_partition
from icefloe.archive.sizing import VolumePlan, volume_plan

__all__ = [
    "MEDIA_EXTENSIONS", "ArchiveVolume", "Consolidation", "Entry", "VolumePlan", "VolumeSizer",
    "classify", "consolidate", "record_consolidation", "scan_partition", "set_name_for",
    "test_archive", "volume_paths", "volume_plan",
]
