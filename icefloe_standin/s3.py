"""S3, served by moto, with two things moto lacks.

- **Checksums are checked.** moto 5.2.5 stores whatever ``x-amz-checksum-*`` a client
  sends on PutObject and UploadPart without comparing it to the body. Here the body is
  hashed first (SHA-256, SHA-1 or CRC32) and a mismatch is refused with 400 ``BadDigest``,
  as S3 does, and UploadPart echoes the checksum, which moto leaves out. Bodies sent with
  ``aws-chunked`` trailing checksums (botocore uses them over https only) pass unchecked.
- **Restores take time.** moto finishes a restore at once. With ``job_delay_s`` > 0 a
  restored object stays ``ongoing-request="true"`` for that long: HEAD says so, GET answers
  403 ``InvalidObjectState`` and a repeated RestoreObject 409 ``RestoreAlreadyInProgress``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from icefloe_standin.apierror import s3_error

_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_CHUNK = 1024 * 1024

# query sub-resource -> operation name suffix, for bucket- and object-level requests
_SUBRESOURCES = (
    "uploads",
    "uploadId",
    "restore",
    "tagging",
    "acl",
    "attributes",
    "versioning",
    "lifecycle",
    "policy",
    "location",
    "versions",
    "delete",
    "encryption",
    "cors",
    "select",
    "legal-hold",
    "retention",
    "object-lock",
    "notification",
    "website",
)
_OBJECT_OPS = {
    ("PUT", None): "PutObject",
    ("GET", None): "GetObject",
    ("HEAD", None): "HeadObject",
    ("DELETE", None): "DeleteObject",
    ("POST", "uploads"): "CreateMultipartUpload",
    ("POST", "uploadId"): "CompleteMultipartUpload",
    ("PUT", "uploadId"): "UploadPart",
    ("GET", "uploadId"): "ListParts",
    ("DELETE", "uploadId"): "AbortMultipartUpload",
    ("POST", "restore"): "RestoreObject",
    ("POST", "select"): "SelectObjectContent",
    ("GET", "attributes"): "GetObjectAttributes",
}
_BUCKET_OPS = {
    ("PUT", None): "CreateBucket",
    ("GET", None): "ListObjects",
    ("HEAD", None): "HeadBucket",
    ("DELETE", None): "DeleteBucket",
    ("GET", "uploads"): "ListMultipartUploads",
    ("GET", "versions"): "ListObjectVersions",
    ("GET", "location"): "GetBucketLocation",
    ("POST", "delete"): "DeleteObjects",
}
_VERB = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}


@dataclass(frozen=True)
class S3Request:
    operation: str
    bucket: str | None
    key: str | None


def parse_request(environ: dict[str, Any], path: str) -> S3Request:
    """Name the S3 operation from the method, the path-style (or ``bucket.localhost``) URL,
    the query's sub-resource and ``x-amz-copy-source``."""
    method = environ["REQUEST_METHOD"]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    hostname = environ.get("HTTP_HOST", "").split(":")[0]
    bucket: str | None
    key: str | None
    if hostname.endswith(".localhost"):
        bucket, key = hostname[: -len(".localhost")], path.lstrip("/") or None
    else:
        bucket, _, key = path.lstrip("/").partition("/")
        bucket, key = bucket or None, key or None
    sub = next((s for s in _SUBRESOURCES if s in query), None)
    if bucket is None:
        return S3Request("ListBuckets", None, None)
    if key is None:
        if sub is None and method == "GET" and query.get("list-type") == ["2"]:
            return S3Request("ListObjectsV2", bucket, None)
        return S3Request(
            _BUCKET_OPS.get((method, sub)) or _named(method, "Bucket", sub), bucket, None
        )
    op = _OBJECT_OPS.get((method, sub)) or _named(method, "Object", sub)
    if environ.get("HTTP_X_AMZ_COPY_SOURCE") and op in ("PutObject", "UploadPart"):
        op = "CopyObject" if op == "PutObject" else "UploadPartCopy"
    return S3Request(op, bucket, key)


def _named(method: str, kind: str, sub: str | None) -> str:
    verb = _VERB.get(method, method.title())
    if sub is None:
        return f"{verb}{kind}"
    words = "".join(w[:1].upper() + w[1:] for w in sub.split("-"))
    return f"{verb}{kind}{words}"


class S3Layer:
    """Checks checksums and paces restores in front of moto's S3 app."""

    def __init__(self, moto_app: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._moto = moto_app
        self._clock = clock
        self._restoring: dict[tuple[str, str], float] = {}  # (bucket, key) -> ready at
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Any, request: S3Request, job_delay_s: float
    ) -> Iterable[bytes]:
        op, target = request.operation, (request.bucket or "", request.key or "")
        if op in ("PutObject", "UploadPart"):
            refused = self._check_checksum(environ, start_response)
            if refused is not None:
                return refused
        if op in ("PutObject", "CopyObject", "DeleteObject", "CompleteMultipartUpload"):
            self._forget(target)
        restoring = self._restoring_now(target)
        if restoring and op == "GetObject":
            return s3_error(
                start_response,
                "InvalidObjectState",
                403,
                "The operation is not valid for the object's storage class",
            )
        if restoring and op == "RestoreObject":
            return s3_error(
                start_response,
                "RestoreAlreadyInProgress",
                409,
                "Object restore is already in progress",
            )

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            checked = environ.get("icefloe.checksum")
            # moto leaves the checksum out of UploadPart's answer; S3 echoes it.
            if (
                checked
                and status.startswith("2")
                and all(k.lower() != checked[0] for k, _ in headers)
            ):
                headers = [*headers, checked]
            if restoring and op == "HeadObject":
                headers = [(k, v) for k, v in headers if k.lower() != "x-amz-restore"]
                headers.append(("x-amz-restore", 'ongoing-request="true"'))
            if op == "RestoreObject" and status.startswith("202") and job_delay_s > 0:
                with self._lock:
                    self._restoring[target] = self._clock() + job_delay_s
            return start_response(status, headers, exc_info)

        return self._moto(environ, capture)

    def _restoring_now(self, target: tuple[str, str]) -> bool:
        with self._lock:
            ready_at = self._restoring.get(target)
            if ready_at is None:
                return False
            if self._clock() >= ready_at:
                del self._restoring[target]
                return False
            return True

    def _forget(self, target: tuple[str, str]) -> None:
        with self._lock:
            self._restoring.pop(target, None)

    def _check_checksum(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Hash the body against its ``x-amz-checksum-*`` header; a refusal, or None."""
        found = next(
            (
                (name, environ[f"HTTP_X_AMZ_CHECKSUM_{name.upper()}"])
                for name in _CHECKSUMS
                if environ.get(f"HTTP_X_AMZ_CHECKSUM_{name.upper()}")
            ),
            None,
        )
        if found is None:
            return None
        chunked = "aws-chunked" in environ.get("HTTP_CONTENT_ENCODING", "") or environ.get(
            "HTTP_X_AMZ_CONTENT_SHA256", ""
        ).startswith("STREAMING-")
        if chunked:
            return None
        name, claimed = found
        factory, size = _CHECKSUMS[name]
        try:
            digest = base64.b64decode(claimed, validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) != size:
            return s3_error(
                start_response,
                "InvalidRequest",
                400,
                f"Value for x-amz-checksum-{name} header is invalid.",
            )
        raw = environ.get("CONTENT_LENGTH") or ""
        # None: a chunked body the server terminates, read to its end
        remaining = (
            int(raw) if raw.isdigit() else (None if environ.get("wsgi.input_terminated") else 0)
        )
        # Handed on to moto as its input stream, closed when the request is collected.
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        hasher = factory()
        stream = environ["wsgi.input"]
        while remaining is None or remaining > 0:
            data = stream.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
            if not data:
                break
            hasher.update(data)
            spool.write(data)
            if remaining is not None:
                remaining -= len(data)
        if hasher.digest() != digest:
            spool.close()
            return s3_error(
                start_response,
                "BadDigest",
                400,
                f"The {name.upper()} you specified did not match the calculated checksum.",
            )
        spool.seek(0)
        environ["wsgi.input"] = spool
        environ["icefloe.checksum"] = (f"x-amz-checksum-{name}", claimed)
        return None


class _Crc32:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


# Checksums the stand-in can check (CRC32C and CRC64NVME need awscrt; they pass unchecked).
_CHECKSUMS: dict[str, tuple[Callable[[], Any], int]] = {
    "sha256": (hashlib.sha256, 32),
    "sha1": (hashlib.sha1, 20),
    "crc32": (_Crc32, 4),
}
