"""What a retrieval will cost and how long it takes, shown before it starts.

Prices come from ``restore.prices`` in icefloe.toml (USD per GB retrieved, keyed
``"s3:<storage class>:<tier>"`` or ``"glacier:<tier>"``); AWS bills per GB of 2^30 bytes.
Request fees (cents per thousand) are left out: an icefloe set has a handful of archives.
Typical times are AWS's published ranges (FACTS.md):
https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects-retrieval-options.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from icefloe.errors import UsageError

GB = 1 << 30
TIERS = ("Expedited", "Standard", "Bulk")

# (backend, storage class or "", tier) -> typical time until the data is readable.
TYPICAL_TIME = {
    ("glacier", "", "Expedited"): "1-5 minutes",
    ("glacier", "", "Standard"): "3-5 hours",
    ("glacier", "", "Bulk"): "5-12 hours",
    ("s3", "GLACIER", "Expedited"): "1-5 minutes",
    ("s3", "GLACIER", "Standard"): "3-5 hours",
    ("s3", "GLACIER", "Bulk"): "5-12 hours",
    ("s3", "DEEP_ARCHIVE", "Standard"): "up to 12 hours",
    ("s3", "DEEP_ARCHIVE", "Bulk"): "up to 48 hours",
}
# Readable without a restore: the estimate is the download alone.
INSTANT_CLASSES = ("STANDARD", "GLACIER_IR")


@dataclass(frozen=True)
class Estimate:
    backend: str
    storage_class: str | None
    tier: str
    archives: int
    nbytes: int
    price_key: str
    usd_per_gb: float | None  # None: no price for this key in the configuration
    typical_time: str

    @property
    def usd(self) -> float | None:
        return None if self.usd_per_gb is None else self.nbytes / GB * self.usd_per_gb

    def describe(self) -> str:
        """One line for a person: what, how much, how long."""
        size = f"{self.nbytes / GB:.2f} GB" if self.nbytes >= GB / 100 else f"{self.nbytes:,} bytes"
        what = f"{self.archives} archive{'s' if self.archives != 1 else ''}, {size}"
        if self.usd is None:
            cost = f"cost unknown (no restore.prices entry {self.price_key!r})"
        else:
            cost = f"about ${self.usd:.2f} at ${self.usd_per_gb:g}/GB"
        return f"retrieving {what} with tier {self.tier} ({self.price_key}): {cost}; typically {self.typical_time}"

    def to_json(self) -> dict:
        return {
            "backend": self.backend, "storage_class": self.storage_class, "tier": self.tier,
            "archives": self.archives, "bytes": self.nbytes, "price_key": self.price_key,
            "usd_per_gb": self.usd_per_gb, "usd": self.usd, "typical_time": self.typical_time,
        }


def price_key(backend: str, storage_class: str | None, tier: str) -> str:
    return f"glacier:{tier}" if backend == "glacier" else f"s3:{storage_class}:{tier}"


def check_tier(backend: str, storage_class: str | None, tier: str) -> None:
    if tier not in TIERS:
        raise UsageError(f"the tier must be one of {', '.join(TIERS)}, not {tier!r}")
    if backend == "s3" and storage_class == "DEEP_ARCHIVE" and tier == "Expedited":
        raise UsageError(
            "S3 Deep Archive has no Expedited tier: use --tier Standard (up to 12 hours) "
            "or Bulk (up to 48 hours)"
        )


def estimate(
    backend: str,
    storage_class: str | None,
    tier: str,
    sizes: list[int],
    prices: Mapping[str, float],
) -> Estimate:
    """The estimate for retrieving archives of ``sizes`` bytes."""
    storage_class = storage_class if backend == "s3" else None
    check_tier(backend, storage_class, tier)
    key = price_key(backend, storage_class, tier)
    if backend == "s3" and storage_class in INSTANT_CLASSES:
        return Estimate(backend, storage_class, tier, len(sizes), sum(sizes), key, 0.0,
                        "at once (no restore needed)")
    typical = TYPICAL_TIME.get((backend, storage_class or "", tier), "unknown")
    return Estimate(backend, storage_class, tier, len(sizes), sum(sizes), key, prices.get(key), typical)
