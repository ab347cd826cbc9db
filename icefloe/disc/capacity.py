"""Disc capacities, and the archive volume size that fits one disc with its companions.

Capacities are the recordable sectors of each medium (FACTS.md), 2048 bytes each. The
consolidation step asks ``volume_size_for`` how large to make each 7z volume so that one volume
plus the manifest, RESTORE.txt, SHA256SUMS.txt and the ISO 9660 / Joliet / Rock Ridge / UDF
metadata fit one disc. ``tests/disc/test_capacity.py`` proves the answer by laying out a
full-size disc with pycdlib for every type.
"""

from __future__ import annotations

from icefloe.errors import TooLarge, UsageError

SECTOR = 2048
MIB = 1024 * 1024

DISC_SECTORS: dict[str, int] = {
    "dvd+r": 2_295_104,
    "dvd-r": 2_298_496,
    "dvd+r-dl": 4_173_824,
    "dvd-r-dl": 4_171_712,
    "bd-r": 12_219_392,
    "bd-r-dl": 24_438_784,
}
DISC_CAPACITY: dict[str, int] = {name: sectors * SECTOR for name, sectors in DISC_SECTORS.items()}

# A disc of a few files measures 274 sectors of metadata (volume descriptors, path tables,
# three directory trees, UDF anchors); 1 MiB leaves room for hundreds of files.
METADATA_BUDGET = MIB
# RESTORE.txt and SHA256SUMS.txt together; they grow by about 100 bytes per volume.
RESTORE_KIT_BUDGET = 256 * 1024
# Each extra file the caller reserves for may waste up to one sector to rounding.
EXTRA_FILES_SLACK = 8 * SECTOR
# The least PAR2 recovery data each disc of a set carries, as a share of its data
# (archive.disc_redundancy); the recovery data fills whatever room is left beyond it.
DEFAULT_REDUNDANCY = 0.10


def sectors_for(nbytes: int) -> int:
    return -(-nbytes // SECTOR)


def check_disc_type(disc_type: str) -> str:
    """The disc type itself, or UsageError listing the known ones."""
    if disc_type not in DISC_SECTORS:
        known = ", ".join(DISC_SECTORS)
        hint = " (archive.disc = \"none\" means no discs are made)" if disc_type == "none" else ""
        raise UsageError(f"unknown disc type {disc_type!r}: use one of {known}{hint}")
    return disc_type


def capacity_sectors(disc_type: str, capacity: int | None = None) -> int:
    """Sectors one disc holds: the disc type's, or ``capacity`` bytes when given (tests)."""
    check_disc_type(disc_type)
    if capacity is not None:
        if capacity < 1024 * SECTOR:
            raise UsageError(f"a capacity of {capacity} bytes is too small for any disc image")
        return capacity // SECTOR
    return DISC_SECTORS[disc_type]


def volume_size_for(disc_type: str, reserve_bytes: int = 0, redundancy: float = DEFAULT_REDUNDANCY) -> int:
    """Bytes per archive volume so that one volume fits one disc of ``disc_type``.

    ``reserve_bytes`` is the total size of the other files every disc carries (the manifest
    sidecar); RESTORE.txt, SHA256SUMS.txt, the file-system metadata and the least PAR2
    recovery data (``redundancy`` of the disc's data) are accounted for here.
    The result is a whole number of MiB.
    """
    total = DISC_CAPACITY[check_disc_type(disc_type)]
    if reserve_bytes < 0:
        raise UsageError("reserve_bytes cannot be negative")
    fixed = METADATA_BUDGET + RESTORE_KIT_BUDGET + EXTRA_FILES_SLACK
    room = total - fixed - sectors_for(reserve_bytes) * SECTOR
    size = room // MIB * MIB
    if redundancy > 0:
        from icefloe.disc.recovery import recovery_min_bytes

        size = int(room / (1 + redundancy)) // MIB * MIB
        # Each small file costs a whole recovery block; one more file is the margin.
        names = ["volume", "manifest", "RESTORE.txt", "SHA256SUMS.txt", "margin"]
        while size >= MIB and size + recovery_min_bytes(
            [size, reserve_bytes, RESTORE_KIT_BUDGET, 1, 1], names, redundancy
        ) > room - 2 * EXTRA_FILES_SLACK:
            size -= MIB
    if size < MIB:
        raise TooLarge(
            f"{reserve_bytes} bytes of manifest leave no room for archive data on a {disc_type}; "
            "use a larger disc type"
        )
    return size


def smallest_fitting(nbytes: int) -> str | None:
    """The smallest disc type whose capacity exceeds ``nbytes`` plus the fixed overhead."""
    need = nbytes + METADATA_BUDGET + RESTORE_KIT_BUDGET
    fitting = [t for t, cap in sorted(DISC_CAPACITY.items(), key=lambda kv: kv[1]) if cap >= need]
    return fitting[0] if fitting else None
