"""Resuming S3 uploads across processes, through botocore's event hooks around s3transfer.

s3transfer cannot resume a multipart upload another process started, and icefloe does not
re-implement it. Instead, while an upload runs, hooks on the client:

- record the upload id (``after-call CreateMultipartUpload``) and each acknowledged part
  (``after-call UploadPart``) in the catalog as they happen;
- when a rerun finds an open upload of the same file (ListParts), answer s3transfer's
  CreateMultipartUpload with that upload's id, and its UploadPart for a part S3 already holds
  (the part's SHA-256, or MD5 ETag, checked against the local bytes) from the listing, so
  only the rest is sent. A ``before-call`` handler that returns a response short-circuits
  the request: botocore's Stubber works the same way;
- refuse to complete (``before-call CompleteMultipartUpload``) or, for a one-request upload,
  to send (``request-created PutObject``) bytes that no longer match the file.

The hooks see only uploads this store registered in ``_active``, keyed by object key.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass, field

from botocore.awsrequest import AWSResponse

from icefloe.catalog import PartReceipt, UploadRecord
from icefloe.progress import Progress
from icefloe.coldstore.awserrors import RemoteNotFound
from icefloe.coldstore.base import LocalFile, differs_error
from icefloe.coldstore.intent import Intent, local_key, resumed_intent


def b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def hex_to_b64(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode()


class HashingReader:
    """The file as s3transfer reads it, hashed on the first sequential pass over each byte.

    s3transfer reads multipart uploads in order; a single PutObject body is read by
    botocore to checksum it, rewound, and read again to send it. Bytes are hashed only the
    first time they are read in order; a jump past unhashed bytes marks the hash unusable.
    """

    def __init__(self, f: LocalFile) -> None:
        self._f = f
        self._pos = 0
        self._hashed = 0
        self._sha = hashlib.sha256()
        self.skipped = False

    def read(self, size: int = -1) -> bytes:
        end = self._f.size if size is None or size < 0 else min(self._f.size, self._pos + size)
        if end <= self._pos:
            return b""
        data = self._f.pread(self._pos, end)
        if self._pos <= self._hashed < end:
            self._sha.update(memoryview(data)[self._hashed - self._pos :])
            self._hashed = end
        elif self._pos > self._hashed:
            self.skipped = True
        self._pos = end
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._f.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass  # the upload owns the file descriptor, not s3transfer

    def sha256(self) -> str | None:
        return None if self.skipped or self._hashed != self._f.size else self._sha.hexdigest()


@dataclass
class Transfer:
    """One upload in flight, as the event hooks see it."""

    key: str
    f: LocalFile
    intent: Intent
    part_size: int
    progress: Progress
    reader: HashingReader | None = None
    upload_id: str | None = None  # set when resuming, or when S3 answers Create
    resumed: bool = False
    server_parts: dict[int, dict] = field(default_factory=dict)  # part number -> ListParts item
    sent: int = 0
    reused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class S3Resume:
    """The resume and record hooks of :class:`~icefloe.coldstore.s3.S3Store` (a mixin)."""

    def _register_hooks(self, events) -> None:
        for op in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "PutObject"):
            events.register(f"before-parameter-build.s3.{op}", self._tag)
        events.register("before-call.s3.CreateMultipartUpload", self._answer_create)
        events.register("before-call.s3.CompleteMultipartUpload", self._before_complete)
        events.register_last("request-created.s3.PutObject", self._before_put_send)
        events.register("after-call.s3.CreateMultipartUpload", self._created)
        events.register("before-call.s3.UploadPart", self._answer_part)
        events.register("after-call.s3.UploadPart", self._part_done)

    def _check_source(self, t: Transfer) -> None:
        """The file is as it was when the upload started, and hashes as recorded."""
        t.f.check_unchanged()
        whole = t.reader.sha256() if t.reader is not None else None
        if whole is not None and whole != t.intent.sha256:
            raise differs_error(t.f.path)

    # -- event hooks (called from s3transfer's threads) -------------------------------------

    def _before_complete(self, context, **kwargs) -> None:
        # Every part has been read by now: refuse to assemble bytes that no longer match.
        t = context.get("icefloe_transfer")
        if t is not None:
            self._check_source(t)

    def _before_put_send(self, request, **kwargs) -> None:
        # A one-request upload: over http botocore has read (and we hashed) the whole body
        # for its checksum before sending it, so a change is caught before anything is stored.
        t = getattr(request, "context", {}).get("icefloe_transfer")
        if t is not None and t.reader is not None and t.reader.sha256() is not None:
            self._check_source(t)

    def _tag(self, params, context, **kwargs) -> None:
        t = self._active.get(params.get("Key", ""))
        if t is not None and params.get("Bucket") == self.container:
            context["icefloe_transfer"] = t
            if "PartNumber" in params:
                context["icefloe_part"] = int(params["PartNumber"])
                context["icefloe_body"] = params.get("Body")

    def _answer_create(self, context, **kwargs):
        t = context.get("icefloe_transfer")
        if t is None or not t.resumed:
            return None
        parsed = {"Bucket": self.container, "Key": t.key, "UploadId": t.upload_id,
                  "ChecksumAlgorithm": "SHA256"}
        return AWSResponse(None, 200, {}, None), parsed

    def _created(self, parsed, context, **kwargs) -> None:
        t = context.get("icefloe_transfer")
        if t is None or t.resumed or "UploadId" not in parsed:
            return
        t.upload_id = parsed["UploadId"]
        self.catalog.open_upload(
            UploadRecord(
                upload_id=t.upload_id, backend=self.backend, container=self.container, key=t.key,
                local_path=local_key(t.f.path), size=t.f.size, mtime_ns=t.f.state.mtime_ns,
                part_size=t.part_size, description=t.intent.description,
            )
        )

    def _answer_part(self, context, **kwargs):
        t = context.get("icefloe_transfer")
        number = context.get("icefloe_part")
        held = t.server_parts.get(number) if t is not None else None
        body = context.get("icefloe_body")
        if held is None or body is None:
            return None
        start = body.tell()
        data = body.read()
        body.seek(start)
        digest = hashlib.sha256(data)
        if held.get("ChecksumSHA256"):
            same = held["ChecksumSHA256"] == base64.b64encode(digest.digest()).decode()
        else:
            same = held.get("ETag", "").strip('"') == hashlib.md5(data).hexdigest()  # noqa: S324
        if not same or held.get("Size", len(data)) != len(data):
            return None  # differs from the local bytes: send it again, replacing it
        first = (number - 1) * t.part_size
        self.catalog.record_part(
            t.upload_id,
            PartReceipt(number, first, first + len(data), digest.hexdigest(), held.get("ETag")),
        )
        with t.lock:
            t.reused += 1
        t.progress.on_progress(len(data))
        parsed = {"ETag": held.get("ETag"), "ChecksumSHA256": base64.b64encode(digest.digest()).decode()}
        return AWSResponse(None, 200, {}, None), parsed

    def _part_done(self, http_response, parsed, context, **kwargs) -> None:
        t = context.get("icefloe_transfer")
        number = context.get("icefloe_part")
        if t is None or number is None or http_response.raw is None:
            return  # not ours, or answered from the listing
        if http_response.status_code >= 300 or not t.upload_id:
            return
        first = (number - 1) * t.part_size
        end = min(t.f.size, first + t.part_size)
        checksum = parsed.get("ChecksumSHA256")
        self.catalog.record_part(
            t.upload_id,
            PartReceipt(number, first, end, b64_to_hex(checksum) if checksum else "", parsed.get("ETag")),
        )
        with t.lock:
            t.sent += 1

    # -- finding an upload to resume -------------------------------------------------------

    def _find_resumable(self, f: LocalFile, progress: Progress) -> Transfer | None:
        here = local_key(f.path)
        records = [
            u for u in self.catalog.uploads("open")
            if u.backend == self.backend and u.container == self.container
            and u.local_path == here and u.size == f.size and u.mtime_ns == f.state.mtime_ns
        ]
        chosen: Transfer | None = None
        for record in reversed(records):  # newest first; older ones are abandoned
            try:
                held = self._list_parts(record.key, record.upload_id) if chosen is None else None
            except RemoteNotFound:
                self.catalog.finish_upload(record.upload_id, "aborted")
                continue
            if held is None:
                self._abort(record.key, record.upload_id)
                continue
            intent = resumed_intent(self.catalog, f, _name_of(record.key, self.prefix),
                                    record.description, None)
            chosen = Transfer(record.key, f, intent, record.part_size, progress,
                               upload_id=record.upload_id, resumed=True, server_parts=held)
        return chosen

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


def _name_of(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key
