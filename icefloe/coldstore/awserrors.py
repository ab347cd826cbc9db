"""AWS failures as icefloe errors, and the retry loop with backoff that vault requests use.

botocore raises ``ClientError`` (the service answered with an error) or a ``BotoCoreError``
(no answer, no credentials, ...). Callers of the cold store see only ``IcefloeError``s, each
with one sentence saying what to do, and ``retryable`` set for what may pass on its own:
408, 429, 5xx, throttling and connection trouble. The codes are botocore's own lists
(``botocore.retries.standard``), minus ``LimitExceededException``, which on Glacier means a
vault or job limit, not a rate.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)

from icefloe.errors import (
    BackendUnsupported,
    ContainerMissing,
    CredentialsMissing,
    IcefloeError,
    RemoteNotFound,
    ServiceError,
    Transient,
)

T = TypeVar("T")

TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
    }
)
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "AuthFailure",
    }
)
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})
MISSING_CODES = frozenset({"NoSuchBucket"})


@dataclass(frozen=True)
class Where:
    """What a request was about, for the error message."""

    service: str  # "glacier" or "s3"
    container: str  # vault or bucket name
    region: str

    def create_hint(self) -> str:
        if self.service == "glacier":
            return (
                f"create it with `aws glacier create-vault --account-id - --vault-name "
                f"{self.container} --region {self.region}`, or set coldstore.vault"
            )
        return (
            f"create it with `aws s3 mb s3://{self.container} --region {self.region}`, "
            "or set coldstore.bucket"
        )

    @property
    def noun(self) -> str:
        return "vault" if self.service == "glacier" else "bucket"


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_transient(exc: BaseException) -> bool:
    """True for failures that may pass if the same request is sent again."""
    if isinstance(exc, IcefloeError):
        return exc.retryable
    if isinstance(exc, ClientError):
        return error_code(exc) in TRANSIENT_CODES or http_status(exc) in TRANSIENT_STATUS
    return isinstance(
        exc, (BotoConnectionError, HTTPClientError, IncompleteReadError, ConnectionError, TimeoutError)
    )


def translate(exc: BaseException, where: Where, operation: str) -> IcefloeError:
    """The icefloe error for a botocore failure of ``operation``."""
    if isinstance(exc, IcefloeError):
        return exc
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return CredentialsMissing(
            f"no usable AWS credentials ({exc}): set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run `aws configure`"
        )
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message") or ""
        if code == "NoLongerSupportedException":
            return BackendUnsupported(
                f"this AWS account cannot use the Glacier vault API ({code}); "
                'set coldstore.backend = "s3" in icefloe.toml to use S3 Deep Archive instead'
            )
        if code in MISSING_CODES or (
            code == "ResourceNotFoundException" and "vault" in message.lower()
        ):
            return ContainerMissing(
                f"the {where.noun} {where.container!r} does not exist in {where.region}: "
                f"{where.create_hint()}"
            )
        if code in ("ResourceNotFoundException", "NoSuchUpload", "NoSuchKey", "404"):
            return RemoteNotFound(f"{where.service} {operation}: {message or code}")
        if code in CREDENTIAL_CODES:
            return CredentialsMissing(
                f"AWS refused the credentials ({code}: {message}); check AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY or the profile in use"
            )
        if code in DENIED_CODES:
            return CredentialsMissing(
                f"the credentials may not call {where.service} {operation} on "
                f"{where.container!r} ({code}); grant that permission to the IAM user or role"
            )
        if is_transient(exc):
            return Transient(
                f"{where.service} {operation} failed for now ({code or http_status(exc)}: "
                f"{message}); run it again to resume"
            )
        return ServiceError(f"{where.service} {operation} was refused: {code}: {message}")
    if is_transient(exc):
        return Transient(
            f"cannot reach {where.service} for {operation} ({exc}); check the network and run it "
            "again to resume"
        )
    if isinstance(exc, BotoCoreError):
        return ServiceError(f"{where.service} {operation} failed: {exc}")
    raise exc  # not a service failure: a bug or a local error, shown as it is


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base x 2^n)).

    https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
    """

    attempts: int = 6
    base: float = 0.25
    cap: float = 20.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        return rng() * min(self.cap, self.base * (2**attempt))


def call(
    fn: Callable[[], T],
    where: Where,
    operation: str,
    backoff: Backoff,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """``fn()``, sent again after transient failures, with backoff. Raises IcefloeError."""
    for attempt in range(backoff.attempts):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below
            if not is_transient(exc) or attempt == backoff.attempts - 1:
                raise translate(exc, where, operation) from exc
            if on_retry is not None:
                on_retry(exc)
            sleep(backoff.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover
