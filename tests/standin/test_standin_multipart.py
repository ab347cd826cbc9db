"""Vault multipart uploads are as strict as AWS's."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.utils import calculate_tree_hash

from icefloe.treehash import MIB, tree_hash

DATA = random.Random(3).randbytes(5 * MIB // 2)  # 2.5 MiB: two full 1 MiB parts and a half


def part_range(start: int, length: int) -> str:
    return f"bytes {start}-{start + length - 1}/*"


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def initiate(glacier: Any, vault: str, part_size: int = MIB, description: str = "test") -> str:
    return glacier.initiate_multipart_upload(
        vaultName=vault, partSize=str(part_size), archiveDescription=description
    )["uploadId"]


def upload(glacier: Any, vault: str, upload_id: str, start: int, body: bytes, **extra: Any) -> Any:
    return glacier.upload_multipart_part(
        vaultName=vault, uploadId=upload_id, range=part_range(start, len(body)), body=body, **extra
    )


def test_three_part_upload_lists_parts_and_completes(
    glacier: Any, standin: Any, vault: str
) -> None:
    upload_id = initiate(glacier, vault, description="photos-a 2024 vol 1")
    for start in range(0, len(DATA), MIB):
        body = DATA[start : start + MIB]
        answer = upload(glacier, vault, upload_id, start, body)
        assert answer["checksum"] == tree_hash(body)

    listed = glacier.list_parts(vaultName=vault, uploadId=upload_id)
    assert [p["RangeInBytes"] for p in listed["Parts"]] == [
        "0-1048575",
        "1048576-2097151",
        "2097152-2621439",
    ]
    assert [p["SHA256TreeHash"] for p in listed["Parts"]] == [
        tree_hash(DATA[s : s + MIB]) for s in range(0, len(DATA), MIB)
    ]
    assert listed["PartSizeInBytes"] == MIB
    assert listed["ArchiveDescription"] == "photos-a 2024 vol 1"
    assert listed["MultipartUploadId"] == upload_id
    assert listed["VaultARN"].endswith(f":vaults/{vault}")
    assert listed["CreationDate"].endswith("Z")

    expected = calculate_tree_hash(io.BytesIO(DATA))
    done = glacier.complete_multipart_upload(
        vaultName=vault, uploadId=upload_id, archiveSize=str(len(DATA)), checksum=expected
    )
    assert done["checksum"] == expected
    assert len(done["archiveId"]) == 138 and "/" not in done["archiveId"]
    assert done["location"].endswith(f"/vaults/{vault}/archives/{done['archiveId']}")
    parts = [p for p in standin.counters()["vault_parts"] if p["upload_id"] == upload_id]
    assert len(parts) == 3 == len({p["range"] for p in parts})

    # The upload is gone once completed.
    with pytest.raises(ClientError) as excinfo:
        glacier.list_parts(vaultName=vault, uploadId=upload_id)
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_part_with_wrong_tree_hash_is_refused(glacier: Any, vault: str) -> None:
    upload_id = initiate(glacier, vault)
    with pytest.raises(ClientError) as excinfo:
        upload(glacier, vault, upload_id, 0, DATA[:MIB], checksum="0" * 64)
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Checksum mismatch" in excinfo.value.response["Error"]["Message"]
    assert glacier.list_parts(vaultName=vault, uploadId=upload_id)["Parts"] == []


def test_misaligned_range_is_refused(glacier: Any, vault: str) -> None:
    upload_id = initiate(glacier, vault, part_size=2 * MIB)
    with pytest.raises(ClientError) as excinfo:
        upload(glacier, vault, upload_id, MIB, DATA[:MIB])  # a 1 MiB offset in 2 MiB parts
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert "aligned" in excinfo.value.response["Error"]["Message"]


def test_range_longer_than_the_part_size_is_refused(glacier: Any, vault: str) -> None:
    upload_id = initiate(glacier, vault)
    with pytest.raises(ClientError) as excinfo:
        upload(glacier, vault, upload_id, 0, DATA[: MIB + 1])
    assert error_code(excinfo) == "InvalidParameterValueException"


def test_short_part_that_is_not_last_is_refused(glacier: Any, vault: str) -> None:
    upload_id = initiate(glacier, vault)
    upload(glacier, vault, upload_id, MIB, DATA[MIB : 2 * MIB])
    with pytest.raises(ClientError) as excinfo:  # short, with a part after it
        upload(glacier, vault, upload_id, 0, DATA[: MIB // 2])
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert "only the last part may be shorter" in excinfo.value.response["Error"]["Message"]

    other = initiate(glacier, vault)
    upload(glacier, vault, other, 0, DATA[:1000])
    with pytest.raises(ClientError) as excinfo:  # a part after a short one
        upload(glacier, vault, other, MIB, DATA[MIB : 2 * MIB])
    assert error_code(excinfo) == "InvalidParameterValueException"


def test_body_shorter_than_the_range_is_refused(glacier: Any, vault: str) -> None:
    upload_id = initiate(glacier, vault)
    with pytest.raises(ClientError) as excinfo:
        glacier.upload_multipart_part(
            vaultName=vault, uploadId=upload_id, range=part_range(0, MIB), body=DATA[:100]
        )
    assert error_code(excinfo) == "InvalidParameterValueException"


@pytest.mark.parametrize("part_size", ["1000", str(3 * MIB), str(8 * 1024 * MIB), "x"])
def test_invalid_part_size_is_refused(glacier: Any, vault: str, part_size: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        glacier.initiate_multipart_upload(vaultName=vault, partSize=part_size)
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert "Invalid part size" in excinfo.value.response["Error"]["Message"]


def test_part_beyond_ten_thousand_parts_is_refused(glacier: Any, vault: str) -> None:
    upload_id = initiate(glacier, vault)
    with pytest.raises(ClientError) as excinfo:
        upload(glacier, vault, upload_id, 10_000 * MIB, b"x")
    assert error_code(excinfo) == "InvalidParameterValueException"
    assert "10000" in excinfo.value.response["Error"]["Message"]


def test_resending_a_part_replaces_it(glacier: Any, standin: Any, vault: str) -> None:
    upload_id = initiate(glacier, vault)
    upload(glacier, vault, upload_id, 0, DATA[:MIB])
    upload(glacier, vault, upload_id, 0, DATA[:MIB])
    upload(glacier, vault, upload_id, MIB, b"tail")
    parts = glacier.list_parts(vaultName=vault, uploadId=upload_id)["Parts"]
    assert [p["RangeInBytes"] for p in parts] == ["0-1048575", "1048576-1048579"]
    received = [
        p["range"] for p in standin.counters()["vault_parts"] if p["upload_id"] == upload_id
    ]
    assert received == ["0-1048575", "0-1048575", "1048576-1048579"]  # the resend is visible
    whole = DATA[:MIB] + b"tail"
    done = glacier.complete_multipart_upload(
        vaultName=vault, uploadId=upload_id, archiveSize=str(len(whole)), checksum=tree_hash(whole)
    )
    assert done["checksum"] == tree_hash(whole)


def test_complete_checks_size_parts_and_tree_hash(glacier: Any, vault: str) -> None:
    upload_id = initiate(glacier, vault)
    upload(glacier, vault, upload_id, 0, DATA[:MIB])
    upload(glacier, vault, upload_id, 2 * MIB, DATA[2 * MIB :])  # part 1 is missing
    good = tree_hash(DATA)
    cases = [
        ({"archiveSize": str(len(DATA)), "checksum": good}, "Missing part"),
        ({"archiveSize": str(len(DATA) + 1), "checksum": good}, ""),
    ]
    for kwargs, message in cases:
        with pytest.raises(ClientError) as excinfo:
            glacier.complete_multipart_upload(vaultName=vault, uploadId=upload_id, **kwargs)
        assert error_code(excinfo) == "InvalidParameterValueException"
        assert message in excinfo.value.response["Error"]["Message"]

    upload(glacier, vault, upload_id, MIB, DATA[MIB : 2 * MIB])
    for kwargs in (
        {"archiveSize": str(len(DATA) - 1), "checksum": good},  # parts run past the size
        {"archiveSize": str(len(DATA)), "checksum": "ab" * 32},  # wrong tree hash
    ):
        with pytest.raises(ClientError) as excinfo:
            glacier.complete_multipart_upload(vaultName=vault, uploadId=upload_id, **kwargs)
        assert error_code(excinfo) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as excinfo:  # botocore does not fill this one in
        glacier.complete_multipart_upload(vaultName=vault, uploadId=upload_id, archiveSize="5")
    assert error_code(excinfo) == "MissingParameterValueException"

    done = glacier.complete_multipart_upload(
        vaultName=vault, uploadId=upload_id, archiveSize=str(len(DATA)), checksum=good
    )
    assert done["checksum"] == good


def test_complete_repeated_answers_the_same_archive(glacier: Any, vault: str) -> None:
    """AWS: Complete is idempotent for a short period, and makes no second archive."""
    upload_id = initiate(glacier, vault)
    for start in range(0, len(DATA), MIB):
        upload(glacier, vault, upload_id, start, DATA[start : start + MIB])
    good = tree_hash(DATA)
    args = {"vaultName": vault, "uploadId": upload_id, "archiveSize": str(len(DATA))}
    first = glacier.complete_multipart_upload(**args, checksum=good)
    second = glacier.complete_multipart_upload(**args, checksum=good)
    assert second["archiveId"] == first["archiveId"] and second["checksum"] == good
    assert glacier.describe_vault(vaultName=vault)["NumberOfArchives"] == 1
    with pytest.raises(ClientError) as excinfo:  # other size or tree hash: not a repeat
        glacier.complete_multipart_upload(**args, checksum="ab" * 32)
    assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:  # gone from the listings all the same
        glacier.list_parts(vaultName=vault, uploadId=upload_id)
    assert error_code(excinfo) == "ResourceNotFoundException"
    glacier.delete_archive(vaultName=vault, archiveId=first["archiveId"])
    with pytest.raises(ClientError) as excinfo:  # the archive is gone: nothing to answer
        glacier.complete_multipart_upload(**args, checksum=good)
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_list_uploads_pages_and_abort(glacier: Any, vault: str) -> None:
    ids = [initiate(glacier, vault, description=f"upload {i}") for i in range(3)]
    first = glacier.list_multipart_uploads(vaultName=vault, limit="2")
    assert len(first["UploadsList"]) == 2 and first["Marker"]
    rest = glacier.list_multipart_uploads(vaultName=vault, limit="2", marker=first["Marker"])
    assert "Marker" not in rest or rest["Marker"] is None
    listed = [u["MultipartUploadId"] for u in first["UploadsList"] + rest["UploadsList"]]
    assert listed == ids
    assert first["UploadsList"][0]["ArchiveDescription"] == "upload 0"
    assert first["UploadsList"][0]["PartSizeInBytes"] == MIB

    paginated = glacier.get_paginator("list_multipart_uploads").paginate(
        vaultName=vault, PaginationConfig={"PageSize": 1}
    )
    assert [u["MultipartUploadId"] for page in paginated for u in page["UploadsList"]] == ids

    answer = glacier.abort_multipart_upload(vaultName=vault, uploadId=ids[1])
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    left = glacier.list_multipart_uploads(vaultName=vault)["UploadsList"]
    assert [u["MultipartUploadId"] for u in left] == [ids[0], ids[2]]
    for call in (glacier.abort_multipart_upload, glacier.list_parts):
        with pytest.raises(ClientError) as excinfo:
            call(vaultName=vault, uploadId=ids[1])
        assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        upload(glacier, vault, ids[1], 0, b"late")
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_list_parts_pages(glacier: Any, vault: str) -> None:
    upload_id = initiate(glacier, vault)
    for start in range(0, 3 * MIB, MIB):
        upload(glacier, vault, upload_id, start, b"\0" * MIB)
    pages = glacier.get_paginator("list_parts").paginate(
        vaultName=vault, uploadId=upload_id, PaginationConfig={"PageSize": 2}
    )
    ranges = [p["RangeInBytes"] for page in pages for p in page["Parts"]]
    assert ranges == ["0-1048575", "1048576-2097151", "2097152-3145727"]
    with pytest.raises(ClientError) as excinfo:
        glacier.list_parts(vaultName=vault, uploadId=upload_id, marker="bogus")
    assert error_code(excinfo) == "InvalidParameterValueException"


def test_unknown_vault_is_not_found(glacier: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        glacier.initiate_multipart_upload(vaultName="no-such-vault", partSize=str(MIB))
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert "no-such-vault" in excinfo.value.response["Error"]["Message"]
