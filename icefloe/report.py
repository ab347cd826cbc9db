"""Answers people ask of the catalog: "is this file backed up, and where?", and a shareable page."""

from __future__ import annotations

import html
from dataclasses import dataclass

from icefloe.catalog import (
    BURNED_READBACK,
    IMAGE_VERIFIED,
    INVENTORY_SEEN,
    SERVER_CHECKSUM,
    TESTZIP,
    Catalog,
    now_iso,
)


@dataclass(frozen=True)
class Location:
    """Where one file is kept, and how far each copy has been checked."""

    path: str
    size: int
    sha256: str | None
    partition: str
    set_name: str
    archives: tuple[str, ...]
    cold_copies: tuple[str, ...]  # "backend:container:remote_id"
    discs: tuple[str, ...]
    checks: tuple[str, ...]  # "testzip ok", "image_verified missing", ...
    cleared: bool


def _state(catalog: Catalog, subject: str, kind: str) -> str:
    check = catalog.latest_verification(subject, kind)
    word = "missing" if check is None else ("ok" if check.ok else "FAILED")
    return f"{kind} {word}"


def find(catalog: Catalog, pattern: str) -> list[Location]:
    """Every archived file whose path matches ``pattern`` (a glob, or a plain substring)."""
    out = []
    for set_name, entry in catalog.find(pattern):
        archive_set = catalog.get_archive_set(set_name)
        archives = catalog.archives(set_name=set_name)
        copies = [c for a in archives for c in catalog.copies(a.name)]
        images = catalog.images(set_name)
        checks = []
        for archive in archives:
            subject = f"archive:{archive.name}"
            for kind in (TESTZIP, SERVER_CHECKSUM, INVENTORY_SEEN):
                checks.append(f"{archive.name}: {_state(catalog, subject, kind)}")
        for image in images:
            for kind in (IMAGE_VERIFIED, BURNED_READBACK):
                checks.append(f"{image.name}: {_state(catalog, f'image:{image.name}', kind)}")
        out.append(
            Location(
                path=entry.path,
                size=entry.size,
                sha256=entry.sha256,
                partition=archive_set.partition_label if archive_set else "?",
                set_name=set_name,
                archives=tuple(a.name for a in archives),
                cold_copies=tuple(f"{c.backend}:{c.container}:{c.remote_id}" for c in copies),
                discs=tuple(f"{i.name} (disc {i.disc_index} of {i.disc_count})" for i in images),
                checks=tuple(checks),
                cleared=bool(archive_set and archive_set.cleared_at),
            )
        )
    return out


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>icefloe catalog</title>
<style>
body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;width:100%}}th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
th{{background:#eef}}td.ok{{color:#070}}td.bad{{color:#b00;font-weight:bold}}
input{{padding:4px;width:30em;margin-bottom:1em}}
</style></head><body>
<h1>icefloe catalog</h1>
<p>Written {when}. {count} archives. Type to filter.</p>
<input id="q" placeholder="filter by name, partition, archive id..." oninput="f()">
<table id="t"><thead><tr><th>archive</th><th>partition</th><th>volume</th><th>size</th><th>SHA-256</th><th>cold storage</th><th>checks</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<h2>Files</h2>
<table id="files"><thead><tr><th>path</th><th>size</th><th>set</th></tr></thead><tbody>
{files}
</tbody></table>
<script>
function f(){{var q=document.getElementById('q').value.toLowerCase();
for(const id of ['t','files']){{for(const r of document.getElementById(id).tBodies[0].rows)
{{r.style.display=r.textContent.toLowerCase().includes(q)?'':'none'}}}}}}
</script>
</body></html>
"""


def catalog_html(catalog: Catalog) -> str:
    """A self-contained page (no external assets) a household can share instead of a spreadsheet."""
    esc = html.escape
    rows = []
    for row in catalog.report():
        bad = any(not ok for ok in row["checks"].values())
        checks = ", ".join(f"{k} {'ok' if ok else 'FAILED'}" for k, ok in row["checks"].items())
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{esc(str(v))}</td>"
                for v in (row["archive"], row["partition"], row["volume"], row["size"], row["sha256"])
            )
            + f"<td>{esc(' '.join(row['copies']) or 'not stored yet')}</td>"
            + f"<td class=\"{'bad' if bad else 'ok'}\">{esc(checks)}</td></tr>"
        )
    files = []
    for archive_set in catalog.archive_sets():
        for entry in catalog.manifest(archive_set.name):
            if entry.kind == "file":
                files.append(
                    f"<tr><td>{esc(entry.path)}</td><td>{entry.size}</td><td>{esc(archive_set.name)}</td></tr>"
                )
    return PAGE.format(
        when=esc(now_iso()), count=len(rows), rows="\n".join(rows), files="\n".join(files)
    )
