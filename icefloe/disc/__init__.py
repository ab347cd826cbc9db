"""Disc images (pycdlib), capacity fit, burning (xorriso) and read-back verification.

    plan = plan_tree(folder, "bd-r")                    # or plan_discs(volumes, "dvd+r", ...)
    info = build_image(plan, out / plan.image_name)     # atomic; sidecar <image>.json
    verify_image(info.path, info.checksums)             # every file back through UDF
    burn_and_verify(info.path, "/dev/sr0")              # or "stdio:/path/file"

The formats (disc layout, restore kit, image sidecar) are in docs/disc.md.
"""

from icefloe.disc.burn import (
    BurnMismatch,
    BurnResult,
    DeviceBusy,
    MediumTooSmall,
    NoMedium,
    burn,
    burn_and_verify,
    classify,
    read_back,
    verify_burn,
)
from icefloe.disc.capacity import DISC_CAPACITY, DISC_SECTORS, SECTOR, volume_size_for
from icefloe.disc.entries import DiscEntry, DiscPlan, scan_tree
from icefloe.disc.image import ImageInfo, build_image, read_sidecar, verify_image
from icefloe.disc.plan import plan_discs, plan_tree

__all__ = [
    "DISC_CAPACITY", "DISC_SECTORS", "SECTOR", "BurnMismatch", "BurnResult", "DeviceBusy",
    "DiscEntry", "DiscPlan", "ImageInfo", "MediumTooSmall", "NoMedium", "build_image", "burn",
    "burn_and_verify", "classify", "plan_discs", "plan_tree", "read_back", "read_sidecar",
    "scan_tree", "verify_burn", "verify_image", "volume_size_for",
]
