"""Upload one file to cold storage (the Glacier vault or the S3 bucket of icefloe.toml).

A one-off upload, shown in the UI with a progress artifact. The upload is resumable: a failed
run leaves its parts recorded, and running it again (or the task's own retries) sends only
the parts the service lacks. A file already stored is not sent again once the service
confirms it still holds it (S3: HEAD; a vault: its last inventory); `force` sends it anyway.
The archive id, size and checksums are in the flow's result and in the `upload-<name>`
artifact.
"""

from __future__ import annotations

from prefect import flow

from flows.stages import names_failed_stage
from icefloe.coldstore import StoredArchive
from tasks.upload import upload_archive_task


@flow(name="upload-archive", flow_run_name="upload {path}", log_prints=False)
@names_failed_stage
def upload_archive(
    path: str,
    description: str | None = None,
    config: str | None = None,
    force: bool = False,
) -> StoredArchive:
    """Upload the file at `path`; `description` overrides icefloe's own JSON description,
    `config` names an icefloe.toml (default: $ICEFLOE_CONFIG or ./icefloe.toml), `force`
    sends the file even when the catalog records a copy of it."""
    return upload_archive_task(path, description=description, config=config, force=force)
