"""Before saying "already stored", the upload asks the service; a copy found gone is sent again."""

from __future__ import annotations

import json
from pathlib import Path

from coldstore_helpers import MIB, create_container, retrieve, write_config, write_random
from helpers import invoke, ok



def fetch_inventory(store, dest: Path) -> None:
    job = store.request_inventory()
    store.fetch_job_output(job.job_id, dest)


def delete_remote(store, remote_id: str) -> None:
    if store.backend == "glacier":
        store.client.delete_archive(vaultName=store.container, archiveId=remote_id)
    else:
        store.client.delete_object(Bucket=store.container, Key=remote_id)


def test_a_copy_deleted_remotely_is_uploaded_again(store, catalog, standin, tmp_path: Path) -> None:
    src = tmp_path / "photos-2018.7z"
    data = write_random(src, 2 * MIB + 7)
    first = store.upload(src, part_size=MIB)
    (recorded,) = catalog.copies()
    first_at = recorded.created_at

    again = store.upload(src, part_size=MIB)
    assert again.already_stored and again.remote_id == first.remote_id
    if store.backend == "glacier":  # no HEAD: without an inventory it cannot tell, and says so
        assert again.remote_check.startswith("not checked with the vault: no inventory")
        fetch_inventory(store, tmp_path / "inv-1.json")
        again = store.upload(src, part_size=MIB)
        assert again.already_stored and again.remote_check.startswith("in the vault inventory of")
    else:
        assert again.remote_check == "confirmed by HEAD"

    delete_remote(store, first.remote_id)
    if store.backend == "glacier":
        fetch_inventory(store, tmp_path / "inv-2.json")  # taken after the copy: it is gone
    standin.reset_counters()
    resent = store.upload(src, part_size=MIB)
    assert not resent.already_stored and resent.parts_sent >= 1
    ops = standin.counters()["operations"]
    sends = ("glacier.UploadMultipartPart", "glacier.UploadArchive", "s3.UploadPart", "s3.PutObject")
    assert sum(ops.get(op, 0) for op in sends) == resent.parts_sent
    (live,) = catalog.copies()
    assert live.remote_id == resent.remote_id
    if store.backend == "glacier":  # a new archive; the lost one stays on record, deleted
        (gone,) = [c for c in catalog.copies(include_deleted=True) if c.deleted_at]
        assert gone.remote_id == first.remote_id != resent.remote_id
    else:  # the same key, stored again and recorded afresh
        assert resent.remote_id == first.remote_id and live.created_at > first_at
    assert retrieve(store, resent, tmp_path / "back") == data


def test_an_old_inventory_is_not_taken_as_evidence(make_store, catalog, tmp_path: Path) -> None:
    store = make_store()
    if store.backend != "glacier":
        return  # S3 has HEAD; this is about vaults only
    src = tmp_path / "old.bin"
    write_random(src, 1000)
    fetch_inventory(store, tmp_path / "before.json")  # taken before the upload
    first = store.upload(src)
    delete_remote(store, first.remote_id)
    again = store.upload(src)
    assert again.already_stored and "older than the copy" in again.remote_check


def test_upload_force_sends_again(standin, coldcfg, tmp_path: Path, capsys) -> None:
    create_container(coldcfg)
    config = write_config(tmp_path, coldcfg, part_size_mib=1)
    src = tmp_path / "forced.7z"
    write_random(src, MIB + 3)

    def upload(*extra: str) -> dict:
        return json.loads(ok(invoke(capsys, "-c", str(config), "upload", str(src), "--json", *extra)))

    first = upload()
    assert upload()["already_stored"] is True
    standin.reset_counters()
    forced = upload("--force")
    assert forced["already_stored"] is False
    assert forced["parts_sent"] == (2 if coldcfg.backend == "glacier" else 1)  # S3 parts are 5 MiB+
    from icefloe.catalog import Catalog

    with Catalog.open(tmp_path / "work" / "catalog.sqlite") as catalog:
        ids = [c.remote_id for c in catalog.copies()]
    if coldcfg.backend == "glacier":  # a vault makes a second archive, as asked
        assert ids == [first["archive_id"], forced["archive_id"]] and len(set(ids)) == 2
    else:  # the same key, written again
        assert ids == [first["archive_id"]] == [forced["archive_id"]]
