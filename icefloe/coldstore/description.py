"""Archive descriptions: what icefloe writes into a vault archive's description (and an S3
object's metadata) so that the cold store alone is enough to rebuild the catalog.

The format is compact JSON of printable ASCII, at most 1,024 characters (the vault limit,
which can never be changed after the upload). docs/description.md documents it; change
both together and bump ``FORMAT_VERSION`` when a reader would misread the new form.

    {"v":1,"p":"photos-a","n":"photos-a-2026-01.7z.001","s":4700000000,"h":"<sha256>","t":"2026-01-05T03:04:05Z"}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from icefloe.errors import UsageError

FORMAT_VERSION = 1
# https://docs.aws.amazon.com/amazonglacier/latest/dev/api-initiate-multipart-upload.html
MAX_DESCRIPTION = 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEYS = {"v", "p", "n", "s", "h", "t", "d", "nt"}


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
    version: int = FORMAT_VERSION


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
    data: dict = {"v": desc.version}
    if desc.partition:
        data["p"] = desc.partition
    data.update({"n": desc.name, "s": desc.size, "h": desc.sha256, "t": desc.created})
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
    if not isinstance(data, dict) or not set(data) <= _KEYS:
        return None
    version = data.get("v")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return None
    if version > FORMAT_VERSION:
        # A newer icefloe wrote it; the fields this version knows keep their meaning.
        pass
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
    return Description(
        name=name,
        size=size,
        sha256=sha,
        created=created,
        partition=partition,
        folder=folder,
        name_truncated=bool(data.get("nt")),
        version=version,
    )


def check_user_description(text: str) -> str:
    """A description given by hand must meet the vault's rule too (the S3 metadata's as well)."""
    if len(text) > MAX_DESCRIPTION or not is_printable_ascii(text):
        raise UsageError(
            f"the description has {len(text)} characters; it must be at most {MAX_DESCRIPTION} "
            "printable ASCII characters (leave --description out to get icefloe's own)"
        )
    return text
