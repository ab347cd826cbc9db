"""Monthly storage cost by storage class: the price table, its overrides, and `icefloe status`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from icefloe.catalog import Catalog, CopyRecord
from icefloe.config import load_settings
from icefloe.cost import ARCHIVE_OVERHEAD, DEFAULT_PRICES, GB, INDEX_OVERHEAD, PRICES_TAKEN, monthly_total, storage_costs
from icefloe.errors import ConfigInvalid
from helpers import icefloe, one_line_error

TB = 1000 * GB


def _catalog(tmp_path: Path) -> Catalog:
    catalog = Catalog.open(tmp_path / "work" / "catalog.sqlite")
    catalog.put_copy(CopyRecord("s3", "family", "icefloe/a.7z.001", "{}", 2 * TB, "a.7z.001"))
    catalog.put_copy(CopyRecord("s3", "family", "icefloe/a.7z.002", "{}", TB, "a.7z.002"))
    catalog.put_copy(CopyRecord("glacier", "old-vault", "vault-id-1", "{}", TB, "b.7z.001"))
    catalog.put_copy(CopyRecord("s3", "family", "icefloe/gone.7z", "{}", 5 * TB, "gone.7z"))
    catalog.mark_copy_deleted("s3", "family", "icefloe/gone.7z")  # no longer billed
    catalog.set_state("snapshots:s3:family", json.dumps([
        {"name": "icefloe-catalog-1.7z", "remote_id": "catalog/1", "size": 3 * GB, "created": ""},
        {"name": "icefloe-catalog-2.7z", "remote_id": "catalog/2", "size": GB, "created": ""},
    ]))
    return catalog


def test_costs_by_class_count_every_live_copy_snapshot_and_overhead(tmp_path: Path) -> None:
    with _catalog(tmp_path) as catalog:
        costs = {c.storage_class: c for c in storage_costs(catalog, "DEEP_ARCHIVE")}
    assert list(costs) == ["DEEP_ARCHIVE", "STANDARD", "VAULT"]
    deep, standard, vault = costs["DEEP_ARCHIVE"], costs["STANDARD"], costs["VAULT"]
    assert (deep.objects, deep.stored_bytes, deep.billed_bytes) == (2, 3 * TB, 3 * TB + 2 * ARCHIVE_OVERHEAD)
    assert deep.usd_per_month == pytest.approx(3000 * 0.00099, rel=1e-6)  # $2.97 for 3 TB
    assert (standard.objects, standard.stored_bytes) == (2, 4 * GB)
    assert standard.billed_bytes == 4 * GB + 2 * INDEX_OVERHEAD  # the archives' S3 index
    assert standard.usd_per_month == pytest.approx(4 * 0.023, rel=1e-5)
    assert standard.what == "catalog snapshots"
    assert (vault.objects, vault.stored_bytes, vault.usd_per_gb_month) == (1, TB, 0.0036)
    assert vault.usd_per_month == pytest.approx(3.6, rel=1e-6)
    assert monthly_total(list(costs.values())) == pytest.approx(2.97 + 0.092 + 3.6, rel=1e-5)


def test_configured_prices_replace_only_their_keys(tmp_path: Path) -> None:
    (tmp_path / "icefloe.toml").write_text("[cost]\nprices = { DEEP_ARCHIVE = 0.0018 }\n")
    settings = load_settings(tmp_path / "icefloe.toml", environ={})
    with _catalog(tmp_path) as catalog:
        costs = {c.storage_class: c for c in storage_costs(catalog, "GLACIER", settings.cost.prices)}
    assert "DEEP_ARCHIVE" not in costs  # the configured class is GLACIER now
    assert costs["GLACIER"].usd_per_gb_month == DEFAULT_PRICES["GLACIER"]
    with _catalog(tmp_path) as catalog:
        deep = storage_costs(catalog, "DEEP_ARCHIVE", settings.cost.prices)[0]
    assert deep.usd_per_gb_month == 0.0018 and deep.usd_per_month == pytest.approx(3000 * 0.0018, rel=1e-6)


@pytest.mark.parametrize("toml, needle", [
    ("[cost]\nprices = { DEEP = 0.1 }\n", "cost.prices: 'DEEP' is not one of"),
    ("[cost]\nprices = { STANDARD = -1.0 }\n", "not negative"),
])
def test_bad_prices_are_refused_naming_the_key(tmp_path: Path, toml: str, needle: str) -> None:
    (tmp_path / "icefloe.toml").write_text(toml)
    with pytest.raises(ConfigInvalid, match=needle):
        load_settings(tmp_path / "icefloe.toml", environ={})


def test_status_shows_the_cost_in_80_columns_and_json(workspace: Path) -> None:
    _catalog(workspace).close()
    with (workspace / "icefloe.toml").open("a") as f:
        f.write("[cost]\nprices = { VAULT = 0.004 }\n")
    proc = icefloe("status", "--json", cwd=workspace, env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    cost = json.loads(proc.stdout)["storage_cost"]
    assert cost["prices_taken"] == PRICES_TAKEN and cost["overridden"] == ["VAULT"]
    by_class = {c["storage_class"]: c for c in cost["classes"]}
    assert by_class["VAULT"]["usd_per_month"] == pytest.approx(4.0, rel=1e-6)
    assert cost["usd_per_month"] == pytest.approx(2.97 + 0.092 + 4.0, rel=1e-5)

    proc = icefloe("status", cwd=workspace, env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    deep = next(line for line in lines if line.startswith("DEEP_ARCHIVE"))
    assert deep.split()[1:3] == ["2", "2.9"] and deep.split()[-1] == "2.9700"
    total = next(line for line in lines if line.startswith("total"))
    assert total.split() == ["total", "7.0620"]
    note = lines[lines.index(total) + 1]
    assert PRICES_TAKEN in note and "VAULT from [cost] prices" in note
    table = lines[lines.index(total) - 4: lines.index(total) + 2]
    assert table[0].startswith("storage class") and all(len(line) <= 80 for line in table)


def test_status_with_nothing_stored_says_so(workspace: Path) -> None:
    proc = icefloe("status", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert "stored in cold storage: nothing yet" in proc.stdout
    assert "not found" in one_line_error(icefloe("-c", "nope.toml", "status", cwd=workspace))
