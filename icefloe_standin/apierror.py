"""Service errors in the shapes AWS sends, so botocore parses them as it parses AWS's.

Glacier (rest-json): HTTP status, header ``x-amzn-ErrorType: Code:...`` and a JSON body
``{"code": ..., "message": ..., "type": "Client"|"Server"}``. botocore reads the code from
the header first, then from the body.

S3 (rest-xml): ``<Error><Code>..</Code><Message>..</Message><RequestId>..</RequestId></Error>``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.http import HTTP_STATUS_CODES

_GLACIER_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.glacier.v2012_06_01/"


@dataclass(eq=False)
class ApiError(Exception):
    """An error the stand-in answers with, as AWS would."""

    code: str
    status: int
    message: str
    sender: str = "Client"

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def invalid_parameter(message: str) -> ApiError:
    return ApiError("InvalidParameterValueException", 400, message)


def missing_parameter(message: str) -> ApiError:
    return ApiError("MissingParameterValueException", 400, message)


def not_found(message: str) -> ApiError:
    return ApiError("ResourceNotFoundException", 404, message)


def no_longer_supported() -> ApiError:
    return ApiError(
        "NoLongerSupportedException",
        400,
        "This API is no longer supported for new accounts. "
        "Please use Amazon S3 Glacier storage classes instead.",
    )


def request_id() -> str:
    return secrets.token_urlsafe(33)


def status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown')}"


def json_response(
    start_response: Any,
    status: int,
    payload: Any = None,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """Send a JSON (or empty, when ``payload`` is None) response."""
    body = b"" if payload is None else json.dumps(payload).encode()
    out = [("x-amzn-RequestId", request_id()), *headers]
    if payload is not None:
        out.append(("Content-Type", "application/json"))
    out.append(("Content-Length", str(len(body))))
    start_response(status_line(status), out)
    return [body]


def glacier_error(start_response: Any, error: ApiError) -> list[bytes]:
    payload = {"code": error.code, "message": error.message, "type": error.sender}
    return json_response(
        start_response,
        error.status,
        payload,
        [("x-amzn-ErrorType", error.code + _GLACIER_TYPE_SUFFIX)],
    )


def s3_error(
    start_response: Any, code: str, status: int, message: str, **extra: str
) -> list[bytes]:
    rid = request_id()[:16]
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in extra.items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"{fields}<RequestId>{rid}</RequestId></Error>"
    ).encode()
    start_response(
        status_line(status),
        [
            ("Content-Type", "application/xml"),
            ("Content-Length", str(len(body))),
            ("x-amz-request-id", rid),
        ],
    )
    return [body]
