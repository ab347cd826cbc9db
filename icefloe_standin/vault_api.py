"""The Glacier vault REST API over WSGI, served from a :class:`VaultStore`.

Paths, headers and bodies follow botocore's glacier service model (API version
2012-06-01), so an unmodified ``boto3.client("glacier")`` talks to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qs

from icefloe_standin.apierror import (
    ApiError,
    glacier_error,
    invalid_parameter,
    json_response,
    missing_parameter,
    no_longer_supported,
    status_line,
)
from icefloe_standin.counters import Counters
from icefloe_standin.jobs import new_job
from icefloe_standin.options import StandinOptions
from icefloe_standin.vault import Vault, VaultStore

_A = r"/(?P<account>[^/]+)"
_V = _A + r"/vaults/(?P<vault>[^/]+)"
_ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(p), ops)
    for p, ops in [
        (rf"^{_A}/vaults/?$", {"GET": "ListVaults"}),
        (rf"^{_V}/?$", {"PUT": "CreateVault", "GET": "DescribeVault", "DELETE": "DeleteVault"}),
        (rf"^{_V}/archives$", {"POST": "UploadArchive"}),
        (rf"^{_V}/archives/(?P<archive>[^/]+)$", {"DELETE": "DeleteArchive"}),
        (rf"^{_V}/jobs$", {"POST": "InitiateJob", "GET": "ListJobs"}),
        (rf"^{_V}/jobs/(?P<job>[^/]+)$", {"GET": "DescribeJob"}),
        (rf"^{_V}/jobs/(?P<job>[^/]+)/output$", {"GET": "GetJobOutput"}),
        (
            rf"^{_V}/multipart-uploads$",
            {"POST": "InitiateMultipartUpload", "GET": "ListMultipartUploads"},
        ),
        (
            rf"^{_V}/multipart-uploads/(?P<upload>[^/]+)$",
            {
                "PUT": "UploadMultipartPart",
                "GET": "ListParts",
                "POST": "CompleteMultipartUpload",
                "DELETE": "AbortMultipartUpload",
            },
        ),
        (rf"^{_V}/tags$", {"GET": "ListTagsForVault", "POST": "AddTagsToVault"}),
        (rf"^{_V}/access-policy$", {"GET": "GetVaultAccessPolicy", "PUT": "SetVaultAccessPolicy"}),
        (
            rf"^{_V}/notification-configuration$",
            {"GET": "GetVaultNotifications", "PUT": "SetVaultNotifications"},
        ),
        (rf"^{_V}/lock-policy(/[^/]+)?$", {"GET": "GetVaultLock", "POST": "InitiateVaultLock"}),
        (rf"^{_A}/policies/data-retrieval$", {"GET": "GetDataRetrievalPolicy"}),
        (rf"^{_A}/provisioned-capacity$", {"GET": "ListProvisionedCapacity"}),
    ]
]
GLACIER_PATH = re.compile(rf"^{_A}/(vaults|policies|provisioned-capacity)(/|$)")
_DRAIN_LIMIT = 8 * 1024**3
_DRAIN_CHUNK = 1024 * 1024


def route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """The operation name and path parameters; ``"Unsupported"`` if the stand-in lacks it."""
    for pattern, ops in _ROUTES:
        match = pattern.match(path)
        if match:
            op = ops.get(method)
            return (op or "Unsupported"), {k: v for k, v in match.groupdict().items() if v}
    return "Unsupported", {}


class Body:
    """The request body, read at most Content-Length bytes; ``drain`` discards the rest."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self._stream = environ["wsgi.input"]
        raw = environ.get("CONTENT_LENGTH") or ""
        self.length: int | None = int(raw) if raw.isdigit() else None
        self._left = self.length or 0

    def read(self, size: int) -> bytes:
        data = self._stream.read(min(size, self._left)) if self._left else b""
        self._left -= len(data)
        return data

    def drain(self) -> None:
        budget = _DRAIN_LIMIT
        while self._left and budget > 0:
            data = self.read(_DRAIN_CHUNK)
            if not data:
                break
            budget -= len(data)


class VaultApi:
    """A WSGI handler for one routed vault request."""

    def __init__(
        self,
        store: VaultStore,
        counters: Counters,
        options: Callable[[], StandinOptions],
    ) -> None:
        self.store = store
        self.counters = counters
        self.options = options

    def __call__(
        self,
        environ: dict[str, Any],
        start_response: Any,
        op: str,
        params: dict[str, str],
        region: str,
    ) -> Iterable[bytes]:
        body = Body(environ)
        try:
            if self.options().vault_unsupported:
                raise no_longer_supported()
            if not environ.get("HTTP_X_AMZ_GLACIER_VERSION"):
                raise missing_parameter("Required header x-amz-glacier-version is missing.")
            handler = getattr(self, "_" + op, None)
            if handler is None:
                what = (
                    op
                    if op != "Unsupported"
                    else f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO')}"
                )
                raise ApiError(
                    "NotImplemented", 501, f"{what} is not implemented by the icefloe stand-in."
                )
            request = _Request(environ, params, body, region, self.store)
            return handler(request, start_response)
        except ApiError as error:
            return glacier_error(start_response, error)
        finally:
            body.drain()

    # -- vaults --------------------------------------------------------------------------

    def _ListVaults(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        vaults = self.store.list_vaults(rq.account, rq.region)
        now, lag = self.store.clock(), self.options().inventory_lag_s
        page, marker = _page(vaults, lambda v: v.arn, rq.query("marker"), rq.limit(10))
        payload = {"VaultList": [v.describe(now, lag) for v in page], "Marker": marker}
        return json_response(sr, 200, payload)

    def _CreateVault(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        vault = self.store.create_vault(rq.account, rq.region, rq.params["vault"])
        return json_response(sr, 201, None, [("Location", f"/{vault.account}/vaults/{vault.name}")])

    def _DescribeVault(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        payload = rq.vault.describe(self.store.clock(), self.options().inventory_lag_s)
        return json_response(sr, 200, payload)

    def _DeleteVault(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        self.store.delete_vault(rq.vault)
        return json_response(sr, 204)

    # -- archives ------------------------------------------------------------------------

    def _UploadArchive(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        archive = self.store.upload_archive(
            rq.vault,
            rq.header("x-amz-archive-description"),
            rq.header("x-amz-sha256-tree-hash"),
            rq.header("x-amz-content-sha256"),
            rq.body,
            rq.body.length,
        )
        return _archive_created(sr, rq.vault, archive.archive_id, archive.tree_hash)

    def _DeleteArchive(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        self.store.delete_archive(rq.vault, rq.params["archive"])
        return json_response(sr, 204)

    # -- multipart uploads ---------------------------------------------------------------

    def _InitiateMultipartUpload(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        vault = rq.vault
        upload = self.store.initiate_upload(
            vault, rq.header("x-amz-part-size"), rq.header("x-amz-archive-description")
        )
        location = f"/{vault.account}/vaults/{vault.name}/multipart-uploads/{upload.upload_id}"
        headers = [("Location", location), ("x-amz-multipart-upload-id", upload.upload_id)]
        return json_response(sr, 201, None, headers)

    def _UploadMultipartPart(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        upload_id = rq.params["upload"]
        part = self.store.upload_part(
            rq.vault,
            upload_id,
            rq.header("content-range"),
            rq.header("x-amz-sha256-tree-hash"),
            rq.header("x-amz-content-sha256"),
            rq.body,
            rq.body.length,
        )
        self.counters.vault_part(upload_id, part.range)
        return json_response(sr, 204, None, [("x-amz-sha256-tree-hash", part.tree_hash)])

    def _ListParts(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        upload = self.store.get_upload(rq.vault, rq.params["upload"])
        with upload.lock:
            parts = [upload.parts[i] for i in sorted(upload.parts)]
        page, marker = _page(parts, lambda p: str(p.start), rq.query("marker"), rq.limit(50))
        payload = {
            **upload.describe(),
            "Parts": [{"RangeInBytes": p.range, "SHA256TreeHash": p.tree_hash} for p in page],
            "Marker": marker,
        }
        return json_response(sr, 200, payload)

    def _ListMultipartUploads(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        uploads = self.store.list_uploads(rq.vault)
        page, marker = _page(uploads, lambda u: u.upload_id, rq.query("marker"), rq.limit(50))
        return json_response(
            sr, 200, {"UploadsList": [u.describe() for u in page], "Marker": marker}
        )

    def _CompleteMultipartUpload(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        archive = self.store.complete_upload(
            rq.vault,
            rq.params["upload"],
            rq.header("x-amz-archive-size"),
            rq.header("x-amz-sha256-tree-hash"),
        )
        return _archive_created(sr, rq.vault, archive.archive_id, archive.tree_hash)

    def _AbortMultipartUpload(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        self.store.abort_upload(rq.vault, rq.params["upload"])
        return json_response(sr, 204)

    # -- jobs ----------------------------------------------------------------------------

    def _InitiateJob(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        vault = rq.vault
        try:
            params = json.loads(rq.body.read(1024 * 1024) or b"{}")
        except ValueError:
            raise invalid_parameter("The job parameters are not valid JSON.") from None
        opts = self.options()
        job = new_job(
            vault,
            params,
            self.store.archives(vault),
            self.store.clock(),
            opts.job_delay_s,
            opts.inventory_lag_s,
        )
        self.store.add_job(vault, job)
        location = f"/{vault.account}/vaults/{vault.name}/jobs/{job.job_id}"
        return json_response(sr, 202, None, [("Location", location), ("x-amz-job-id", job.job_id)])

    def _ListJobs(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        now = self.store.clock()
        jobs = self.store.list_jobs(rq.vault)
        completed, status = rq.query("completed"), rq.query("statuscode")
        if completed is not None:
            if completed not in ("true", "false"):
                raise invalid_parameter(f"Invalid completed value: {completed}")
            jobs = [j for j in jobs if j.completed(now) == (completed == "true")]
        if status is not None:
            if status not in ("InProgress", "Succeeded", "Failed"):
                raise invalid_parameter(f"Invalid statuscode value: {status}")
            jobs = [j for j in jobs if j.describe(now)["StatusCode"] == status]
        page, marker = _page(jobs, lambda j: j.job_id, rq.query("marker"), rq.limit(50))
        return json_response(
            sr, 200, {"JobList": [j.describe(now) for j in page], "Marker": marker}
        )

    def _DescribeJob(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        job = self.store.get_job(rq.vault, rq.params["job"])
        return json_response(sr, 200, job.describe(self.store.clock()))

    def _GetJobOutput(self, rq: _Request, sr: Any) -> Iterable[bytes]:
        job = self.store.get_job(rq.vault, rq.params["job"])
        if not job.completed(self.store.clock()):
            raise invalid_parameter(
                f"The job is not currently available for download: {job.job_id}"
            )
        size = job.output_size
        start, end, partial = _byte_range(rq.header("range"), size)
        headers = [
            ("Content-Type", job.content_type),
            ("Content-Length", str(end - start)),
            ("Accept-Ranges", "bytes"),
        ]
        if partial:
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
        checksum = job.output_tree_hash(start, end)
        if checksum:
            headers.append(("x-amz-sha256-tree-hash", checksum))
        if job.archive is not None and job.archive.description:
            headers.append(("x-amz-archive-description", job.archive.description))
        sr(status_line(206 if partial else 200), headers)
        return job.output(start, end)


class _Request:
    def __init__(
        self,
        environ: dict[str, Any],
        params: dict[str, str],
        body: Body,
        region: str,
        store: VaultStore,
    ) -> None:
        self.environ = environ
        self.params = params
        self.body = body
        self.region = region
        self.account = store.account_id(params.get("account", "-"))
        self._store = store
        self._query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)

    @property
    def vault(self) -> Vault:
        return self._store.get_vault(self.account, self.region, self.params["vault"])

    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            key = "HTTP_" + key
        return self.environ.get(key)

    def query(self, name: str) -> str | None:
        values = self._query.get(name)
        return values[0] if values else None

    def limit(self, default: int) -> int:
        raw = self.query("limit")
        if raw is None:
            return default
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise invalid_parameter(f"Invalid limit: {raw}. Use 1 to 1000.")
        return int(raw)


def _page(
    items: Sequence[Any], key: Callable[[Any], str], marker: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """One page from ``marker`` (the key of its first item); the next page's marker or None."""
    start = 0
    if marker:
        keys = [key(item) for item in items]
        if marker not in keys:
            raise invalid_parameter(f"Invalid marker: {marker}")
        start = keys.index(marker)
    page = list(items[start : start + limit])
    rest = items[start + limit :]
    return page, (key(rest[0]) if rest else None)


def _byte_range(value: str | None, size: int) -> tuple[int, int, bool]:
    """``(start, end_exclusive, partial)`` from a ``Range: bytes=S-E`` header."""
    if not value:
        return 0, size, False
    match = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", value)
    if not match:
        raise invalid_parameter(f"Invalid Range header: {value}. Use bytes=START-END.")
    start = int(match[1])
    end = int(match[2]) + 1 if match[2] else size
    if start >= size or end <= start:
        raise invalid_parameter(
            f"The requested range {value} is not within the output of {size} bytes."
        )
    end = min(end, size)
    return start, end, (start, end) != (0, size)


def _archive_created(sr: Any, vault: Vault, archive_id: str, tree_hash: str) -> Iterable[bytes]:
    headers = [
        ("Location", f"/{vault.account}/vaults/{vault.name}/archives/{archive_id}"),
        ("x-amz-archive-id", archive_id),
        ("x-amz-sha256-tree-hash", tree_hash),
    ]
    return json_response(sr, 201, None, headers)
