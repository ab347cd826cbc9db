"""The clear gates of DESIGN.md ("Nothing is lost"), each read from the catalog when asked.

A partition may be cleared only when, for every archive set made from it that is not cleared
yet, every archive passed testzip, has a cold-storage copy whose server checksum matched and
whose presence an inventory (vault) or HEAD (s3) confirmed, every disc image was verified (and
burned and read back when a burner is configured), and the partition's last mirror run
succeeded after the newest set was made, with one run since then comparing every byte (rsync
--checksum). A later failed verification revokes an earlier success.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from icefloe.catalog import (
    BURNED_READBACK,
    IMAGE_VERIFIED,
    INVENTORY_SEEN,
    MIRROR_CHECKSUM,
    MIRROR_OK,
    SERVER_CHECKSUM,
    TESTZIP,
    ArchiveRecord,
    ArchiveSet,
    Catalog,
    CopyRecord,
    ImageRecord,
)
from icefloe.errors import GateNotMet
from icefloe.lifecycle import gated_sets

# Gate kinds beyond the catalog's verification kinds.
ARCHIVED = "archived"  # the partition has archive sets, each with every volume recorded
COPY_STORED = "copy_stored"  # a non-deleted cold-storage copy agrees with the local archive
DISCS_MADE = "discs_made"  # a set has every disc image of its disc count


@dataclass(frozen=True)
class Gate:
    subject: str  # "archive:<name>", "image:<name>", "set:<name>", "partition:<label>"
    kind: str
    ok: bool
    detail: str


def _verification_gate(
    catalog: Catalog, subjects: Sequence[str], kind: str, missing: str, failed: str
) -> Gate:
    """Holds when a verification exists and the latest one of each subject is ok.

    A later failure revokes an earlier success. ``subjects`` lists where a check may be
    recorded (testzip may be recorded per volume or per set); any failing one revokes.
    """
    found = [v for v in (catalog.latest_verification(s, kind) for s in subjects) if v is not None]
    if not found:
        return Gate(subjects[0], kind, False, missing)
    bad = [v for v in found if not v.ok]
    if bad:
        why = f" ({bad[0].detail})" if bad[0].detail else ""
        return Gate(subjects[0], kind, False, failed + why)
    return Gate(subjects[0], kind, True, f"{kind} ok at {max(v.at for v in found)}")


def _hex_digest(value: str | None) -> str | None:
    """A SHA-256 as lowercase hex from hex or base64; None for anything else (e.g. composite)."""
    if not value:
        return None
    text = value.strip().lower()
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _copy_agrees(archive: ArchiveRecord, copy: CopyRecord) -> bool:
    if copy.size != archive.size:
        return False
    for ours, theirs in ((archive.sha256, copy.sha256), (archive.tree_hash, copy.tree_hash)):
        a, b = _hex_digest(ours), _hex_digest(theirs)
        if a and b and a != b:
            return False
    return True


def _archive_gates(catalog: Catalog, archive: ArchiveRecord) -> list[Gate]:
    name, subject = archive.name, f"archive:{archive.name}"
    gates = [
        _verification_gate(
            catalog, [subject, f"set:{archive.set_name}"], TESTZIP,
            f"archive {name} has not passed testzip", f"archive {name} failed testzip",
        )
    ]
    copies = catalog.copies(archive.name)
    agreeing = [c for c in copies if _copy_agrees(archive, c)]
    if not copies:
        detail = f"archive {name} has no copy in cold storage"
        gates.append(Gate(subject, COPY_STORED, False, detail))
    elif not agreeing:
        detail = f"archive {name} differs from its cold-storage copy in size or checksum"
        gates.append(Gate(subject, COPY_STORED, False, detail))
    else:
        where = ", ".join(f"{c.backend}:{c.container}" for c in agreeing)
        gates.append(Gate(subject, COPY_STORED, True, f"stored in {where}"))
    gates.append(_verification_gate(
        catalog, [subject], SERVER_CHECKSUM,
        f"archive {name} has no server checksum check",
        f"archive {name}'s server checksum does not match the local one",
    ))
    gates.append(_verification_gate(
        catalog, [subject], INVENTORY_SEEN,
        f"archive {name} has no inventory confirmation",
        f"archive {name} was missing from the last inventory or HEAD",
    ))
    return gates


def _image_gates(catalog: Catalog, image: ImageRecord, burner_configured: bool) -> list[Gate]:
    name, subject = image.name, f"image:{image.name}"
    gates = [_verification_gate(
        catalog, [subject], IMAGE_VERIFIED,
        f"image {name} not verified", f"image {name} failed verification",
    )]
    if burner_configured:
        gate = _verification_gate(
            catalog, [subject], BURNED_READBACK,
            f"image {name} not burned and read back", f"image {name} failed its burn readback",
        )
        burns = catalog.burns(image.name)
        want = _hex_digest(image.sha256)
        good = [b for b in burns if b.ok and _hex_digest(b.readback_sha256) in (None, want)]
        if gate.ok and burns and not good:
            gate = Gate(subject, BURNED_READBACK, False, f"image {name} has no good burn recorded")
        gates.append(gate)
    return gates


def _when(stamp: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _mirror_gates(catalog: Catalog, label: str, newest: ArchiveSet | None) -> list[Gate]:
    subject = f"partition:{label}"
    run = catalog.last_mirror_run(label)
    if run is None:
        return [Gate(subject, MIRROR_OK, False, f"{label} has never been mirrored")]
    if not run.ok:
        return [Gate(subject, MIRROR_OK, False, f"the last mirror run of {label} failed")]
    finished, made = _when(run.finished_at), _when(newest.created_at if newest else None)
    if newest is not None and (finished is None or made is None or finished < made):
        # Files added between that run and the consolidation may exist nowhere else yet.
        return [Gate(subject, MIRROR_OK, False,
                     f"the last mirror run of {label} finished before set {newest.name} was made")]
    check = catalog.latest_verification(subject, MIRROR_OK)
    if check is not None and not check.ok:
        return [Gate(subject, MIRROR_OK, False, f"the last mirror check of {label} failed")]
    gates = [Gate(subject, MIRROR_OK, True, f"mirrored at {run.finished_at}")]
    # rsync's quick check (size and mtime) skips a file edited in place with its time kept:
    # only a byte-for-byte run says the mirror holds what the clear removes.
    summed = catalog.latest_verification(subject, MIRROR_CHECKSUM)
    at = _when(summed.at) if summed is not None else None
    if summed is None or not summed.ok or (newest is not None and (at is None or made is None or at < made)):
        since = f" since set {newest.name} was made" if newest is not None else ""
        gates.append(Gate(subject, MIRROR_CHECKSUM, False,
                          f"{label} has no byte-for-byte mirror run{since} "
                          f"(run: icefloe mirror {label} --checksum)"))
    else:
        gates.append(Gate(subject, MIRROR_CHECKSUM, True, f"compared byte for byte at {summed.at}"))
    return gates


def check_gates(
    catalog: Catalog, label: str, *, burner_configured: bool, disc_configured: bool
) -> list[Gate]:
    """Every gate for every archive and image of every not-yet-cleared set, and the mirror.

    Passing gates are included; a clear may go ahead only when all are ``ok``. A partition
    whose sets are all cleared has no gates (there is nothing left to protect).
    """
    sets = catalog.archive_sets(label)
    if not sets:
        detail = f"nothing from {label} is archived yet"
        return [Gate(f"partition:{label}", ARCHIVED, False, detail)]
    pending = gated_sets(catalog, [s for s in sets if s.cleared_at is None])  # abandoned ones ignored
    if not pending:
        return []
    gates: list[Gate] = []
    for aset in pending:
        subject = f"set:{aset.name}"
        archives = catalog.archives(set_name=aset.name)
        gates.append(_all_parts(subject, ARCHIVED, aset.name, [(a.volume, a.volumes) for a in archives],
                                "archives recorded", "volumes recorded", "volume(s)"))
        for archive in archives:
            gates.extend(_archive_gates(catalog, archive))
        if disc_configured:
            images = catalog.images(aset.name)
            gates.append(_all_parts(subject, DISCS_MADE, aset.name, [(i.disc_index, i.disc_count) for i in images],
                                    "disc images", "disc images", "disc image(s)"))
            for image in images:
                gates.extend(_image_gates(catalog, image, burner_configured))
    never = datetime.max.replace(tzinfo=timezone.utc)  # an unreadable date counts as newest
    newest = max(pending, key=lambda s: _when(s.created_at) or never)
    gates.extend(_mirror_gates(catalog, label, newest))
    return gates


def _all_parts(subject: str, kind: str, set_name: str, parts: list[tuple[int, int]], none: str, of: str,
               noun: str) -> Gate:
    """Whether every part of a set is recorded: ``parts`` are (index, count) pairs, such as
    (volume, volumes) of its archives or (disc index, disc count) of its images."""
    if not parts:
        return Gate(subject, kind, False, f"set {set_name} has no {none}")
    count = max(n for _, n in parts)
    if len({i for i, _ in parts}) < count:
        return Gate(subject, kind, False, f"set {set_name} has {len(parts)} of {count} {of}")
    return Gate(subject, kind, True, f"{len(parts)} {noun}")


def gate_error(label: str, gates: Iterable[Gate]) -> GateNotMet | None:
    """One error naming every failing gate, or None when all hold."""
    failing = [g.detail for g in gates if not g.ok]
    if not failing:
        return None
    return GateNotMet(
        f"{label} not cleared: {'; '.join(failing)}. Nothing was changed; finish those stages, "
        "then clear again"
    )
