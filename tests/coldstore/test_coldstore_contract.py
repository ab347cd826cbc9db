"""The contract every cold-store backend keeps, run against both through the stand-in."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import pytest
from botocore.utils import calculate_tree_hash
from coldstore_helpers import MIB, create_container, retrieve, unique, write_random

from icefloe.catalog import SERVER_CHECKSUM
from icefloe.coldstore import RemoteNotFound, open_coldstore, parse_description
from icefloe.errors import (
    BackendUnsupported,
    ContainerMissing,
    CredentialsMissing,
    FileChanged,
    InputNotFound,
    InputUnreadable,
    UsageError,
)
from icefloe.progress import ProgressCounter

SIZES = [1, MIB - 1, MIB, MIB + 1, 2 * MIB, 3 * MIB + 12345, 5 * MIB + 1, 77_777]


class Recorder(ProgressCounter):
    def __init__(self) -> None:
        super().__init__(interval=0)
        self.queued: list[tuple[int, str]] = []
        self.finished = 0
        self.negative = 0

    def on_queued(self, total: int, label: str) -> None:
        self.queued.append((total, label))
        super().on_queued(total, label)

    def on_progress(self, nbytes: int) -> None:
        if nbytes < 0:
            self.negative += 1
        super().on_progress(nbytes)

    def on_done(self) -> None:
        self.finished += 1


def test_sizes_round_trip_byte_identical(store, tmp_path: Path, catalog) -> None:
    for size in SIZES:
        src = tmp_path / f"in-{size}.bin"
        data = write_random(src, size)
        stored = store.upload(src, part_size=MIB)
        assert stored.size == size
        assert stored.sha256 == hashlib.sha256(data).hexdigest()
        if store.backend == "glacier":
            assert stored.tree_hash == calculate_tree_hash(io.BytesIO(data))
            assert stored.server_checksum == stored.tree_hash
            assert stored.part_size == (0 if size <= MIB else MIB)
        back = retrieve(store, stored, tmp_path / f"out-{size}.bin")
        assert back == data, f"{size} bytes did not come back identical"
        check = catalog.latest_verification(f"archive:{src.name}", SERVER_CHECKSUM)
        assert check is not None and check.ok
    assert store.list_uploads() == []


def test_33_mib_plus_7_with_default_parts(store, tmp_path: Path, catalog) -> None:
    src = tmp_path / "big.bin"
    data = write_random(src, 33 * MIB + 7)
    progress = Recorder()
    stored = store.upload(src, progress=progress)
    assert stored.part_size == 32 * MIB  # two parts: 32 MiB and 1 MiB + 7
    assert stored.parts_sent == 2
    if store.backend == "glacier":
        assert stored.tree_hash == calculate_tree_hash(io.BytesIO(data))
    assert progress.queued == [(len(data), "big.bin")]
    assert progress.done == len(data) and progress.finished == 1
    assert retrieve(store, stored, tmp_path / "out.bin") == data
    (copy,) = catalog.copies(archive_name="big.bin")
    assert (copy.remote_id, copy.size, copy.sha256) == (stored.remote_id, len(data), stored.sha256)
    described = parse_description(copy.description)
    assert described is not None and described.sha256 == stored.sha256
    assert described.size == len(data) and described.name == "big.bin"
    assert str(tmp_path) not in copy.description  # no absolute paths unless configured


def test_empty_file(store, tmp_path: Path, catalog) -> None:
    src = tmp_path / "empty.bin"
    src.write_bytes(b"")
    if store.backend == "glacier":
        with pytest.raises(UsageError, match="at least 1 byte"):
            store.upload(src)
        assert catalog.copies() == [] and store.list_uploads() == []
    else:
        stored = store.upload(src)
        assert stored.size == 0
        assert retrieve(store, stored, tmp_path / "out.bin") == b""


def test_a_second_upload_of_the_same_file_sends_nothing(store, standin, tmp_path: Path) -> None:
    src = tmp_path / "same.bin"
    write_random(src, 2 * MIB + 3)
    first = store.upload(src, part_size=MIB)
    standin.reset_counters()
    again = store.upload(src, part_size=MIB)
    assert again.already_stored and again.remote_id == first.remote_id
    ops = standin.counters()["operations"]
    assert not [op for op in ops if "Upload" in op or "Put" in op]


def test_user_description_is_kept(store, tmp_path: Path, catalog) -> None:
    src = tmp_path / "plain.bin"
    write_random(src, 1000)
    stored = store.upload(src, description="photos 2019, disc 3 of 4")
    assert stored.description == "photos 2019, disc 3 of 4"
    with pytest.raises(UsageError, match="printable ASCII"):
        store.upload(src, description="caf\u00e9")
    with pytest.raises(UsageError, match="1024"):
        store.upload(src, description="x" * 1025)


def test_bad_input_is_one_clear_error(store, tmp_path: Path, catalog) -> None:
    with pytest.raises(InputNotFound, match="no such file"):
        store.upload(tmp_path / "missing.7z")
    with pytest.raises(UsageError, match="is a folder"):
        store.upload(tmp_path)
    # /proc/self/mem opens but cannot be read at offset 0: a file that exists and is unreadable
    # (root ignores permission bits, so chmod 000 would not do).
    with pytest.raises(InputUnreadable, match="cannot read"):
        store.upload(Path("/proc/self/mem"))
    src = tmp_path / "ok.bin"
    write_random(src, 10)
    for bad in (3 * MIB, 0 * MIB + 1, 8192 * MIB):
        with pytest.raises(UsageError, match="power of two"):
            store.upload(src, part_size=bad)
    assert catalog.copies() == [] and catalog.uploads(state=None) == []


def test_missing_container_says_how_to_create_it(make_store, tmp_path: Path) -> None:
    store = make_store(create=False)
    with pytest.raises(ContainerMissing, match="create it with `aws "):
        store.check_container()
    src = tmp_path / "x.bin"
    write_random(src, 2 * MIB)
    with pytest.raises(ContainerMissing, match="does not exist"):
        store.upload(src, part_size=MIB)


def test_no_credentials(make_store, tmp_path: Path, monkeypatch) -> None:
    store = make_store()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    fresh = open_coldstore(store.cfg, store.catalog)
    with pytest.raises(CredentialsMissing, match="AWS_ACCESS_KEY_ID"):
        fresh.check_container()


def test_vault_api_refused_for_new_accounts(standin, backend, make_store, tmp_path: Path) -> None:
    store = make_store()
    src = tmp_path / "x.bin"
    write_random(src, 100)
    standin.set_options(vault_unsupported=True)
    if backend == "glacier":
        with pytest.raises(BackendUnsupported, match='backend = "s3"'):
            store.upload(src)
    else:
        assert store.upload(src).size == 100  # S3 is what new accounts use


def test_file_changing_during_upload_is_detected(store, standin, tmp_path: Path, catalog) -> None:
    src = tmp_path / "moving.bin"
    size = 12 * MIB
    write_random(src, size)

    class Meddler(Recorder):
        def on_progress(self, nbytes: int) -> None:
            super().on_progress(nbytes)
            if self.done > MIB and not getattr(self, "struck", False):
                self.struck = True
                with open(src, "r+b") as f:  # same size, other bytes: only mtime and content differ
                    f.seek(size - 10)
                    f.write(b"0123456789")

    with pytest.raises(FileChanged, match="changed while it was being uploaded"):
        store.upload(src, part_size=MIB, concurrency=1, progress=Meddler())
    assert catalog.copies() == []
    assert [u.state for u in catalog.uploads(state=None)] in ([], ["aborted"])
    assert store.list_uploads() == []
    assert standin.counters()["operations"].get(f"{_svc(store)}.CompleteMultipartUpload", 0) == 0


def _svc(store) -> str:
    return "glacier" if store.backend == "glacier" else "s3"


def test_open_uploads_list_and_abort(store, tmp_path: Path) -> None:
    ids = []
    for i in range(3):
        if store.backend == "glacier":
            answer = store.client.initiate_multipart_upload(
                vaultName=store.container, archiveDescription=f"left {i}", partSize=str(MIB)
            )
            ids.append(answer["uploadId"])
        else:
            answer = store.client.create_multipart_upload(
                Bucket=store.container, Key=store.key_for(f"left-{i}")
            )
            ids.append(answer["UploadId"])
    listed = store.list_uploads()
    assert sorted(u.upload_id for u in listed) == sorted(ids)
    assert store.abort_upload(ids[0]).upload_id == ids[0]
    assert sorted(u.upload_id for u in store.list_uploads()) == sorted(ids[1:])
    with pytest.raises(UsageError, match="no open upload"):
        store.abort_upload(ids[0])
    if store.backend == "glacier":
        # moto's S3 reports every upload as initiated on 2010-11-10, so only the vault can
        # show that a young upload is kept (the S3 age of icefloe's own uploads comes from
        # the catalog: test_coldstore_resume.py).
        assert store.abort_uploads_older_than(timedelta(days=1)) == []
    aborted = store.abort_uploads_older_than(timedelta(0))
    assert sorted(u.upload_id for u in aborted) == sorted(ids[1:])
    assert store.list_uploads() == []


def test_description_paths_only_when_configured(make_store, tmp_path: Path) -> None:
    store = make_store(description_paths=True)
    src = tmp_path / "with-path.bin"
    write_random(src, 10)
    stored = store.upload(src, partition="photos-a")
    parsed = parse_description(stored.description)
    assert parsed.folder == str(tmp_path) and parsed.partition == "photos-a"


def test_s3_refuses_to_overwrite_a_different_object(standin, tmp_path: Path, catalog) -> None:
    from icefloe.config import ColdstoreConfig

    cfg = ColdstoreConfig(backend="s3", bucket=unique())
    create_container(cfg)
    store = open_coldstore(cfg, catalog)
    store.client.put_object(Bucket=cfg.bucket, Key=store.key_for("taken.bin"), Body=b"other")
    src = tmp_path / "taken.bin"
    write_random(src, 10)
    with pytest.raises(UsageError, match="already holds a different object"):
        store.upload(src)
    assert store.head(store.key_for("taken.bin")).size == 5


def test_an_archive_is_checked_against_its_catalog_record(store, catalog, tmp_path: Path) -> None:
    """Archives icefloe made carry their SHA-256 (and tree hash) in the catalog: the upload
    uses them for the description and refuses bytes that no longer match them."""
    from icefloe.catalog import ArchiveRecord
    from icefloe.treehash import file_tree_hash

    for size in (1000, 3 * MIB + 1):
        src = tmp_path / f"photos-a-{size}.7z"
        data = write_random(src, size)
        tree, sha = file_tree_hash(src)
        catalog.put_archive(ArchiveRecord(src.name, "set-1", "photos-a", size, sha,
                                          path=str(src), tree_hash=tree))
        with open(src, "r+b") as f:  # same size, other bytes: changed since it was archived
            f.write(b"\0" * 10)
        with pytest.raises(FileChanged, match="differs from the archive recorded"):
            store.upload(src, part_size=MIB)
        assert store.list_uploads() == [] and catalog.copies() == []
        if store.backend == "s3":  # refused before the bytes were sent (or completed)
            with pytest.raises(RemoteNotFound):
                store.head(store.key_for(src.name))
        src.write_bytes(data)
        stored = store.upload(src, part_size=MIB)
        assert stored.sha256 == sha and (stored.tree_hash or tree) == tree
        (copy,) = catalog.copies(archive_name=src.name)
        described = parse_description(copy.description)
        assert (described.partition, described.sha256) == ("photos-a", sha)
        catalog.mark_copy_deleted(copy.backend, copy.container, copy.remote_id)
