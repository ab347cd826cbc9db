"""Vault archives, jobs and inventories behave as on AWS, with checked tree hashes."""

from __future__ import annotations

import csv
import io
import json
import random
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.utils import calculate_tree_hash

from icefloe.treehash import MIB, tree_hash

DATA = random.Random(5).randbytes(3 * MIB + 7)


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def upload_archive(glacier: Any, vault: str, data: bytes = DATA, description: str = "a") -> str:
    answer = glacier.upload_archive(vaultName=vault, body=data, archiveDescription=description)
    assert answer["checksum"] == calculate_tree_hash(io.BytesIO(data))
    return answer["archiveId"]


def start_job(glacier: Any, vault: str, **params: Any) -> str:
    return glacier.initiate_job(vaultName=vault, jobParameters=params)["jobId"]


def inventory(glacier: Any, vault: str, fmt: str = "JSON") -> Any:
    job_id = start_job(glacier, vault, Type="inventory-retrieval", Format=fmt)
    body = glacier.get_job_output(vaultName=vault, jobId=job_id)["body"].read()
    return json.loads(body) if fmt == "JSON" else body.decode()


def test_upload_archive_checks_the_tree_hash(glacier: Any, vault: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        glacier.upload_archive(vaultName=vault, body=DATA, checksum="1" * 64)
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert "Checksum mismatch" in excinfo.value.response["Error"]["Message"]


def test_inventory_lists_archives_with_true_tree_hashes(glacier: Any, vault: str) -> None:
    archive_id = upload_archive(glacier, vault, description="photos 2024")
    doc = inventory(glacier, vault)
    assert doc["VaultARN"].endswith(f":vaults/{vault}")
    assert doc["InventoryDate"].endswith("Z")
    [entry] = doc["ArchiveList"]
    assert entry == {
        "ArchiveId": archive_id,
        "ArchiveDescription": "photos 2024",
        "CreationDate": entry["CreationDate"],
        "Size": len(DATA),
        "SHA256TreeHash": calculate_tree_hash(io.BytesIO(DATA)),
    }
    rows = list(csv.DictReader(io.StringIO(inventory(glacier, vault, "CSV"))))
    assert [(r["ArchiveId"], r["SHA256TreeHash"]) for r in rows] == [
        (archive_id, entry["SHA256TreeHash"])
    ]
    described = glacier.describe_vault(vaultName=vault)
    assert (described["NumberOfArchives"], described["SizeInBytes"]) == (1, len(DATA))


def test_inventory_after_multipart_upload_has_its_tree_hash(glacier: Any, vault: str) -> None:
    upload_id = glacier.initiate_multipart_upload(vaultName=vault, partSize=str(2 * MIB))[
        "uploadId"
    ]
    for start in range(0, len(DATA), 2 * MIB):
        body = DATA[start : start + 2 * MIB]
        glacier.upload_multipart_part(
            vaultName=vault,
            uploadId=upload_id,
            body=body,
            range=f"bytes {start}-{start + len(body) - 1}/*",
        )
    archive_id = glacier.complete_multipart_upload(
        vaultName=vault, uploadId=upload_id, archiveSize=str(len(DATA)), checksum=tree_hash(DATA)
    )["archiveId"]
    [entry] = inventory(glacier, vault)["ArchiveList"]
    assert (entry["ArchiveId"], entry["SHA256TreeHash"]) == (archive_id, tree_hash(DATA))


def test_archive_retrieval_whole_and_ranged(glacier: Any, vault: str) -> None:
    archive_id = upload_archive(glacier, vault, description="retrieve me")
    job_id = start_job(glacier, vault, Type="archive-retrieval", ArchiveId=archive_id)
    job = glacier.describe_job(vaultName=vault, jobId=job_id)
    assert job["StatusCode"] == "Succeeded" and job["Completed"] is True
    assert job["ArchiveSHA256TreeHash"] == job["SHA256TreeHash"] == tree_hash(DATA)
    assert job["ArchiveSizeInBytes"] == len(DATA)
    assert job["RetrievalByteRange"] == f"0-{len(DATA) - 1}"

    whole = glacier.get_job_output(vaultName=vault, jobId=job_id)
    assert whole["status"] == 200
    assert whole["body"].read() == DATA
    assert whole["checksum"] == tree_hash(DATA)
    assert whole["archiveDescription"] == "retrieve me"

    # MiB-aligned ranges carry their own tree hash; the tail counts as aligned.
    for start, end in [(MIB, 2 * MIB - 1), (2 * MIB, len(DATA) - 1)]:
        part = glacier.get_job_output(vaultName=vault, jobId=job_id, range=f"bytes={start}-{end}")
        assert part["status"] == 206
        assert part["contentRange"] == f"bytes {start}-{end}/{len(DATA)}"
        assert part["body"].read() == DATA[start : end + 1]
        assert part["checksum"] == tree_hash(DATA[start : end + 1])

    odd = glacier.get_job_output(vaultName=vault, jobId=job_id, range="bytes=10-99")
    assert odd["status"] == 206 and odd["body"].read() == DATA[10:100]
    assert "checksum" not in odd  # not MiB-aligned: AWS sends no tree hash


def test_retrieval_byte_range_must_be_megabyte_aligned(glacier: Any, vault: str) -> None:
    archive_id = upload_archive(glacier, vault)
    with pytest.raises(ClientError) as excinfo:
        start_job(
            glacier,
            vault,
            Type="archive-retrieval",
            ArchiveId=archive_id,
            RetrievalByteRange="0-999",
        )
    assert error_code(excinfo) == "InvalidParameterValueException"
    job_id = start_job(
        glacier,
        vault,
        Type="archive-retrieval",
        ArchiveId=archive_id,
        RetrievalByteRange=f"{MIB}-{len(DATA) - 1}",
    )
    job = glacier.describe_job(vaultName=vault, jobId=job_id)
    assert job["SHA256TreeHash"] == tree_hash(DATA[MIB:])
    out = glacier.get_job_output(vaultName=vault, jobId=job_id)
    assert out["body"].read() == DATA[MIB:]


def test_jobs_stay_in_progress_for_the_job_delay(glacier: Any, vault: str, tune: Any) -> None:
    archive_id = upload_archive(glacier, vault)
    tune(job_delay_s=0.6)
    job_id = start_job(glacier, vault, Type="archive-retrieval", ArchiveId=archive_id, Tier="Bulk")
    job = glacier.describe_job(vaultName=vault, jobId=job_id)
    assert (job["StatusCode"], job["Completed"], job["Tier"]) == ("InProgress", False, "Bulk")
    assert "SHA256TreeHash" not in job
    with pytest.raises(ClientError) as excinfo:
        glacier.get_job_output(vaultName=vault, jobId=job_id)
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert "not currently available" in excinfo.value.response["Error"]["Message"]
    listed = glacier.list_jobs(vaultName=vault, completed="false")["JobList"]
    assert [j["JobId"] for j in listed] == [job_id]
    assert glacier.list_jobs(vaultName=vault, statuscode="Succeeded")["JobList"] == []

    time.sleep(0.7)
    job = glacier.describe_job(vaultName=vault, jobId=job_id)
    assert (job["StatusCode"], job["Completed"]) == ("Succeeded", True)
    assert job["CompletionDate"] >= job["CreationDate"]
    assert glacier.get_job_output(vaultName=vault, jobId=job_id)["body"].read() == DATA


def test_inventory_leaves_out_archives_younger_than_the_lag(
    glacier: Any, vault: str, tune: Any
) -> None:
    old = upload_archive(glacier, vault, data=b"old")
    time.sleep(0.4)
    tune(inventory_lag_s=0.3)
    new = upload_archive(glacier, vault, data=b"new")
    assert [a["ArchiveId"] for a in inventory(glacier, vault)["ArchiveList"]] == [old]
    assert glacier.describe_vault(vaultName=vault)["NumberOfArchives"] == 1
    time.sleep(0.35)
    assert [a["ArchiveId"] for a in inventory(glacier, vault)["ArchiveList"]] == [old, new]


def test_unknown_job_and_archive(glacier: Any, vault: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        glacier.describe_job(vaultName=vault, jobId="NOSUCHJOB")
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as excinfo:
        start_job(glacier, vault, Type="archive-retrieval", ArchiveId="NOSUCHARCHIVE")
    assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        start_job(glacier, vault, Type="something-else")
    assert error_code(excinfo) == "InvalidParameterValueException"


def test_delete_archive_is_idempotent(glacier: Any, vault: str) -> None:
    archive_id = upload_archive(glacier, vault, data=b"short-lived")
    for _ in range(2):
        answer = glacier.delete_archive(vaultName=vault, archiveId=archive_id)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert inventory(glacier, vault)["ArchiveList"] == []


def test_vault_lifecycle(glacier: Any) -> None:
    name = "lifecycle-vault"
    glacier.create_vault(vaultName=name)
    glacier.create_vault(vaultName=name)  # idempotent
    assert glacier.describe_vault(vaultName=name)["VaultName"] == name
    names = [
        v["VaultName"]
        for page in glacier.get_paginator("list_vaults").paginate()
        for v in page["VaultList"]
    ]
    assert names.count(name) == 1
    archive_id = upload_archive(glacier, name, data=b"keep")
    with pytest.raises(ClientError) as excinfo:
        glacier.delete_vault(vaultName=name)
    assert error_code(excinfo) == "InvalidParameterValueException"
    glacier.delete_archive(vaultName=name, archiveId=archive_id)
    glacier.delete_vault(vaultName=name)
    with pytest.raises(ClientError) as excinfo:
        glacier.describe_vault(vaultName=name)
    assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        glacier.create_vault(vaultName="bad*name")
    assert error_code(excinfo) == "InvalidParameterValueException"


def test_corrupt_switch_flips_one_byte_of_job_output(
    glacier: Any, vault: str, admin_call: Any
) -> None:
    archive_id = upload_archive(glacier, vault)
    job_id = start_job(glacier, vault, Type="archive-retrieval", ArchiveId=archive_id)
    status, answer = admin_call("corrupt", {"operation": "GetJobOutput", "count": 1})
    assert status == 200 and answer["pending"] == {"GetJobOutput": 1}
    bad = glacier.get_job_output(vaultName=vault, jobId=job_id)
    body = bad["body"].read()
    assert len(body) == len(DATA) and body != DATA
    assert sum(a != b for a, b in zip(body, DATA, strict=True)) == 1
    assert bad["checksum"] == tree_hash(DATA)  # the header still tells the truth
    assert tree_hash(body) != bad["checksum"]
    good = glacier.get_job_output(vaultName=vault, jobId=job_id)
    assert good["body"].read() == DATA
    status, counters = admin_call("counters")
    assert counters["corrupted"] >= 1
