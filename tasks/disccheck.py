"""The yearly disc check as stages: which discs are due, and one disc read and recorded."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.cache_policies import NO_CACHE

from icefloe.catalog import Catalog
from icefloe.disc.check import check_disc, discs_due, record_check
from tasks.common import settings_for, stage


@stage(name="discs-due", task_run_name="discs due", cache_policy=NO_CACHE)
def discs_due_task(config: str | None, older_than_days: float) -> list[dict[str, Any]]:
    """The discs not checked within ``older_than_days``, oldest check first."""
    settings = settings_for(config)
    with Catalog.open(settings.catalog_path) as catalog:
        return discs_due(catalog, every=timedelta(days=older_than_days))


@stage(name="check-disc", task_run_name="check disc {path}", cache_policy=NO_CACHE)
def check_disc_task(path: str, config: str | None) -> dict[str, Any]:
    """Read one disc (or image, or mounted folder) end to end and record the result."""
    settings = settings_for(config)
    result = check_disc(Path(path))  # minutes of reading: the catalog is opened after it
    with Catalog.open(settings.catalog_path) as catalog:
        return asdict(record_check(catalog, result))
