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

from icefloe.catalog import PartReceipt, UploadRecord
from icefloe.coldstore.awserrors import RemoteNotFound
from icefloe.coldstore.base import LocalFile
from icefloe.coldstore.intent import local_key


def b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def hex_to_b64(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode()


def held_receipt(item: dict | None, number: int, start: int, data: memoryview) -> PartReceipt | None:
    """The receipt of a part S3 lists (``item``, from ListParts) if it holds these bytes."""
    if item is None or int(item.get("Size", len(data))) != len(data):
        return None
    digest = hashlib.sha256(data).digest()
    if item.get("ChecksumSHA256"):
        same = item["ChecksumSHA256"] == base64.b64encode(digest).decode()
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

    def _held_parts(self, record: UploadRecord) -> dict[int, dict] | None:
        """Part number -> ListParts item of a recorded upload; None when S3 no longer has it."""
        try:
            return self._list_parts(record.key, record.upload_id)
        except RemoteNotFound:
            self.catalog.finish_upload(record.upload_id, "aborted")  # aborted or expired there
            return None

    def _list_parts(self, key: str, upload_id: str) -> dict[int, dict]:
        held: dict[int, dict] = {}
        marker = None
        while True:
            params = {"Key": key, "UploadId": upload_id}
            if marker:
                params["PartNumberMarker"] = marker
            page = self._call("ListParts", "list_parts", **params)
            for part in page.get("Parts", []):
                held[int(part["PartNumber"])] = part
            if not page.get("IsTruncated"):
                return held
            marker = page.get("NextPartNumberMarker")

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._call("AbortMultipartUpload", "abort_multipart_upload", Key=key, UploadId=upload_id)
        except RemoteNotFound:
            pass
        self.catalog.finish_upload(upload_id, "aborted")


def name_of(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key
