"""Cold storage: one interface (:class:`ColdStore`), two backends.

- ``glacier``: a Glacier vault (the original API, for accounts that had it before 2025-12-15),
  :mod:`icefloe.coldstore.vault`.
- ``s3``: an S3 bucket with storage class DEEP_ARCHIVE or GLACIER, :mod:`icefloe.coldstore.s3`.

``open_coldstore(cfg, catalog)`` picks the backend from ``cfg.backend``. AWS credentials come
from boto3's standard chain and the endpoint from ``AWS_ENDPOINT_URL`` (which boto3 reads
itself), so the code that talks to the local stand-in is the code that talks to AWS.

Memory: both backends send parts through :mod:`icefloe.coldstore.pump`, whose budget lends
at most ``concurrency x part size`` bytes of part buffers, shared by every upload in the
process with the same settings (the volumes of a set, uploaded by concurrent tasks), as are
its ``concurrency`` senders and its bandwidth limit. Peak use is about that above the
interpreter's, whatever the file size and the number of volumes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor

from icefloe.catalog import Catalog
from icefloe.config import ColdstoreConfig
from icefloe.errors import JobNotReady
from icefloe.coldstore.awserrors import RemoteNotFound
from icefloe.coldstore.base import (
    ColdStore,
    FetchedOutput,
    FetchedRange,
    OpenUpload,
    RemoteJob,
    RemoteObject,
    StoredArchive,
    plan_part_size,
)
from icefloe.coldstore.description import Description, format_description, parse_description
from icefloe.coldstore.inventory import (
    Inventory,
    InventoryItem,
    Reconciliation,
    copies_from_inventory,
    parse_inventory,
    reconcile,
)

__all__ = [
    "ColdStore",
    "Description",
    "FetchedOutput",
    "FetchedRange",
    "Inventory",
    "InventoryItem",
    "JobNotReady",
    "OpenUpload",
    "Reconciliation",
    "RemoteJob",
    "RemoteNotFound",
    "RemoteObject",
    "StoredArchive",
    "copies_from_inventory",
    "format_description",
    "make_client",
    "open_coldstore",
    "parse_description",
    "parse_inventory",
    "plan_part_size",
    "reconcile",
]


_LOADER = None
_LOADER_LOCK = threading.Lock()


def _botocore_session():
    """A fresh botocore session (its own credentials) sharing one model loader: each volume's
    client would otherwise parse and keep its own copy of the service model (about 12 MiB)."""
    global _LOADER
    import botocore.session
    from botocore.loaders import create_loader

    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = create_loader()
    session = botocore.session.Session()
    session.register_component("data_loader", _LOADER)
    return session


def make_client(
    service: str,
    cfg: ColdstoreConfig,
    *,
    endpoint_url: str | None = None,
    session=None,
    total_attempts: int = 1,
    pool: int | None = None,
):
    """A boto3 client: standard credential chain, ``AWS_ENDPOINT_URL`` honoured by boto3.

    ``total_attempts=1`` leaves retrying to icefloe (vault parts retry one by one with
    backoff); the S3 backend lets botocore retry each request first.
    """
    import boto3.session
    from botocore.config import Config

    session = session or boto3.session.Session(botocore_session=_botocore_session())
    config = Config(
        retries={"total_max_attempts": total_attempts, "mode": "standard"},
        max_pool_connections=pool or cfg.concurrency + 4,
        connect_timeout=20,
        read_timeout=120,
        # On https botocore already leaves the body out of the signature when a checksum
        # header (signed itself) covers it; this does the same on an http endpoint (the
        # stand-in, a NAS) instead of paying a SHA-256 pass over every byte for nothing.
        s3={"payload_signing_enabled": False} if service == "s3" else None,
    )
    return session.client(service, region_name=cfg.region, endpoint_url=endpoint_url, config=config)


def open_coldstore(
    cfg: ColdstoreConfig,
    catalog: Catalog,
    *,
    endpoint_url: str | None = None,
    session=None,
    executor: Executor | None = None,
    sleep: Callable[[float], None] = time.sleep,
    concurrency: int | None = None,
) -> ColdStore:
    """The configured backend. ``concurrency`` sizes the connection pool when an upload will
    use more senders than ``cfg.concurrency``."""
    pool = max(cfg.concurrency, concurrency or 0) + 4
    if cfg.backend == "glacier":
        from icefloe.coldstore.vault import VaultStore

        client = make_client("glacier", cfg, endpoint_url=endpoint_url, session=session, pool=pool)
        return VaultStore(cfg, catalog, client, executor=executor, sleep=sleep)
    from icefloe.coldstore.s3 import S3Store

    client = make_client(
        "s3", cfg, endpoint_url=endpoint_url, session=session, total_attempts=cfg.max_attempts,
        pool=pool,
    )
    return S3Store(cfg, catalog, client, sleep=sleep)
