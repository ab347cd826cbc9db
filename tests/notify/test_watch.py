"""The daily watch's concerns, read from the catalog: a full partition nobody archived, and a set
whose clear has waited on its gates for longer than notify.gate_wait_days."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from icefloe.catalog import ArchiveSet, Catalog
from icefloe.config import load_settings
from icefloe.watch import concerns

NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)


def _settings(workspace: Path, gate_wait_days: float = 7):
    config = workspace / "icefloe.toml"
    text = config.read_text().replace('path = "photos-a"\n', 'path = "photos-a"\ncapacity_gib = 0.000001\n', 1)
    config.write_text(text + f"[notify]\ngate_wait_days = {gate_wait_days}\n")
    (workspace / "photos-a" / "big.jpg").write_bytes(b"x" * 4096)  # over 90% of about 1 KiB
    return load_settings(config, {})


def _old_set(catalog: Catalog, label: str, days: float) -> str:
    name = f"{label}-set-{days:g}"
    catalog.put_archive_set(ArchiveSet(name=name, partition_label=label, file_count=1, total_bytes=10,
                                       encrypted=False, created_at=(NOW - timedelta(days=days)).isoformat()))
    return name


def test_a_full_partition_without_an_archive_is_a_concern(workspace):
    settings = _settings(workspace)
    with Catalog.open(settings.catalog_path) as catalog:
        found = concerns(catalog, settings, NOW)
        assert [(c.kind, c.subject) for c in found] == [("full-not-archived", "photos-a")]
        assert "archive-partition" in found[0].message and "photos-a" in found[0].message

        _old_set(catalog, "photos-a", 1)  # an archive has started: no longer a concern
        assert concerns(catalog, settings, NOW) == []


def test_a_clear_waiting_on_its_gates_too_long_is_a_concern_and_names_the_gates(workspace):
    settings = _settings(workspace, gate_wait_days=7)
    with Catalog.open(settings.catalog_path) as catalog:
        fresh = _old_set(catalog, "photos-b", 2)
        assert [c.subject for c in concerns(catalog, settings, NOW) if c.kind == "gates-waiting"] == []
        old = _old_set(catalog, "photos-b", 10)
        waiting = [c for c in concerns(catalog, settings, NOW) if c.kind == "gates-waiting"]
    assert [c.subject for c in waiting] == [old] and fresh != old
    assert "10 days ago" in waiting[0].message and "gate(s)" in waiting[0].message
    assert waiting[0].partition == "photos-b"


def test_the_weekly_summary_says_what_was_archived_and_what_it_costs(workspace):
    from icefloe.catalog import CopyRecord
    from icefloe.summary import weekly_summary

    settings = _settings(workspace)
    with Catalog.open(settings.catalog_path) as catalog:
        assert "Nothing new was archived this week." in weekly_summary(catalog, settings, NOW).body
        _old_set(catalog, "photos-b", 10)  # last month's: not this week's
        catalog.put_archive_set(ArchiveSet(name="photos-b-new", partition_label="photos-b", file_count=1234,
                                           total_bytes=3 << 20, encrypted=True,
                                           created_at=(NOW - timedelta(days=2)).isoformat()))
        catalog.put_copy(CopyRecord("s3", "bucket", "photos-b-new.7z.001", "d", 100 << 30))
        found = weekly_summary(catalog, settings, NOW)
    body = found.body
    assert "This week 1 set(s) were archived: 1,234 files, 3.0 MiB (photos-b-new)." in body, body
    # 100 GiB at Deep Archive's 0.00099 USD per GB-month, plus the object's own overhead.
    assert "hold 100.0 GiB and cost about $0.10 a month" in body, body
    assert found.subject == "icefloe weekly: some files are not on discs and in the cloud yet"
    assert body.splitlines()[0].startswith(("None of", "Nothing is archived"))  # the page's lead sentence
    assert "password" not in body.lower() and str(workspace) not in body
