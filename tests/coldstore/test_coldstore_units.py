"""Pure pieces of the cold store: part planning, error mapping, backoff, pacing, inventories."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from icefloe.catalog import INVENTORY_SEEN, Catalog, CopyRecord
from icefloe.coldstore import copies_from_inventory, parse_inventory, plan_part_size, reconcile
from icefloe.coldstore.awserrors import Backoff, RemoteNotFound, Where, call, is_transient, translate
from icefloe.coldstore.base import GIB, VAULT_MAX_PART, VAULT_MAX_PARTS, VAULT_MIN_PART
from icefloe.coldstore.s3jobs import parse_restore
from icefloe.coldstore.throttle import MeteredBody, RateLimiter
from icefloe.errors import (
    BackendUnsupported,
    ContainerMissing,
    CredentialsMissing,
    ServiceError,
    TooLarge,
    Transient,
    UsageError,
)

MIB = 1024 * 1024
VAULT = dict(min_part=VAULT_MIN_PART, max_part=VAULT_MAX_PART, max_parts=VAULT_MAX_PARTS)
WHERE = Where("glacier", "family", "eu-west-1")


def test_part_size_raised_for_huge_files_and_capped() -> None:
    assert plan_part_size(10, 32 * MIB, **VAULT) == 32 * MIB
    assert plan_part_size(10_000 * 32 * MIB, 32 * MIB, **VAULT) == 32 * MIB
    assert plan_part_size(10_000 * 32 * MIB + 1, 32 * MIB, **VAULT) == 64 * MIB
    assert plan_part_size(10_000 * 4 * GIB, MIB, **VAULT) == 4 * GIB
    with pytest.raises(TooLarge, match="10000 parts of 4 GiB"):
        plan_part_size(10_000 * 4 * GIB + 1, 32 * MIB, **VAULT)
    for bad in (0, 3 * MIB, MIB + 1, 8 * GIB):
        with pytest.raises(UsageError, match="power of two"):
            plan_part_size(10, bad, **VAULT)
    # S3 parts are at least 5 MiB
    assert plan_part_size(10, MIB, min_part=5 * MIB, max_part=5 * GIB, max_parts=10_000) == 5 * MIB


def client_error(code: str, status: int, message: str = "m") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Op",
    )


@pytest.mark.parametrize(
    "exc, kind, words",
    [
        (client_error("NoLongerSupportedException", 400), BackendUnsupported, 'backend = "s3"'),
        (client_error("ResourceNotFoundException", 404, "Vault not found for ARN"), ContainerMissing, "create-vault"),
        (client_error("ResourceNotFoundException", 404, "The upload ID was not found"), RemoteNotFound, "upload ID"),
        (client_error("UnrecognizedClientException", 403), CredentialsMissing, "refused the credentials"),
        (client_error("InvalidSignatureException", 403), CredentialsMissing, "AWS_SECRET_ACCESS_KEY"),
        (client_error("AccessDeniedException", 403), CredentialsMissing, "grant"),
        (client_error("ThrottlingException", 400), Transient, "resume"),
        (client_error("RequestTimeoutException", 408), Transient, "resume"),
        (client_error("ServiceUnavailableException", 503), Transient, "resume"),
        (client_error("Whatever", 502), Transient, "resume"),
        (client_error("InvalidParameterValueException", 400), ServiceError, "refused"),
        (EndpointConnectionError(endpoint_url="http://x"), Transient, "network"),
        (ReadTimeoutError(endpoint_url="http://x"), Transient, "network"),
        (NoCredentialsError(), CredentialsMissing, "aws configure"),
    ],
)
def test_errors_map_to_one_actionable_line(exc, kind, words) -> None:
    err = translate(exc, WHERE, "Op")
    assert type(err) is kind and words in err.message
    assert err.retryable == (kind is Transient) == is_transient(exc)


def test_bucket_hint() -> None:
    err = translate(client_error("NoSuchBucket", 404), Where("s3", "fam", "us-east-1"), "PutObject")
    assert isinstance(err, ContainerMissing) and "aws s3 mb s3://fam --region us-east-1" in err.message


def test_call_retries_transient_failures_with_growing_jittered_waits() -> None:
    waits: list[float] = []
    tries = iter([client_error("Throttling", 400)] * 3 + [None])

    def flaky():
        exc = next(tries)
        if exc:
            raise exc
        return "ok"

    assert call(flaky, WHERE, "Op", Backoff(attempts=6, base=1, cap=100), sleep=waits.append) == "ok"
    assert len(waits) == 3 and all(0 <= w <= 2**i for i, w in enumerate(waits))
    with pytest.raises(ServiceError):
        call(lambda: (_ for _ in ()).throw(client_error("InvalidParameterValueException", 400)),
             WHERE, "Op", Backoff(), sleep=waits.append)
    assert len(waits) == 3  # a refusal is not retried
    with pytest.raises(Transient):
        call(lambda: (_ for _ in ()).throw(client_error("SlowDown", 503)), WHERE, "Op",
             Backoff(attempts=2), sleep=waits.append)
    assert Backoff(base=1, cap=5).delay(10, rng=lambda: 1.0) == 5


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_rate_limiter_holds_the_average_rate() -> None:
    clock = FakeClock()
    pace = RateLimiter(1000, burst=100, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        pace.take(100)
    # 5,000 bytes at 1,000 B/s, less the first burst of 100
    assert clock.now == pytest.approx(4.9)


def test_metered_body_counts_only_the_send_and_takes_back_failures() -> None:
    seen: list[int] = []
    pace = RateLimiter(10**9)
    body = MeteredBody(b"x" * 100, seen.append, pace)
    body.REPORT_EVERY = 10
    assert body.read(60) == b"x" * 60 and seen == []  # hashing read: not progress
    body.seek(0)
    body.signal_transferring()
    body.read(70)
    body.seek(0)  # botocore rewinds to resend: -70
    body.read()
    body.rewind()  # the request failed: -100
    assert seen == [70, -70, 100, -100] and len(body) == 100
    batched: list[int] = []
    big = MeteredBody(bytes(MIB), batched.append, pace)
    big.signal_transferring()
    while big.read(16 * 1024):
        pass
    assert sum(batched) == MIB and len(batched) == MIB // MeteredBody.REPORT_EVERY


def test_restore_header() -> None:
    assert parse_restore(None) == (None, None)
    assert parse_restore('ongoing-request="true"') == ("ongoing", None)
    assert parse_restore('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"') == (
        "done",
        "Fri, 21 Dec 2012 00:00:00 GMT",
    )


VAULT_INVENTORY = {
    "VaultARN": "arn:aws:glacier:us-east-1:123456789012:vaults/family",
    "InventoryDate": "2026-02-01T00:00:00Z",
    "ArchiveList": [
        {"ArchiveId": "A1", "ArchiveDescription": '{"v":1,"p":"photos-a","n":"a.7z","s":5,"h":"%s","t":"2026-01-01T00:00:00Z"}' % ("1" * 64),
         "CreationDate": "2026-01-01T00:00:00Z", "Size": 5, "SHA256TreeHash": "t1"},
        {"ArchiveId": "A2", "ArchiveDescription": "b.7z", "CreationDate": "2026-01-02T00:00:00Z",
         "Size": 7, "SHA256TreeHash": "t2"},
        {"ArchiveId": "A3", "ArchiveDescription": "", "CreationDate": "2026-01-03T00:00:00Z",
         "Size": 9, "SHA256TreeHash": "bad"},
    ],
}


def test_vault_inventory_parsed_and_reconciled(tmp_path) -> None:
    inventory = parse_inventory(json.dumps(VAULT_INVENTORY).encode())
    assert (inventory.backend, inventory.container, len(inventory.items)) == ("glacier", "family", 3)
    assert inventory.items[0].parsed.name == "a.7z" and inventory.items[0].sha256 == "1" * 64
    assert inventory.items[1].parsed is None
    with Catalog.open(tmp_path / "c.sqlite") as catalog:
        def copy(rid, size, tree, name, created="2026-01-01T00:00:00+00:00"):
            catalog.put_copy(CopyRecord("glacier", "family", rid, "d", size, archive_name=name,
                                        tree_hash=tree, created_at=created))
        copy("A1", 5, "t1", "a.7z")
        copy("A3", 9, "t3", "c.7z")
        copy("A4", 1, "t4", "d.7z")  # older than the inventory, not in it
        copy("A5", 1, "t5", "e.7z", created="2026-03-01T00:00:00+00:00")  # newer
        catalog.put_copy(CopyRecord("glacier", "other-vault", "A9", "d", 1, archive_name="z"))
        result = reconcile(inventory, catalog)
        assert [c.remote_id for c in result.seen] == ["A1"]
        assert [(c.remote_id, "tree hash" in why) for c, why in result.mismatched] == [("A3", True)]
        assert [c.remote_id for c in result.missing] == ["A4"]
        assert [c.remote_id for c in result.pending] == ["A5"]
        assert [i.remote_id for i in result.unknown] == ["A2"]
        checks = {n: catalog.latest_verification(f"archive:{n}", INVENTORY_SEEN) for n in "acde"}
        assert checks["a"] is None  # subjects are archive:<name>
        assert catalog.latest_verification("archive:a.7z", INVENTORY_SEEN).ok
        assert not catalog.latest_verification("archive:c.7z", INVENTORY_SEEN).ok
        assert not catalog.latest_verification("archive:d.7z", INVENTORY_SEEN).ok
        assert catalog.latest_verification("archive:e.7z", INVENTORY_SEEN) is None
    rebuilt = copies_from_inventory(inventory)
    assert [(c.remote_id, c.archive_name, c.sha256) for c in rebuilt] == [("A1", "a.7z", "1" * 64)]


def test_not_an_inventory() -> None:
    for junk in (b"nope", b"[]", b'{"VaultARN": "x"}'):
        with pytest.raises(UsageError):
            parse_inventory(junk)
