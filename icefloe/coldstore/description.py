"""Archive descriptions: what icefloe writes into a vault archive's description (and an S3
object's metadata) so that the cold store alone is enough to rebuild the catalog.

The format is compact JSON of printable ASCII, at most 1,024 characters (the vault limit,
which can never be changed after the upload). docs/description.md documents it; change
both together and bump ``FORMAT_VERSION`` when a reader would misread the new form.

    {"v":1,"p":"photos-a","n":"photos-a-2026-01.7z.001","s":4700000000,"h":"<sha256>","t":"2026-01-05T03:04:05Z"}

Version 2 adds what the archive's set holds (files, bytes, encryption, volumes), so that a
rebuilt catalog knows it without a paid retrieval. A description without those is still
written as version 1, which every reader understands.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from icefloe.errors import UsageError

FORMAT_VERSION = 2  # the newest version this code writes and reads
# https://docs.aws.amazon.com/amazonglacier/latest/dev/api-initiate-multipart-upload.html
MAX_DESCRIPTION = 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEYS = {"v", "p", "n", "s", "h", "t", "d", "nt"}
_SET_KEYS = {"f", "b", "e", "nv"}  # version 2: the archive's set


@dataclass(frozen=True)
class Description:
    """What an icefloe description says about the archive it is attached to."""

    name: str  # the archive's file name
    size: int
    sha256: str  # hex, lower case
    created: str  # UTC, ISO 8601 with a Z
    partition: str | None = None
    folder: str | None = None  # the source folder; only when coldstore.description_paths
    name_truncated: bool = False
    version: int = 1
    # Version 2, about the set the archive belongs to; None when the description does not say.
    set_files: int | None = None  # files in the set
    set_bytes: int | None = None  # bytes of those files
    encrypted: bool | None = None
    set_volumes: int | None = None  # volumes the set has

    @property
    def knows_set(self) -> bool:
        return None not in (self.set_files, self.set_bytes, self.encrypted, self.set_volumes)


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_printable_ascii(text: str) -> bool:
    return all(" " <= c <= "~" for c in text)


def _dump(data: dict) -> str:
    # ensure_ascii escapes non-ASCII and control characters; DEL is ASCII but not printable.
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True)
    return text.replace("\x7f", "\\u007f")


def format_description(desc: Description) -> str:
    """The description text: compact JSON, printable ASCII, at most 1,024 characters.

    A folder that does not fit is left out; a name that does not fit is shortened and
    marked ``"nt":1`` (the SHA-256 still identifies the archive).
    """
    if not _SHA256.match(desc.sha256):
        raise ValueError(f"{desc.sha256!r} is not a lower-case hex SHA-256")
    data: dict = {"v": 2 if desc.knows_set else 1}
    if desc.partition:
        data["p"] = desc.partition
    data.update({"n": desc.name, "s": desc.size, "h": desc.sha256, "t": desc.created})
    if desc.knows_set:
        data.update({"f": desc.set_files, "b": desc.set_bytes, "e": int(bool(desc.encrypted)),
                     "nv": desc.set_volumes})
    if desc.name_truncated:
        data["nt"] = 1
    if desc.folder:
        data["d"] = desc.folder
    text = _dump(data)
    if len(text) <= MAX_DESCRIPTION:
        return text
    data.pop("d", None)
    text = _dump(data)
    if len(text) <= MAX_DESCRIPTION:
        return text
    data["nt"] = 1
    name = desc.name
    # Shorten by whole characters until the escaped form fits.
    low, high = 0, len(name)
    while low < high:
        mid = (low + high + 1) // 2
        data["n"] = name[:mid]
        if len(_dump(data)) <= MAX_DESCRIPTION:
            low = mid
        else:
            high = mid - 1
    data["n"] = name[:low]
    return _dump(data)


def parse_description(text: str | None) -> Description | None:
    """The :class:`Description` in ``text``, or None when it is not one icefloe wrote.

    Foreign descriptions (a file name, an empty string, another tool's JSON) are normal in a
    vault that predates icefloe, so they are not an error.
    """
    if not text or not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    version = data.get("v")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return None
    known = _KEYS | (_SET_KEYS if version >= 2 else set())
    # A newer icefloe may add keys: the ones this version knows keep their meaning.
    if version <= FORMAT_VERSION and not set(data) <= known:
        return None
    name, size, sha, created = data.get("n"), data.get("s"), data.get("h"), data.get("t")
    if not isinstance(name, str) or not isinstance(created, str):
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    if not isinstance(sha, str) or not _SHA256.match(sha):
        return None
    partition, folder = data.get("p"), data.get("d")
    if partition is not None and not isinstance(partition, str):
        return None
    if folder is not None and not isinstance(folder, str):
        return None
    set_fields = _set_fields(data) if version >= 2 else {}
    if set_fields is None:
        return None
    return Description(
        name=name,
        size=size,
        sha256=sha,
        created=created,
        partition=partition,
        folder=folder,
        name_truncated=bool(data.get("nt")),
        version=version,
        **set_fields,
    )


def _count(value: object, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _set_fields(data: dict) -> dict | None:
    """Version 2's set fields, all or none; None when present but malformed."""
    if not _SET_KEYS & set(data):
        return {}
    files, size, encrypted, volumes = data.get("f"), data.get("b"), data.get("e"), data.get("nv")
    if not (_count(files, 0) and _count(size, 0) and _count(volumes, 1) and encrypted in (0, 1)):
        return None
    if isinstance(encrypted, bool):
        return None
    return {"set_files": files, "set_bytes": size, "encrypted": bool(encrypted), "set_volumes": volumes}


def check_user_description(text: str) -> str:
    """A description given by hand must meet the vault's rule too (the S3 metadata's as well)."""
    if len(text) > MAX_DESCRIPTION or not is_printable_ascii(text):
        raise UsageError(
            f"the description has {len(text)} characters; it must be at most {MAX_DESCRIPTION} "
            "printable ASCII characters (leave --description out to get icefloe's own)"
        )
    return text
