"""The page the household shares (`icefloe catalog --format html`): are our photos safe, and where?

``gather`` reads the catalog and the mounted partitions once (``story``); ``render`` turns that
into one self-contained HTML file (``page``). docs/catalog.md describes the page.
"""

from __future__ import annotations

from datetime import datetime

from icefloe.catalog import Catalog
from icefloe.config import Settings
from icefloe.household.page import names_json, render
from icefloe.household.story import Household, SetStory, Waiting, gather, summary

__all__ = ["Household", "SetStory", "Waiting", "gather", "household_page", "names_json", "render", "summary"]


def household_page(catalog: Catalog, settings: Settings, now: datetime | None = None) -> str:
    """The page's HTML text; the caller writes it (atomically: ``fsutil.atomic_write_bytes``)."""
    return render(gather(catalog, settings, now))
