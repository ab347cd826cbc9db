"""How large each archive volume is: one disc's share, from the configured disc type.

Each disc carries one volume plus the manifest sidecar, RESTORE.txt and SHA256SUMS.txt;
``icefloe.disc.volume_size_for`` knows the disc's exact capacity and overheads, and the
manifest's size is known once the partition has been scanned, so the volume size is a
function of it (``VolumeSizer``) that ``consolidate`` calls after its scan.
"""

from __future__ import annotations

from dataclasses import dataclass

from icefloe.config import MIB, ArchiveConfig
from icefloe.errors import ConfigInvalid


@dataclass(frozen=True)
class VolumePlan:
    """What ``consolidate`` gets: a volume size (or its function), and the disc that bounds
    the archive when it is not split."""

    disc: str
    fixed: int | None  # archive.volume_size_mib in bytes
    redundancy: float = 0.10  # archive.disc_redundancy: each disc keeps room for its PAR2 data

    def __call__(self, manifest_bytes: int) -> int:
        from icefloe.disc import volume_size_for

        room = volume_size_for(self.disc, manifest_bytes, self.redundancy)
        if self.fixed is None:
            return room
        if self.fixed > room:
            raise ConfigInvalid(
                f"archive.volume_size_mib = {self.fixed // MIB} does not fit a {self.disc} with "
                f"its manifest and restore kit: use at most {room // MIB}, or leave it unset"
            )
        return self.fixed


def volume_plan(archive: ArchiveConfig, *, split: bool = True) -> tuple[int | VolumePlan | None, int | None]:
    """(``volume_size``, ``disc_capacity``) arguments of ``consolidate`` for these settings.

    - a disc type, split (the default): one volume per disc, sized after the scan;
    - a disc type, not split: one archive file, refused when one disc cannot hold it;
    - no disc (``disc = "none"``): ``volume_size_mib`` if set, else a single file.
    """
    fixed = archive.volume_size_mib * MIB if archive.volume_size_mib else None
    if archive.disc == "none":
        return (fixed if split else None), None
    if not split:
        from icefloe.disc import DISC_CAPACITY

        return None, DISC_CAPACITY[archive.disc]
    return VolumePlan(archive.disc, fixed, archive.disc_redundancy), None
