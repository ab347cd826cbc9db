"""What every stage shares: one retry policy, typed frozen results Prefect can persist, and
artifact keys Prefect accepts."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import typing
from pathlib import Path

import pytest
from prefect.serializers import PickleSerializer
from prefect.tasks import Task

import tasks
from icefloe.archive.records import ArchivedSet, ArchivePlan, ArchiveRun
from icefloe.clear.summary import ClearRun, ClearSummary
from icefloe.confirmation import InventoryPoll, JobCounts
from icefloe.disc.check import DiscsChecked, DueDisc
from icefloe.mirror import MirrorSummary
from icefloe.partitions import FillCheck
from icefloe.restore.run import RestoreRun
from tasks.common import RETRIES, RETRY, artifact_key, retry_if_transient


def stages() -> list[tuple[str, Task]]:
    found = []
    for info in pkgutil.iter_modules([str(Path(tasks.__file__).parent)]):
        module = importlib.import_module(f"tasks.{info.name}")
        found += [(f"{info.name}.{name}", value) for name, value in vars(module).items()
                  if isinstance(value, Task) and value.__module__ == module.__name__]
    return found


def test_every_stage_retries_transient_errors_by_the_one_policy() -> None:
    found = stages()
    assert len(found) > 20
    for name, stage in found:
        assert stage.retries == RETRIES, name
        assert stage.retry_condition_fn is retry_if_transient, name
        assert stage.retry_delay_seconds == RETRY["retry_delay_seconds"](RETRIES) == [30, 60, 120], name


def test_no_stage_returns_an_untyped_dict() -> None:
    for name, stage in stages():
        returned = typing.get_type_hints(stage.fn)["return"]
        assert typing.get_origin(returned) is not dict and returned is not dict, name


SUMMARY = ClearSummary("photos-a", "/mnt/a", ("a-2024",), 3, 3072, ("x.jpg",), 1,
                       (("new.jpg", "in no archive"),), stamp="20261202T010203000000Z")
RECORDS = [
    SUMMARY,
    ClearRun(SUMMARY, dry_run=False, cleared=True, active="photos-b", snapshot="catalog-1"),
    ArchivePlan("photos-a", 3, 3072, 1024, "bd-r", "none", "s3", "family"),
    ArchivedSet("a-2024", "/w/a-2024", ("/w/a-2024.7z.001",), "/w/a.manifest.7z", "0" * 64, 3, 3072, 2048, True),
    ArchiveRun("a-2024", 3, ("/w/a-2024.7z.001",), (), ("key",), JobCounts("job", True, seen=1), None),
    InventoryPoll((JobCounts("job", True, seen=1),), ("running-job",), None, 0),
    FillCheck("photos-b", 0.93, "photos-a", "photos-a is 93% full and goes to archiving"),
    MirrorSummary("photos-a", "h:/m", True, False, 0, 2, 0, 10, 10, 10, 0.5, ("a warning",), None),
    DueDisc("a-2024-disc-01-of-01", "a-2024", None, None),
    DiscsChecked(("d1",), ("d1",), ()),
    RestoreRun(("a-2024.7z.001",), ()),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_stage_records_are_frozen_and_survive_prefects_result_serializer(record: object) -> None:
    serializer = PickleSerializer()
    assert serializer.loads(serializer.dumps(record)) == record
    field = dataclasses.fields(record)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, field, None)


def test_a_clear_summary_lists_at_most_its_limit_but_counts_everything() -> None:
    from icefloe.clear.summary import LIST_LIMIT
    from icefloe.clear.trash import ClearPlan, KeptFile, PlannedFile

    entries = tuple(PlannedFile(f"f{i}.jpg", 1, 0) for i in range(LIST_LIMIT + 5))
    kept = tuple(KeptFile(f"k{i}.jpg", "changed") for i in range(LIST_LIMIT + 1))
    summary = ClearSummary.of_plan(ClearPlan("photos-a", "/mnt/a", ("a-2024",), entries, kept))
    assert (summary.files, summary.bytes, summary.kept) == (LIST_LIMIT + 5, LIST_LIMIT + 5, LIST_LIMIT + 1)
    assert len(summary.paths) == LIST_LIMIT and len(summary.kept_paths) == LIST_LIMIT
    with pytest.raises(Exception, match=r"deletes 205 files .* confirm=True"):
        summary.require_confirmation(False)
    summary.require_confirmation(True)


@pytest.mark.parametrize(("prefix", "subject", "key"), [
    ("upload", "photos-a-20261201T020000Z.7z.001", "upload-photos-a-20261201t020000z-7z-001"),
    ("clear-gates", "Photos A", "clear-gates-photos-a"),
    ("archive-plan", "", "archive-plan"),
    ("restore", "***", "restore"),
    ("restore", "x" * 100, "restore-" + "x" * 60),
])
def test_artifact_keys_are_what_prefect_accepts(prefix: str, subject: str, key: str) -> None:
    assert artifact_key(prefix, subject) == key
    assert re.fullmatch(r"[a-z0-9-]+", key)
