"""The part pump's receipt log: parts are recorded off the senders' path, in batches, and
nothing acknowledged goes unrecorded when an upload stops or is killed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from coldstore_helpers import MIB, Crash, CrashAfter, retrieve, write_random

from icefloe.catalog import Catalog, PartReceipt, UploadRecord
from icefloe.coldstore.pump import PartLog
from icefloe.errors import CatalogError
from icefloe.progress import NullProgress


def test_receipts_arriving_during_a_write_go_in_one_later_batch() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def write(batch: list[int]) -> None:
        batches.append(batch)
        if len(batches) == 1:
            release.wait(10)  # the first commit is slow (an fsync on a busy disk)

    with PartLog(write) as log:
        log.add(0)
        while not batches:
            threading.Event().wait(0.001)
        for n in range(1, 8):
            log.add(n)  # returns at once: the senders never wait for the catalog
        release.set()
    assert batches == [[0], [1, 2, 3, 4, 5, 6, 7]]
    assert log.batches == 2


def test_a_failed_write_stops_the_senders_and_is_raised() -> None:
    def write(batch: list[int]) -> None:
        raise CatalogError("catalog /x is not writable: disk full")

    log = PartLog(write)
    log.add(1)
    log._thread.join(10)
    with pytest.raises(CatalogError):
        log.add(2)
    with pytest.raises(CatalogError):
        log.close()


def test_leaving_on_an_error_still_writes_what_was_added() -> None:
    written: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        with PartLog(written.extend) as log:
            log.add(1)
            log.add(2)
            raise KeyboardInterrupt
    assert written == [1, 2]


def test_record_parts_writes_one_transaction(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "catalog.sqlite") as catalog:
        catalog.open_upload(UploadRecord(upload_id="u1", backend="s3", container="b", key="k",
                                         local_path="/x", size=3 * MIB, mtime_ns=1, part_size=MIB,
                                         description="d"))
        parts = [PartReceipt(n + 1, n * MIB, (n + 1) * MIB, f"{n:064x}", f'"{n}"') for n in range(3)]
        catalog.record_parts("u1", parts)
        catalog.record_parts("u1", parts[1:])  # a resumed upload writes a held part again
        got = catalog.parts("u1")
    assert [(p.part_number, p.start, p.end, p.checksum, p.etag) for p in got] == [
        (p.part_number, p.start, p.end, p.checksum, p.etag) for p in parts
    ]
    assert all(p.done_at for p in got)


def test_an_interrupted_upload_recorded_every_part_the_service_holds(
    standin, backend, store, catalog, tmp_path: Path
) -> None:
    """Ctrl-C in the middle of 8 parts in flight: once the pump has stopped, the catalog lists
    exactly the parts the service acknowledged, and the rerun sends each missing part once."""
    part = MIB if backend == "glacier" else 5 * MIB  # 1 MiB asked; S3's parts are at least 5
    src = tmp_path / "interrupted.bin"
    data = write_random(src, 12 * part + 7)
    standin.reset_counters()
    with pytest.raises(Crash):
        store.upload(src, part_size=MIB, concurrency=8, progress=CrashAfter(9 * part))
    (record,) = catalog.uploads()
    recorded = {p.part_number for p in catalog.parts(record.upload_id)}
    counters = standin.counters()
    if backend == "glacier":
        acknowledged = {int(p["range"].split("-")[0]) // part for p in counters["vault_parts"]}
    else:
        acknowledged = {p["part"] for p in counters["s3_parts"]}
    assert 1 <= len(recorded) < 13  # 9 parts' bytes went out, at most 8 of them unfinished
    assert recorded == acknowledged
    standin.reset_counters()
    stored = store.upload(src, part_size=MIB, concurrency=8)
    assert stored.parts_reused == len(recorded) and stored.parts_sent == 13 - len(recorded)
    again = standin.counters()
    sent = again["vault_parts"] if backend == "glacier" else again["s3_parts"]
    assert len(sent) == 13 - len(recorded)
    assert retrieve(store, stored, tmp_path / "back") == data


@pytest.mark.parametrize("backend", ["s3"])
def test_s3_parts_carry_crc32s_and_head_confirms_their_composite(standin, store, catalog, tmp_path: Path) -> None:
    import base64
    import zlib

    src = tmp_path / "parts.bin"
    data = write_random(src, 3 * 5 * MIB + 11)
    stored = store.upload(src, part_size=MIB)
    crcs = [zlib.crc32(data[i:i + 5 * MIB]).to_bytes(4, "big") for i in range(0, len(data), 5 * MIB)]
    composite = base64.b64encode(zlib.crc32(b"".join(crcs)).to_bytes(4, "big")).decode()
    assert stored.server_checksum.partition("-")[0] == composite  # "-4" as S3 says it; moto drops it
    (upload,) = catalog.uploads(state=None)
    assert [p.checksum for p in catalog.parts(upload.upload_id)] == [c.hex() for c in crcs]
    head = store.client.head_object(Bucket=store.container, Key=stored.remote_id, ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == stored.server_checksum and "ChecksumSHA256" not in head
    assert retrieve(store, stored, tmp_path / "back") == data


@pytest.mark.parametrize("backend", ["s3"])
def test_an_upload_opened_with_sha256_parts_is_resumed_with_them(
    standin, store, catalog, tmp_path: Path, monkeypatch
) -> None:
    """An upload an older icefloe opened (SHA-256 part checksums) and that was interrupted goes
    on with SHA-256 parts: S3 takes no other algorithm into that upload."""
    import icefloe.coldstore.s3 as s3

    src = tmp_path / "older.bin"
    data = write_random(src, 4 * 5 * MIB + 3)
    monkeypatch.setattr(s3, "PART_CHECKSUM", "SHA256")
    with pytest.raises(Crash):
        store.upload(src, part_size=MIB, concurrency=1, progress=CrashAfter(11 * MIB))
    monkeypatch.undo()
    (record,) = catalog.uploads()
    assert len(catalog.parts(record.upload_id)) == 2
    standin.reset_counters()
    stored = store.upload(src, part_size=MIB, concurrency=1)
    assert (stored.parts_reused, stored.parts_sent) == (2, 3)
    head = store.client.head_object(Bucket=store.container, Key=stored.remote_id, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == stored.server_checksum
    assert {len(p.checksum) for p in catalog.parts(record.upload_id)} == {64}  # all five: SHA-256s
    assert retrieve(store, stored, tmp_path / "back") == data


class _Bytes:
    """A LocalFile over bytes in memory; reads past ``short_at`` fail as a shrunk file does."""

    def __init__(self, data: bytes, short_at: int | None = None) -> None:
        self.data, self.short_at, self.path, self.size = data, short_at, Path("mem.bin"), len(data)

    def pread_into(self, buffer: bytearray, start: int, end: int) -> memoryview:
        from icefloe.errors import FileChanged

        if self.short_at is not None and end > self.short_at:
            raise FileChanged("mem.bin became shorter while it was being uploaded")
        view = memoryview(buffer)[: end - start]
        view[:] = self.data[start:end]
        return view


def test_parts_read_by_the_senders_still_hash_the_file_in_order() -> None:
    import hashlib
    import random
    import time

    from icefloe.coldstore.pump import Budget, send_parts

    data = random.Random(3).randbytes(40 * 4096 + 17)
    budget = Budget(6, 4096)
    delays = random.Random(5)

    def send(part, view):
        time.sleep(delays.random() / 200)  # parts finish out of order
        return hashlib.sha256(view).hexdigest()

    done = send_parts(_Bytes(data), 4096, budget, held=lambda p, v: None, send=send, progress=NullProgress())
    assert done.sha256 == hashlib.sha256(data).hexdigest()
    assert done.receipts == [hashlib.sha256(data[i:i + 4096]).hexdigest() for i in range(0, len(data), 4096)]
    assert (done.sent, done.reused) == (41, 0)
    assert budget.peak <= 6 * 4096 and budget._lent == 0


def test_a_part_that_cannot_be_read_stops_the_upload_and_returns_every_buffer() -> None:
    from icefloe.coldstore.pump import Budget, send_parts
    from icefloe.errors import FileChanged

    budget = Budget(4, 4096)
    sent: list[int] = []
    with pytest.raises(FileChanged):
        send_parts(_Bytes(bytes(64 * 4096), short_at=9 * 4096), 4096, budget, held=lambda p, v: None,
                   send=lambda p, v: sent.append(p.index) or p.index, progress=NullProgress())
    assert budget._lent == 0  # a budget shared with other uploads is not left short
    assert set(sent) <= set(range(9 + 4)) and max(sent) < 9 + 4
