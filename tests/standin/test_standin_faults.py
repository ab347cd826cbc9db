"""Injected faults, latency, bandwidth, the vault switch and the admin endpoint."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.retries.standard import (
    OrRetryChecker,
    RetryContext,
    ThrottledRetryableChecker,
    ThrottlingStatusCodeChecker,
    TransientRetryableChecker,
)

RETRYABLE = OrRetryChecker(
    [TransientRetryableChecker(), ThrottledRetryableChecker(), ThrottlingStatusCodeChecker()]
)


def is_retryable(error: ClientError) -> bool:
    status = error.response["ResponseMetadata"]["HTTPStatusCode"]
    context = RetryContext(
        attempt_number=1,
        parsed_response=error.response,
        http_response=SimpleNamespace(status_code=status),
    )
    return RETRYABLE.is_retryable(context)


def test_seeded_fault_rate_is_roughly_honoured(
    glacier: Any, s3: Any, standin: Any, tune: Any
) -> None:
    tune(fault_rate=0.25, fault_seed=1234)
    standin.reset_counters()
    errors: list[ClientError] = []
    for i in range(240):
        try:
            glacier.list_vaults() if i % 2 else s3.list_buckets()
        except ClientError as error:
            errors.append(error)
    counters = standin.counters()
    assert counters["faults"] == len(errors)
    assert 35 <= len(errors) <= 85  # 60 expected
    assert counters["operations"]["glacier.ListVaults"] == 120
    assert counters["operations"]["s3.ListBuckets"] == 120
    assert all(is_retryable(e) for e in errors)
    codes = {e.response["Error"]["Code"] for e in errors}
    assert {
        "ThrottlingException",
        "RequestTimeoutException",
        "ServiceUnavailableException",
    } <= codes
    assert codes & {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"}
    assert sum(counters["faults_by_code"].values()) == len(errors)


def test_unseeded_faults_fall_evenly_and_retries_get_through(
    standin: Any, tune: Any, vault: str, make_client: Any
) -> None:
    glacier = make_client("glacier", retries={"total_max_attempts": 3, "mode": "standard"})
    tune(fault_rate=0.5)
    standin.reset_counters()
    attempts = [
        glacier.describe_vault(vaultName=vault)["ResponseMetadata"]["RetryAttempts"]
        for _ in range(4)
    ]
    assert attempts == [0, 1, 1, 1]  # every second request fails, the retry passes
    counters = standin.counters()
    assert counters["faults"] == 3 and counters["operations"]["glacier.DescribeVault"] == 7


def test_faulted_upload_changes_nothing(glacier: Any, standin: Any, tune: Any, vault: str) -> None:
    upload_id = glacier.initiate_multipart_upload(vaultName=vault, partSize=str(1024 * 1024))[
        "uploadId"
    ]
    tune(fault_rate=1.0)
    with pytest.raises(ClientError) as excinfo:
        glacier.upload_multipart_part(
            vaultName=vault, uploadId=upload_id, range="bytes 0-9/*", body=b"0123456789"
        )
    assert is_retryable(excinfo.value)
    tune(fault_rate=0.0)
    assert glacier.list_parts(vaultName=vault, uploadId=upload_id)["Parts"] == []


def test_admin_requests_are_never_faulted(admin_call: Any, tune: Any) -> None:
    tune(fault_rate=1.0, latency_ms=0)
    for _ in range(5):
        status, counters = admin_call("counters")
        assert status == 200 and "operations" in counters


def test_latency_is_added(glacier: Any, tune: Any) -> None:
    tune(latency_ms=150)
    started = time.monotonic()
    glacier.list_vaults()
    assert time.monotonic() - started >= 0.15


def test_bandwidth_caps_request_and_response_bodies(glacier: Any, tune: Any, vault: str) -> None:
    body = b"x" * 200_000
    tune(bandwidth_bps=1_000_000)
    started = time.monotonic()
    archive_id = glacier.upload_archive(vaultName=vault, body=body)["archiveId"]
    uploaded = time.monotonic() - started
    job_id = glacier.initiate_job(
        vaultName=vault, jobParameters={"Type": "archive-retrieval", "ArchiveId": archive_id}
    )["jobId"]
    started = time.monotonic()
    assert glacier.get_job_output(vaultName=vault, jobId=job_id)["body"].read() == body
    downloaded = time.monotonic() - started
    assert uploaded >= 0.18 and downloaded >= 0.18  # 200 kB at 1 MB/s
    assert uploaded < 3 and downloaded < 3


def test_vault_unsupported_switch(glacier: Any, s3: Any, admin_call: Any, vault: str) -> None:
    status, options = admin_call("options", {"vault_unsupported": True})
    try:
        assert status == 200 and options["vault_unsupported"] is True
        for call in (glacier.list_vaults, lambda: glacier.describe_vault(vaultName=vault)):
            with pytest.raises(ClientError) as excinfo:
                call()
            assert excinfo.value.response["Error"]["Code"] == "NoLongerSupportedException"
            assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            assert not is_retryable(excinfo.value)
        with pytest.raises(glacier.exceptions.NoLongerSupportedException):
            glacier.create_vault(vaultName="new-account-vault")
        s3.list_buckets()  # S3 is unaffected
    finally:
        admin_call("options", {"vault_unsupported": False})
    glacier.describe_vault(vaultName=vault)


def test_modeled_exceptions_are_raised(glacier: Any, vault: str) -> None:
    with pytest.raises(glacier.exceptions.ResourceNotFoundException):
        glacier.describe_vault(vaultName="missing-vault")
    with pytest.raises(glacier.exceptions.InvalidParameterValueException):
        glacier.initiate_multipart_upload(vaultName=vault, partSize="3")


def test_admin_options_and_counters(admin_call: Any, glacier: Any, standin: Any) -> None:
    status, options = admin_call("options")
    assert status == 200 and options["fault_rate"] == 0.0
    status, answer = admin_call("options", {"fault_rate": 2})
    assert status == 400 and "fault_rate" in answer["error"]
    status, answer = admin_call("options", {"no_such_option": 1})
    assert status == 400 and "no_such_option" in answer["error"]
    status, answer = admin_call("options", {"storage_dir": "/elsewhere"})
    assert status == 400
    status, answer = admin_call("corrupt", {"count": 1})
    assert status == 400
    status, answer = admin_call("nope")
    assert status == 404

    status, counters = admin_call("reset", {})
    assert status == 200 and counters["requests"] == 0 and counters["vault_parts"] == []
    glacier.list_vaults()
    status, counters = admin_call("counters")
    assert counters["operations"] == {"glacier.ListVaults": 1}
    assert counters == standin.counters()


def test_unimplemented_vault_operation_says_so(glacier: Any, vault: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        glacier.list_tags_for_vault(vaultName=vault)
    assert excinfo.value.response["Error"]["Code"] == "NotImplemented"
