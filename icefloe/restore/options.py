"""How a restore downloads and waits: sizes, concurrency and polling, with their bounds.

The values come from ``[restore]`` in icefloe.toml where the configuration has them, else
from the defaults here (:func:`restore_options`). Memory of a download is
``(download_concurrency + 1) x range_size`` bytes of range buffers (160 MiB with the
defaults): each range is received into a buffer, checked and written from it, and the file
is hashed in order (from that buffer, or read back into one more); disk use is the archive's
size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from icefloe.errors import UsageError
from icefloe.treehash import MIB

# Tree hashes combine only over ranges of 1 MiB x 2^n that start on a multiple of their size
# (icefloe.treehash); AWS sends x-amz-sha256-tree-hash only for such ranges.
# https://docs.aws.amazon.com/amazonglacier/latest/dev/checksum-calculations.html#checksum-calculations-range
MAX_RANGE = 4096 * MIB


@dataclass(frozen=True)
class RestoreOptions:
    range_size: int = 32 * MIB  # bytes per GetJobOutput/GetObject range; 1 MiB x 2^n
    download_concurrency: int = 4  # ranges in flight per archive
    poll_first_s: float = 1.0  # the first look at a job; then doubled each time...
    poll_max_s: float = 900.0  # ...up to this: a few dozen requests over a 12-hour wait
    wait_timeout_s: float = 72 * 3600.0  # Deep Archive Bulk takes up to 48 h
    keep_downloads: bool = False  # keep the downloaded volumes after a verified restore

    def __post_init__(self) -> None:
        size = self.range_size
        if size < MIB or size > MAX_RANGE or size % MIB or (size // MIB) & (size // MIB - 1):
            raise UsageError(f"the download range size must be 1 MiB x 2^n (1 to 4096 MiB), not {size} bytes")
        if self.download_concurrency < 1:
            raise UsageError("download_concurrency must be at least 1")
        if self.poll_first_s <= 0 or self.poll_max_s < self.poll_first_s:
            raise UsageError("poll intervals must be positive, the first no longer than the longest")

    def with_changes(self, **changes: Any) -> RestoreOptions:
        return replace(self, **changes)


def restore_options(cfg: Any = None, **overrides: Any) -> RestoreOptions:
    """Options from a ``RestoreConfig`` (fields it lacks keep their defaults), then overrides."""
    values: dict[str, Any] = {}
    if cfg is not None:
        mib = getattr(cfg, "range_size_mib", None)
        if mib is not None:
            values["range_size"] = int(mib) * MIB
        for name in ("download_concurrency", "poll_first_s", "poll_max_s", "keep_downloads"):
            value = getattr(cfg, name, None)
            if value is not None:
                values[name] = value
        hours = getattr(cfg, "wait_timeout_h", None)
        if hours is not None:
            values["wait_timeout_s"] = float(hours) * 3600.0
    values.update({k: v for k, v in overrides.items() if v is not None})
    return RestoreOptions(**values)
