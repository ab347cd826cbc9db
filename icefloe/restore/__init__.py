"""Restore and disaster recovery: archive sets back from cold storage or from discs, verified.

    store = open_coldstore(settings.coldstore, catalog)
    rebuild_catalog(store, catalog, work_dir=settings.work_dir, wait=True)   # after losing it
    sets = resolve_sets(catalog, partition="photos-a")
    plan = plan_restore(store, catalog, sets, download_dir=..., tier="Bulk", prices=...)
    print(plan.estimate.describe())                                          # cost and time first
    plan = start_retrievals(store, plan, days=7)
    results = restore_from_coldstore(store, catalog, plan, Path("/restore"), download_dir=...,
                                     password=pw, options=RestoreOptions(), wait=True, per_set=True)
    for r in results:
        r.report.raise_for_problems()

    restore_from_discs([Path("disc1.iso"), Path("/media/disc2")], Path("/restore"), password=pw)

Modules: ``retrieval`` (plan, jobs, waiting), ``download`` (ranged, verified, resumable),
``sources`` (volumes from files, mounted discs, ISO images), ``sevenzip`` (the archive read
folder by folder), ``header`` (the 7z header), ``coders`` (7zAES, Copy, LZMA2), ``extract`` (verify against the manifest, place with mtimes), ``place``
(staging and safe placement), ``run`` (whole restores), ``rebuild``
(the catalog from an inventory or listing), ``cost`` (the estimate), ``options``.
Formats and exit codes are in docs/restore.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names are loaded when first used: extracting from discs needs neither the cold store nor
# the configuration (their imports cost more than a second of a busy machine's time).
_WHERE = {
    "cost": ("Estimate", "estimate"),
    "download": ("Downloaded", "download_job_output"),
    "extract": ("ExtractReport", "Problem", "extract_set"),
    "options": ("RestoreOptions", "restore_options"),
    "rebuild": ("RebuildResult", "apply_inventory", "rebuild_catalog"),
    "retrieval": ("RestorePlan", "RetrievalPending", "VolumeNeed", "fetch_volume", "plan_restore",
                  "resolve_sets", "start_retrievals", "wait_for_job"),
    "run": ("SetRestore", "learn_manifest", "restore_from_coldstore", "restore_from_discs"),
    "sources": ("gather_discs",),
    "icefloe.volumestream": ("VolumeSource", "file_source"),
    "icefloe.errors": ("MissingVolume",),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

if TYPE_CHECKING:
    from icefloe.restore.cost import Estimate, estimate
    from icefloe.restore.download import Downloaded, download_job_output
    from icefloe.restore.extract import ExtractReport, Problem, extract_set
    from icefloe.restore.options import RestoreOptions, restore_options
    from icefloe.restore.rebuild import RebuildResult, apply_inventory, rebuild_catalog
    from icefloe.restore.retrieval import (
        RestorePlan,
        RetrievalPending,
        VolumeNeed,
        fetch_volume,
        plan_restore,
        resolve_sets,
        start_retrievals,
        wait_for_job,
    )
    from icefloe.restore.run import (
        SetRestore,
        learn_manifest,
        restore_from_coldstore,
        restore_from_discs,
    )
    from icefloe.errors import MissingVolume
    from icefloe.restore.sources import gather_discs
    from icefloe.volumestream import VolumeSource, file_source


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module if "." in module else f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Downloaded", "Estimate", "ExtractReport", "MissingVolume", "Problem", "RebuildResult",
    "RestoreOptions", "RestorePlan", "RetrievalPending", "SetRestore", "VolumeNeed", "VolumeSource",
    "apply_inventory", "download_job_output", "estimate", "extract_set", "fetch_volume", "file_source",
    "gather_discs", "learn_manifest", "plan_restore", "rebuild_catalog", "resolve_sets",
    "restore_from_coldstore", "restore_from_discs", "restore_options", "start_retrievals",
    "wait_for_job",
]
