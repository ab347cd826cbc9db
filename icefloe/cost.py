"""What the stored copies cost each month, by storage class, in plain numbers.

The prices are AWS's us-east-1 list prices for storage, in USD per GB-month (AWS bills per GB
of 2^30 bytes), taken on ``PRICES_TAKEN`` from https://aws.amazon.com/s3/pricing/ and
https://aws.amazon.com/s3/glacier/pricing/. ``[cost] prices`` in icefloe.toml overrides any of
them (another region, a newer price list); keys not given keep the table's value.

| key | what | USD per GB-month |
|---|---|---|
| ``DEEP_ARCHIVE`` | S3 Glacier Deep Archive | 0.00099 |
| ``GLACIER`` | S3 Glacier Flexible Retrieval (storage class) | 0.0036 |
| ``GLACIER_IR`` | S3 Glacier Instant Retrieval | 0.004 |
| ``STANDARD`` | S3 Standard (the catalog snapshots) | 0.023 |
| ``VAULT`` | a Glacier vault (the original API) | 0.0036 |

Per archived object S3 adds 32 KiB billed at its archive class and 8 KiB at STANDARD (its
index); a vault adds 32 KiB per archive. Those overheads are counted. Requests, retrievals
and early deletion are not: an icefloe set has a handful of archives, and retrievals are
estimated before they start (icefloe/restore/cost.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from icefloe.catalog import Catalog

GB = 1 << 30
KIB = 1024
PRICES_TAKEN = "2026-12-01"
DEFAULT_PRICES: dict[str, float] = {
    "DEEP_ARCHIVE": 0.00099,
    "GLACIER": 0.0036,
    "GLACIER_IR": 0.004,
    "STANDARD": 0.023,
    "VAULT": 0.0036,
}
ARCHIVE_CLASSES = ("DEEP_ARCHIVE", "GLACIER")  # the classes with per-object overhead in S3
ARCHIVE_OVERHEAD = 32 * KIB  # billed at the archive class (S3) or the vault price
INDEX_OVERHEAD = 8 * KIB  # S3 only: billed at STANDARD
SNAPSHOT_RECORDS = "snapshots:"  # meta keys of the stored catalog snapshots (coldstore/snapshots.py)


@dataclass(frozen=True)
class ClassCost:
    """What one storage class holds and costs each month."""

    storage_class: str
    objects: int
    stored_bytes: int  # the data itself
    billed_bytes: int  # with AWS's per-object overhead
    usd_per_gb_month: float
    what: str  # "archives", "catalog snapshots", or both

    @property
    def usd_per_month(self) -> float:
        return self.billed_bytes / GB * self.usd_per_gb_month

    def to_json(self) -> dict:
        return {
            "storage_class": self.storage_class, "objects": self.objects, "stored_bytes": self.stored_bytes,
            "billed_bytes": self.billed_bytes, "usd_per_gb_month": self.usd_per_gb_month,
            "usd_per_month": round(self.usd_per_month, 6), "what": self.what,
        }


def prices(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The table, with the configured overrides applied."""
    return {**DEFAULT_PRICES, **(overrides or {})}


class _Tally:
    def __init__(self) -> None:
        self.objects: dict[str, int] = {}
        self.stored: dict[str, int] = {}
        self.billed: dict[str, int] = {}
        self.what: dict[str, set[str]] = {}

    def add(self, cls: str, size: int, billed: int, what: str) -> None:
        self.objects[cls] = self.objects.get(cls, 0) + (1 if what else 0)
        self.stored[cls] = self.stored.get(cls, 0) + size
        self.billed[cls] = self.billed.get(cls, 0) + billed
        self.what.setdefault(cls, set()).update({what} if what else set())

    def add_object(self, backend: str, cls: str, size: int, what: str) -> None:
        if backend != "s3":
            self.add("VAULT", size, size + ARCHIVE_OVERHEAD, what)
        elif cls in ARCHIVE_CLASSES:
            self.add(cls, size, size + ARCHIVE_OVERHEAD, what)
            self.add("STANDARD", 0, INDEX_OVERHEAD, "")
        else:
            self.add(cls, size, size, what)


def storage_costs(catalog: Catalog, s3_storage_class: str, overrides: Mapping[str, float] | None = None) -> list[ClassCost]:
    """Every copy the catalog holds in cold storage (not deleted) and every catalog snapshot
    it recorded, grouped by storage class. S3 archive copies are counted in
    ``s3_storage_class`` (the configured one: the catalog does not record a copy's class)."""
    table, tally = prices(overrides), _Tally()
    for copy in catalog.copies():
        tally.add_object(copy.backend, s3_storage_class, copy.size, "archives")
    for key, backend in _snapshot_keys(catalog):
        try:
            stored = json.loads(catalog.get_state(key) or "[]")
        except ValueError:
            continue
        for snap in stored:
            tally.add_object(backend, "STANDARD", int(snap.get("size", 0)), "catalog snapshots")
    order = list(DEFAULT_PRICES) + sorted(set(tally.billed) - set(DEFAULT_PRICES))
    return [
        ClassCost(cls, tally.objects[cls], tally.stored[cls], tally.billed[cls], table.get(cls, 0.0),
                  " and ".join(sorted(tally.what[cls])) or "index overhead")
        for cls in order if cls in tally.billed
    ]


def _snapshot_keys(catalog: Catalog) -> list[tuple[str, str]]:
    with catalog.transaction() as conn:
        rows = conn.execute("SELECT key FROM meta WHERE key LIKE ?", (SNAPSHOT_RECORDS + "%",)).fetchall()
    return [(r[0], r[0].split(":")[1]) for r in rows]


def monthly_total(costs: list[ClassCost]) -> float:
    return sum(c.usd_per_month for c in costs)
