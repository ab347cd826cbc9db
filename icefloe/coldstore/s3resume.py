"""What resuming an S3 multipart upload needs: the uploads the catalog recorded for a file,
the parts S3 holds (ListParts), and whether a held part is the local bytes.

icefloe drives the multipart steps itself (CreateMultipartUpload, UploadPart,
CompleteMultipartUpload), because s3transfer aborts an upload that fails in-process, so a
task retry would have sent every part again. Each acknowledged part is recorded as it
finishes; any later try, in this process or another, asks S3 which parts it holds, checks
each against the local bytes (its SHA-256, or the MD5 ETag of a part sent without one), and
sends only the rest.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable

from icefloe.catalog import PartReceipt, UploadRecord
from icefloe.coldstore.awserrors import RemoteNotFound
from icefloe.coldstore.base import LocalFile
from icefloe.coldstore.intent import local_key


def b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def hex_to_b64(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode()


def _crc32(data) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def _sha256(data) -> bytes:
    return hashlib.sha256(data).digest()


# The part checksums icefloe sends, by S3's name for them. New uploads use CRC32: each part is
# guarded in transit all the same, for a quarter of a SHA-256 pass, and the file's own SHA-256
# is computed once while it is read. SHA256 is for uploads an older icefloe opened (S3 wants
# every part of an upload in the algorithm it was created with).
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
PART_CHECKSUMS: dict[str, Callable[[memoryview], bytes]] = {"CRC32": _crc32, "SHA256": _sha256}
PART_CHECKSUM = "CRC32"


def part_digest(algorithm: str, data) -> bytes:
    return PART_CHECKSUMS[algorithm](data)


def composite_checksum(algorithm: str, digests: list[bytes]) -> str:
    """S3's checksum of a multipart object: the algorithm over the parts' digests, "-N"."""
    whole = base64.b64encode(part_digest(algorithm, b"".join(digests))).decode()
    return f"{whole}-{len(digests)}"


def held_receipt(item: dict | None, number: int, start: int, data: memoryview,
                 algorithm: str = PART_CHECKSUM) -> PartReceipt | None:
    """The receipt of a part S3 lists (``item``, from ListParts) if it holds these bytes."""
    if item is None or int(item.get("Size", len(data))) != len(data):
        return None
    digest = part_digest(algorithm, data)
    if item.get(f"Checksum{algorithm}"):
        same = item[f"Checksum{algorithm}"] == base64.b64encode(digest).decode()
    else:
        same = item.get("ETag", "").strip('"') == hashlib.md5(data).hexdigest()  # noqa: S324
    if not same:
        return None  # differs from the local bytes: send it again, replacing it
    return PartReceipt(number, start, start + len(data), digest.hex(), item.get("ETag"))


class S3Resume:
    """The resume verbs of :class:`~icefloe.coldstore.s3.S3Store` (a mixin)."""

    def _recorded_uploads(self, f: LocalFile) -> list[UploadRecord]:
        """Open uploads of this file (same path, size and mtime) in the catalog, oldest first."""
        here = local_key(f.path)
        return [
            u for u in self.catalog.uploads("open")
            if u.backend == self.backend and u.container == self.container
            and u.local_path == here and u.size == f.size and u.mtime_ns == f.state.mtime_ns
        ]

    def _held_parts(self, record: UploadRecord) -> tuple[dict[int, dict], str] | None:
        """Part number -> ListParts item of a recorded upload, and the upload's part checksum;
        None when S3 no longer has it."""
        try:
            held, algorithm = self._list_parts(record.key, record.upload_id)
        except RemoteNotFound:
            self.catalog.finish_upload(record.upload_id, "aborted")  # aborted or expired there
            return None
        if algorithm is None:  # S3 did not say: the parts this catalog recorded tell
            sizes = {len(p.checksum) for p in self.catalog.parts(record.upload_id)}
            algorithm = "SHA256" if sizes == {64} else PART_CHECKSUM
        return held, algorithm

    def _list_parts(self, key: str, upload_id: str) -> tuple[dict[int, dict], str | None]:
        held: dict[int, dict] = {}
        marker = None
        algorithm = None
        while True:
            params = {"Key": key, "UploadId": upload_id}
            if marker:
                params["PartNumberMarker"] = marker
            page = self._call("ListParts", "list_parts", **params)
            algorithm = algorithm or page.get("ChecksumAlgorithm")
            for part in page.get("Parts", []):
                held[int(part["PartNumber"])] = part
            if not page.get("IsTruncated"):
                break
            marker = page.get("NextPartNumberMarker")
        if algorithm not in PART_CHECKSUMS:  # not said: the parts may tell
            algorithm = next((a for a in PART_CHECKSUMS for p in held.values() if p.get(f"Checksum{a}")),
                             None)
        return held, algorithm

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._call("AbortMultipartUpload", "abort_multipart_upload", Key=key, UploadId=upload_id)
        except RemoteNotFound:
            pass
        self.catalog.finish_upload(upload_id, "aborted")


def name_of(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key
