"""The estimate shown before a retrieval starts."""

from __future__ import annotations

import pytest

from icefloe.config import RestoreConfig
from icefloe.errors import UsageError
from icefloe.restore import estimate
from icefloe.restore.cost import GB

PRICES = RestoreConfig().prices


def test_deep_archive_bulk_prices_each_gb_and_names_the_wait() -> None:
    est = estimate("s3", "DEEP_ARCHIVE", "Bulk", [3 * GB, GB], PRICES)
    assert est.price_key == "s3:DEEP_ARCHIVE:Bulk" and est.nbytes == 4 * GB
    assert est.usd == pytest.approx(4 * 0.0025)
    line = est.describe()
    assert "2 archives, 4.00 GB" in line and "$0.01" in line and "up to 48 hours" in line


def test_a_vault_ignores_the_storage_class_and_a_missing_price_says_so() -> None:
    est = estimate("glacier", "DEEP_ARCHIVE", "Expedited", [GB], {})
    assert est.price_key == "glacier:Expedited" and est.usd is None
    assert "no restore.prices entry 'glacier:Expedited'" in est.describe() and "1-5 minutes" in est.describe()


def test_deep_archive_has_no_expedited_tier_and_tiers_are_checked() -> None:
    with pytest.raises(UsageError, match="no Expedited tier"):
        estimate("s3", "DEEP_ARCHIVE", "Expedited", [1], PRICES)
    with pytest.raises(UsageError, match="one of Expedited, Standard, Bulk"):
        estimate("glacier", None, "Fast", [1], PRICES)


def test_objects_readable_at_once_cost_no_retrieval() -> None:
    est = estimate("s3", "STANDARD", "Bulk", [GB], PRICES)
    assert est.usd == 0 and est.typical_time.startswith("at once")
