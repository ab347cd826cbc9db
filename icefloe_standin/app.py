"""The stand-in's WSGI application: one port for S3, the vault API and the admin endpoint.

Each request is classified by its SigV4 credential scope (``.../us-east-1/glacier/...``):
vault requests go to :class:`VaultApi`, S3 requests to moto's S3 through :class:`S3Layer`,
anything else to moto as is. Around that sit the admin endpoint under ``/_standin/``, and
the injected latency, faults, bandwidth cap and byte flips, which never touch the admin
endpoint.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

from icefloe.errors import ConfigInvalid
from icefloe_standin.apierror import ApiError, glacier_error, json_response, s3_error
from icefloe_standin.counters import Counters
from icefloe_standin.faults import Corrupter, Fault, FaultInjector, flip_byte
from icefloe_standin.options import StandinOptions
from icefloe_standin.s3 import S3Layer, parse_request
from icefloe_standin.shaping import PacedInput, Pacer, paced_chunks
from icefloe_standin.vault import VaultStore
from icefloe_standin.vault_api import GLACIER_PATH, Body, VaultApi, route

ADMIN_PREFIX = "/_standin/"
DEFAULT_REGION = "us-east-1"
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"^[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request$")


def classify(environ: dict[str, Any], path: str) -> tuple[str, str]:
    """``(service, region)`` of a request, from its signature or else its path."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        credential = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential", [""])[0]
        match = _QUERY_SCOPE.match(credential)
    if match is not None:
        return match["service"].lower(), match["region"]
    if GLACIER_PATH.match(path):
        return "glacier", DEFAULT_REGION
    if path.startswith("/moto-api"):
        return "moto", DEFAULT_REGION
    return "s3", DEFAULT_REGION


class StandinApp:
    """The WSGI callable. ``options`` is read once per request, so updates apply at once."""

    def __init__(self, moto_app: Any, store: VaultStore, options: StandinOptions) -> None:
        self.counters = Counters()
        self.corrupter = Corrupter()
        self._options = options
        self._injector = FaultInjector(options.fault_rate, options.fault_seed)
        self._options_lock = threading.Lock()
        self._moto = moto_app
        self._s3 = S3Layer(moto_app)
        self._vault = VaultApi(store, self.counters, lambda: self._options)

    @property
    def options(self) -> StandinOptions:
        return self._options

    def set_options(self, changes: dict[str, Any]) -> StandinOptions:
        with self._options_lock:
            if "storage_dir" in changes and changes["storage_dir"] != self._options.storage_dir:
                raise ConfigInvalid("storage_dir can only be set before the stand-in starts")
            new = self._options.updated(changes)
            if (new.fault_rate, new.fault_seed) != (
                self._options.fault_rate,
                self._options.fault_seed,
            ):
                self._injector = FaultInjector(new.fault_rate, new.fault_seed)
            self._options = new
            return new

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = _path(environ)
        if path.startswith(ADMIN_PREFIX):
            return self._admin(environ, start_response, path[len(ADMIN_PREFIX) :])
        method = environ["REQUEST_METHOD"]
        opts = self._options
        service, region = classify(environ, path)
        if service == "glacier":
            op, params = route(method, path)
        elif service == "s3":
            s3_request = parse_request(environ, path)
            op = s3_request.operation
        else:
            op = method
        name = f"{service}.{op}"
        self.counters.request(name)
        if opts.latency_ms:
            time.sleep(opts.latency_ms / 1000)
        fault = self._injector.pick(service) if service in ("glacier", "s3") else None
        if fault is not None:
            return self._refuse(environ, start_response, service, fault)
        if opts.bandwidth_bps:
            environ["wsgi.input"] = PacedInput(environ["wsgi.input"], Pacer(opts.bandwidth_bps))

        def inner(env: dict[str, Any], sr: Any) -> Iterable[bytes]:
            if service == "glacier":
                return self._vault(env, sr, op, params, region)
            if service == "s3":
                return self._s3(env, sr, s3_request, opts.job_delay_s)
            return self._moto(env, sr)

        return self._respond(inner, environ, start_response, name, opts)

    def _respond(
        self,
        app: Any,
        environ: dict[str, Any],
        start_response: Any,
        name: str,
        opts: StandinOptions,
    ) -> Iterable[bytes]:
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        result = app(environ, capture)
        chunks: Iterable[bytes] = result
        status = seen.get("status", "")
        if name == "s3.UploadPart" and status.startswith("2"):
            query = parse_qs(environ.get("QUERY_STRING", ""))
            self.counters.s3_part(query.get("uploadId", [""])[0], int(query.get("partNumber", ["0"])[0]))
        if status.startswith("2") and environ["REQUEST_METHOD"] != "HEAD":
            length = _content_length(seen.get("headers", []))
            if length != 0 and self.corrupter.take(name):
                chunks = flip_byte(chunks, (length or 0) // 2, self.counters.corrupted)
        if opts.bandwidth_bps:
            chunks = paced_chunks(chunks, Pacer(opts.bandwidth_bps))
        return result if chunks is result else _closing(chunks, result)

    def _refuse(
        self, environ: dict[str, Any], start_response: Any, service: str, fault: Fault
    ) -> Iterable[bytes]:
        """Answer with an injected error before the service sees the request."""
        Body(environ).drain()
        self.counters.fault(fault.code)
        if service == "glacier":
            sender = "Server" if fault.status >= 500 else "Client"
            error = ApiError(fault.code, fault.status, fault.message, sender)
            return glacier_error(start_response, error)
        return s3_error(start_response, fault.code, fault.status, fault.message)

    # -- admin endpoint ------------------------------------------------------------------

    def _admin(self, environ: dict[str, Any], start_response: Any, what: str) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        try:
            if (method, what) == ("GET", "counters"):
                return json_response(start_response, 200, self.counters.snapshot())
            if (method, what) == ("POST", "reset"):
                self.counters.reset()
                return json_response(start_response, 200, self.counters.snapshot())
            if (method, what) == ("GET", "options"):
                return json_response(start_response, 200, self._options.to_json())
            if (method, what) == ("POST", "options"):
                changes = _json_body(environ)
                if not isinstance(changes, dict):
                    raise ConfigInvalid("POST /_standin/options takes a JSON object")
                return json_response(start_response, 200, self.set_options(changes).to_json())
            if (method, what) == ("POST", "corrupt"):
                spec = _json_body(environ)
                if not isinstance(spec, dict) or not isinstance(spec.get("operation"), str):
                    raise ConfigInvalid(
                        'POST /_standin/corrupt takes {"operation": ..., "count": N}'
                    )
                count = spec.get("count", 1)
                if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                    raise ConfigInvalid("count must be a non-negative integer")
                self.corrupter.arm(spec["operation"], count)
                return json_response(start_response, 200, {"pending": self.corrupter.pending()})
            if (method, what) == ("GET", "health"):
                return json_response(start_response, 200, {"ok": True})
        except ConfigInvalid as exc:
            return json_response(start_response, 400, {"error": str(exc)})
        return json_response(
            start_response, 404, {"error": f"no admin endpoint {method} {ADMIN_PREFIX}{what}"}
        )


def _path(environ: dict[str, Any]) -> str:
    raw = environ.get("PATH_INFO", "") or "/"
    try:  # WSGI hands over the path as latin-1; URLs carry UTF-8
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for key, value in headers:
        if key.lower() == "content-length" and value.isdigit():
            return int(value)
    return None


def _json_body(environ: dict[str, Any]) -> Any:
    body = Body(environ)
    data = body.read(1024 * 1024)
    body.drain()
    try:
        return json.loads(data or b"{}")
    except ValueError:
        raise ConfigInvalid("the request body is not valid JSON") from None


def _closing(chunks: Iterable[bytes], result: Iterable[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
