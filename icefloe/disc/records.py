"""Disc work for an archive set recorded in the catalog, and the records it leaves there.

The clear gate reads these: an ImageRecord per image, an IMAGE_VERIFIED verification per
image ("image:<name>"), and a BurnRecord plus BURNED_READBACK per burn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from icefloe.catalog import (
    BURNED_READBACK,
    IMAGE_VERIFIED,
    BurnRecord,
    Catalog,
    ImageRecord,
)
from icefloe.disc.burn import (
    BurnMismatch,
    BurnResult,
    burn_and_verify,
    file_sha256,
    verify_burn,
)
from icefloe.disc.capacity import DEFAULT_REDUNDANCY
from icefloe.disc.entries import DiscPlan
from icefloe.disc.image import (
    ImageInfo,
    build_image,
    check_space,
    read_sidecar,
    remove_image_leftovers,
    verify_image,
)
from icefloe.disc.plan import plan_discs
from icefloe.errors import ChecksumMismatch, InputNotFound, UsageError
from icefloe.progress import NullProgress, Progress

ProgressFor = Callable[[str], Progress]


def _none(_label: str) -> Progress:
    return NullProgress()


def image_subject(name: str) -> str:
    return f"image:{name}"


def plan_set(
    catalog: Catalog, set_name: str, disc_type: str, *, capacity: int | None = None,
    redundancy: float = DEFAULT_REDUNDANCY,
) -> list[DiscPlan]:
    """The discs of an archive set: its volumes from the catalog, plus its manifest sidecar,
    each disc with room for PAR2 recovery data of at least ``redundancy`` of its data."""
    aset = catalog.get_archive_set(set_name)
    if aset is None:
        raise InputNotFound(f"there is no archive set {set_name!r} in the catalog (see `icefloe catalog`)")
    archives = sorted(catalog.archives(set_name=set_name), key=lambda a: (a.volume, a.name))
    if not archives:
        raise UsageError(f"archive set {set_name!r} has no archives recorded; consolidate it first")
    paths, checksums = [], {}
    for archive in archives:
        if not archive.path or not Path(archive.path).is_file():
            raise InputNotFound(
                f"volume {archive.name} is not at {archive.path or '(no path recorded)'} any more; "
                "restore it from cold storage or consolidate the partition again"
            )
        paths.append(Path(archive.path))
        checksums[Path(archive.path).name] = archive.sha256
    extra = []
    if aset.manifest_path:
        manifest = Path(aset.manifest_path)
        if not manifest.is_file():
            raise InputNotFound(f"the manifest of {set_name} is not at {manifest} any more")
        extra.append((manifest.name, manifest))
        if aset.manifest_sha256:
            checksums[manifest.name] = aset.manifest_sha256
    return plan_discs(
        paths, disc_type, extra, set_name=set_name, capacity=capacity, checksums=checksums,
        encrypted=aset.encrypted, redundancy=redundancy,
    )


def record_image(catalog: Catalog, info: ImageInfo) -> ImageRecord:
    record = ImageRecord(
        name=info.name, set_name=info.set_name, disc_index=info.disc_index,
        disc_count=info.disc_count, disc_type=info.disc_type, size=info.size,
        sha256=info.sha256, path=info.path,
    )
    catalog.put_image(record)
    return record


def recorded_images(catalog: Catalog, set_name: str, disc_type: str) -> list[ImageInfo]:
    """The set's images when every disc of ``disc_type`` is recorded and still on disk as
    recorded (size and sidecar checksum), and none failed its last verification; else []."""
    records = sorted(catalog.images(set_name), key=lambda r: r.disc_index)
    if not records or any(r.disc_type != disc_type for r in records):
        return []
    if {r.disc_index for r in records} != set(range(1, records[0].disc_count + 1)):
        return []
    infos = []
    for record in records:
        path = Path(record.path or "")
        if not path.is_file() or path.stat().st_size != record.size:
            return []
        try:
            info = read_sidecar(path)
        except UsageError:
            return []
        if info.sha256 != record.sha256:
            return []
        checked = catalog.latest_verification(image_subject(record.name), IMAGE_VERIFIED)
        if checked is not None and not checked.ok:  # e.g. a volume that differs from its record
            return []
        infos.append(info)
    return infos


def build_set_images(
    catalog: Catalog,
    set_name: str,
    disc_type: str,
    out_dir: Path,
    *,
    capacity: int | None = None,
    progress_for: ProgressFor = _none,
    redundancy: float = DEFAULT_REDUNDANCY,
) -> list[ImageInfo]:
    """Plan, write and record every image of a set; each image is verified separately.

    Images recorded already, complete and unchanged on disk, are carried forward, not rebuilt.
    Each image gets its printable label page beside it (disc/label.py).
    """
    made = recorded_images(catalog, set_name, disc_type)
    if made:
        label_set(catalog, set_name, made)
        return made
    plans = plan_set(catalog, set_name, disc_type, capacity=capacity, redundancy=redundancy)
    remove_image_leftovers(Path(out_dir))  # before the space check: they free room
    check_space(Path(out_dir), sum(p.size for p in plans))
    infos = []
    for plan in plans:
        info = build_image(plan, Path(out_dir) / plan.image_name, progress=progress_for(plan.image_name))
        record_image(catalog, info)
        infos.append(info)
    label_set(catalog, set_name, infos)
    return infos


def label_set(catalog: Catalog, set_name: str, infos: list[ImageInfo]) -> list[Path]:
    """The label page of every image of a set, written beside each image."""
    from icefloe.disc.label import write_labels

    aset = catalog.get_archive_set(set_name)
    if aset is None:
        return []
    return write_labels(infos, aset, catalog.manifest(set_name))


def verify_recorded_image(
    catalog: Catalog | None, image_path: Path | str, *, progress: Progress | None = None
) -> ImageInfo:
    """Verify an image against its sidecar, and the sidecar against the catalog's volumes.

    Records IMAGE_VERIFIED (ok or not) when a catalog is given.
    """
    if not Path(image_path).is_file():
        raise InputNotFound(f"{image_path} does not exist")
    info = read_sidecar(image_path)
    subject = image_subject(info.name)
    try:
        expected = info.checksums
        if catalog is not None and info.set_name:
            for archive in catalog.archives(set_name=info.set_name):
                name = Path(archive.path or archive.name).name
                if name in expected and expected[name] != archive.sha256:
                    raise ChecksumMismatch(
                        f"{info.name} holds {name} with SHA-256 {expected[name]}, but the catalog "
                        f"records {archive.sha256}; build the image again"
                    )
        verify_image(image_path, expected, progress=progress)
    except ChecksumMismatch as exc:
        if catalog is not None:
            catalog.verify(subject, IMAGE_VERIFIED, False, exc.message)
        raise
    if catalog is not None:
        catalog.verify(subject, IMAGE_VERIFIED, True, f"{len(expected)} files read back through UDF")
    return info


def _image_sha256(image_path: Path) -> str:
    """The image's checksum, checked against the one recorded when it was built."""
    actual = file_sha256(image_path)
    try:
        recorded = read_sidecar(image_path).sha256
    except Exception:  # noqa: BLE001 - an image made elsewhere has no sidecar
        return actual
    if actual != recorded:
        raise ChecksumMismatch(
            f"{image_path.name} changed since it was built (SHA-256 {actual}, recorded "
            f"{recorded}); build and verify it again before burning"
        )
    return actual


def _record_burn(catalog: Catalog | None, result: BurnResult) -> None:
    if catalog is None:
        return
    name = Path(result.image).name
    catalog.record_burn(BurnRecord(name, result.device, result.ok, result.readback_sha256))
    detail = (
        f"{result.size} bytes read back from {result.device}"
        if result.ok
        else f"{result.device} read back {result.readback_sha256}, image is {result.image_sha256}"
    )
    catalog.verify(image_subject(name), BURNED_READBACK, result.ok, detail)


def burn_recorded_image(
    catalog: Catalog | None,
    image_path: Path | str,
    device: str,
    *,
    tool: str = "xorriso",
    verify_only: bool = False,
    progress: Progress | None = None,
) -> BurnResult:
    """Burn (unless ``verify_only``) and read back; the outcome is recorded either way."""
    image_path = Path(image_path)
    if not image_path.is_file():
        raise InputNotFound(f"{image_path} does not exist")
    image_sha = _image_sha256(image_path)
    try:
        if verify_only:
            result = verify_burn(image_path, device, image_sha256=image_sha, progress=progress)
        else:
            result = burn_and_verify(image_path, device, tool=tool, image_sha256=image_sha, progress=progress)
    except BurnMismatch as exc:
        _record_burn(catalog, exc.result)
        raise
    _record_burn(catalog, result)
    return result
