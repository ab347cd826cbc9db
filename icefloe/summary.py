"""The weekly summary the household gets: is everything safe, what was archived this week, and
what the cloud copies cost each month.

It is the household page's first sentences (icefloe/household), then the week's new sets,
the storage bill in plain numbers (icefloe/cost.py) and the discs due their yearly check.
The weekly-summary flow emits it as a Prefect event; the "icefloe: weekly summary" automation
sends it to the configured channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icefloe.catalog import Catalog
from icefloe.config import Settings
from icefloe.cost import PRICES_TAKEN, monthly_total, storage_costs
from icefloe.disc.check import discs_due
from icefloe.household.story import gather, size_words, summary
from icefloe.lifecycle import is_abandoned

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Summary:
    subject: str
    body: str


def weekly_summary(catalog: Catalog, settings: Settings, now: datetime | None = None) -> Summary:
    now = now or datetime.now(UTC)
    house = gather(catalog, settings, now)
    lines = summary(house)
    new = [s for s in catalog.archive_sets()
           if s.created_at and now - datetime.fromisoformat(s.created_at) <= WEEK
           and not is_abandoned(catalog, s.name)]
    if new:
        files = sum(s.file_count for s in new)
        size = size_words(sum(s.total_bytes for s in new))
        lines.append(f"This week {len(new)} set(s) were archived: {files:,} files, {size} "
                     f"({', '.join(s.name for s in new)}).")
    else:
        lines.append("Nothing new was archived this week.")
    costs = storage_costs(catalog, settings.coldstore.storage_class, settings.cost.prices)
    if costs:
        stored = size_words(sum(c.stored_bytes for c in costs))
        lines.append(f"The cloud copies hold {stored} and cost about ${monthly_total(costs):.2f} a month "
                     f"(list prices of {PRICES_TAKEN}; `icefloe status` has them by storage class).")
    due = discs_due(catalog, now)
    if due:
        lines.append(f"{len(due)} disc(s) in the safe are due their yearly check: run the "
                     "yearly-disc-check deployment, or `icefloe discs check` with each disc.")
    subject = ("icefloe weekly: everything is safe" if house.all_safe
               else "icefloe weekly: some files are not on discs and in the cloud yet")
    return Summary(subject, "\n".join(lines))
