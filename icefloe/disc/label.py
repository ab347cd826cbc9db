"""A printable sleeve label for each disc: ``<image>.label.html`` beside the image.

It says what a person holding the disc needs to know without a computer: the set, disc N of
M, the date range of the photos, how many files, which volumes are on it, and what else is
needed to restore (the password, which is never on a disc, and the other discs). One page
per disc, sized for a 12 cm sleeve; any browser prints it. Written atomically.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from icefloe.catalog import ArchiveSet, ManifestEntry
from icefloe.disc.image import ImageInfo
from icefloe.fsutil import atomic_write_bytes

LABEL_SUFFIX = ".label.html"

_STYLE = """
@page { size: A4; margin: 15mm; }
body { font-family: sans-serif; }
.sleeve { width: 120mm; height: 120mm; border: 1px dashed #888; padding: 6mm; box-sizing: border-box; }
h1 { font-size: 15pt; margin: 0 0 2mm; } h2 { font-size: 11pt; margin: 3mm 0 1mm; }
p, li { font-size: 9pt; margin: 0.5mm 0; } .big { font-size: 20pt; font-weight: bold; }
"""


def label_path(image_path: Path | str) -> Path:
    return Path(f"{image_path}{LABEL_SUFFIX}")


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d")


def label_html(info: ImageInfo, aset: ArchiveSet, entries: Sequence[ManifestEntry], others: Sequence[str]) -> str:
    """The label page of the disc ``info`` of set ``aset`` (``others``: the set's other images)."""
    files = [e for e in entries if e.kind == "file"]
    if files:
        span = f"{_day(min(e.mtime_ns for e in files))} to {_day(max(e.mtime_ns for e in files))}"
    else:
        span = "not known (the catalog has no manifest for this set)"
    count = len(files) or aset.file_count
    volumes = [p for p, _ in info.files if ".7z" in p and not p.endswith(".manifest.7z")]
    needs = []
    if aset.encrypted:
        needs.append("the archive password: it is on no disc, keep it where the family keeps its passwords")
    if info.disc_count > 1:
        needs.append(f"the other {info.disc_count - 1} disc(s) of this set, kept together: "
                     + ", ".join(others))
    needs.append("7-Zip (any computer); RESTORE.txt on the disc explains every step, and the "
                 ".par2 files repair a scratched disc")
    e = html.escape
    items = "".join(f"<li>{e(v)}</li>" for v in volumes) or "<li>(none)</li>"
    need_items = "".join(f"<li>{e(n)}</li>" for n in needs)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(info.name)}</title><style>{_STYLE}</style></head>
<body><div class="sleeve">
<h1>{e(info.set_name or aset.name)}</h1>
<p class="big">disc {info.disc_index} of {info.disc_count}</p>
<p>Photos and files from {e(span)}</p>
<p>{count:,} files in the set, {aset.total_bytes / 1e9:.2f} GB; disc type {e(info.disc_type)}</p>
<p>Written {e(datetime.now(UTC).strftime("%Y-%m-%d"))} by icefloe; image {e(info.name)}</p>
<h2>On this disc</h2><ul>{items}</ul>
<h2>To restore you also need</h2><ul>{need_items}</ul>
</div></body></html>
"""


def write_labels(infos: Sequence[ImageInfo], aset: ArchiveSet, entries: Sequence[ManifestEntry]) -> list[Path]:
    """One label page per image, beside it; returns their paths."""
    out = []
    for info in infos:
        others = [i.name for i in infos if i.name != info.name]
        path = label_path(info.path)
        atomic_write_bytes(path, label_html(info, aset, entries, others).encode("utf-8"), mode=0o644)
        out.append(path)
    return out
