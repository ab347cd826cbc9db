"""S3 on the same port: moto's, plus checked checksums and restores that take time."""

from __future__ import annotations

import base64
import hashlib
import random
import time
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from icefloe_standin.s3 import parse_request

MIB = 1024 * 1024
CHUNK = 5 * MIB  # S3's smallest part


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_multipart_deep_archive_upload_and_restore(
    s3: Any, standin: Any, bucket: str, tmp_path: Path
) -> None:
    data = random.Random(9).randbytes(2 * CHUNK + 123)
    path = tmp_path / "archive.7z"
    path.write_bytes(data)
    standin.reset_counters()
    s3.upload_file(
        str(path),
        bucket,
        "photos/a.7z",
        ExtraArgs={"StorageClass": "DEEP_ARCHIVE", "ChecksumAlgorithm": "SHA256"},
        Config=TransferConfig(multipart_threshold=CHUNK, multipart_chunksize=CHUNK),
    )
    ops = standin.counters()["operations"]
    assert ops["s3.CreateMultipartUpload"] == 1
    assert ops["s3.UploadPart"] == 3
    assert ops["s3.CompleteMultipartUpload"] == 1

    head = s3.head_object(Bucket=bucket, Key="photos/a.7z", ChecksumMode="ENABLED")
    assert head["StorageClass"] == "DEEP_ARCHIVE"
    assert head["ContentLength"] == len(data)
    part_digests = b"".join(
        hashlib.sha256(data[i : i + CHUNK]).digest() for i in range(0, len(data), CHUNK)
    )
    # moto gives the composite checksum of the parts, as S3 does (HEAD drops the "-3").
    assert head["ChecksumSHA256"].split("-")[0] == sha256_b64(part_digests)

    listed = s3.list_objects_v2(Bucket=bucket, Prefix="photos/")["Contents"]
    assert [(o["Key"], o["StorageClass"]) for o in listed] == [("photos/a.7z", "DEEP_ARCHIVE")]

    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="photos/a.7z")
    assert error_code(excinfo) == "InvalidObjectState"

    answer = s3.restore_object(
        Bucket=bucket,
        Key="photos/a.7z",
        RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}},
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert 'ongoing-request="false"' in s3.head_object(Bucket=bucket, Key="photos/a.7z")["Restore"]
    assert s3.get_object(Bucket=bucket, Key="photos/a.7z")["Body"].read() == data


def test_restore_takes_the_job_delay(s3: Any, bucket: str, tune: Any) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"cold", StorageClass="GLACIER")
    tune(job_delay_s=0.5)
    request = {"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}}
    s3.restore_object(Bucket=bucket, Key="k", RestoreRequest=request)
    assert s3.head_object(Bucket=bucket, Key="k")["Restore"] == 'ongoing-request="true"'
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_code(excinfo) == "InvalidObjectState"
    with pytest.raises(ClientError) as excinfo:
        s3.restore_object(Bucket=bucket, Key="k", RestoreRequest=request)
    assert error_code(excinfo) == "RestoreAlreadyInProgress"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    time.sleep(0.6)
    assert 'ongoing-request="false"' in s3.head_object(Bucket=bucket, Key="k")["Restore"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"cold"


def test_wrong_checksum_is_refused(s3: Any, bucket: str) -> None:
    wrong = sha256_b64(b"something else")
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"payload", ChecksumSHA256=wrong)
    assert error_code(excinfo) == "BadDigest"
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"payload", ChecksumCRC32="AAAAAA==")
    assert error_code(excinfo) == "BadDigest"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="bad", ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    with pytest.raises(ClientError) as excinfo:
        s3.upload_part(
            Bucket=bucket,
            Key="bad",
            UploadId=upload_id,
            PartNumber=1,
            Body=b"payload",
            ChecksumSHA256=wrong,
        )
    assert error_code(excinfo) == "BadDigest"
    right = s3.upload_part(
        Bucket=bucket,
        Key="bad",
        UploadId=upload_id,
        PartNumber=1,
        Body=b"payload",
        ChecksumSHA256=sha256_b64(b"payload"),
    )
    assert right["ChecksumSHA256"] == sha256_b64(b"payload")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_list_and_abort_multipart_uploads(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key="open", StorageClass="DEEP_ARCHIVE", ChecksumAlgorithm="SHA256"
    )["UploadId"]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("open", upload_id)]
    s3.abort_multipart_upload(Bucket=bucket, Key="open", UploadId=upload_id)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_s3_faults_are_retryable_xml_errors(s3: Any, bucket: str, tune: Any) -> None:
    tune(fault_rate=1.0)
    codes = set()
    for _ in range(4):
        with pytest.raises(ClientError) as excinfo:
            s3.list_objects_v2(Bucket=bucket)
        codes.add(error_code(excinfo))
    assert codes == {"InternalError", "ServiceUnavailable", "RequestTimeout", "SlowDown"}


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        ("GET", "/", "", {}, "ListBuckets"),
        ("PUT", "/bkt", "", {}, "CreateBucket"),
        ("GET", "/bkt", "list-type=2&prefix=a", {}, "ListObjectsV2"),
        ("GET", "/bkt", "uploads", {}, "ListMultipartUploads"),
        ("PUT", "/bkt", "versioning", {}, "PutBucketVersioning"),
        ("PUT", "/bkt/a/b.7z", "", {}, "PutObject"),
        ("PUT", "/bkt/a/b.7z", "", {"HTTP_X_AMZ_COPY_SOURCE": "/bkt/x"}, "CopyObject"),
        ("POST", "/bkt/a/b.7z", "uploads", {}, "CreateMultipartUpload"),
        ("PUT", "/bkt/a/b.7z", "partNumber=2&uploadId=U", {}, "UploadPart"),
        ("POST", "/bkt/a/b.7z", "uploadId=U", {}, "CompleteMultipartUpload"),
        ("DELETE", "/bkt/a/b.7z", "uploadId=U", {}, "AbortMultipartUpload"),
        ("POST", "/bkt/a/b.7z", "restore", {}, "RestoreObject"),
        ("HEAD", "/bkt/a/b.7z", "", {}, "HeadObject"),
        ("GET", "/a/b.7z", "", {"HTTP_HOST": "bkt.localhost:9566"}, "GetObject"),
    ],
)
def test_operation_names(
    method: str, path: str, query: str, headers: dict[str, str], expected: str
) -> None:
    environ = {"REQUEST_METHOD": method, "QUERY_STRING": query, "HTTP_HOST": "127.0.0.1:1"}
    request = parse_request({**environ, **headers}, path)
    assert request.operation == expected
    assert request.bucket == (None if path == "/" else "bkt")
