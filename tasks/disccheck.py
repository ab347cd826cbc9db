"""The yearly disc check as stages: which discs are due, and one disc read and recorded."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prefect.cache_policies import NO_CACHE

from icefloe.catalog import Catalog, DiscCheck
from icefloe.disc.check import DueDisc, check_disc, due_discs, record_check
from tasks.common import settings_for, stage


@stage(name="discs-due", task_run_name="discs due", cache_policy=NO_CACHE)
def discs_due_task(config: str | None, older_than_days: float) -> list[DueDisc]:
    """The discs not checked within ``older_than_days``, oldest check first."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        return due_discs(catalog, every=timedelta(days=older_than_days))


@stage(name="check-disc", task_run_name="check disc {path}", cache_policy=NO_CACHE)
def check_disc_task(path: str, config: str | None) -> DiscCheck:
    """Read one disc (or image, or mounted folder) end to end and record the result."""
    settings = settings_for(config)
    result = check_disc(Path(path))  # minutes of reading: the catalog is opened after it
    with Catalog.open(settings.catalog_path) as catalog:
        return record_check(catalog, result)
