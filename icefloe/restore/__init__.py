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
folder by folder), ``extract`` (verify against the manifest, place with mtimes), ``place``
(staging and safe placement), ``run`` (whole restores), ``rebuild``
(the catalog from an inventory or listing), ``cost`` (the estimate), ``options``.
Formats and exit codes are in docs/restore.md.
"""

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
from icefloe.restore.sources import (
    MissingVolume,
    VolumeSource,
    file_source,
    gather_discs,
)

__all__ = [
    "Downloaded", "Estimate", "ExtractReport", "MissingVolume", "Problem", "RebuildResult",
    "RestoreOptions", "RestorePlan", "RetrievalPending", "SetRestore", "VolumeNeed", "VolumeSource",
    "apply_inventory", "download_job_output", "estimate", "extract_set", "fetch_volume", "file_source",
    "gather_discs", "learn_manifest", "plan_restore", "rebuild_catalog", "resolve_sets",
    "restore_from_coldstore", "restore_from_discs", "restore_options", "start_retrievals",
    "wait_for_job",
]
