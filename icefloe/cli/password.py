"""The archive password as a command finds it: the environment, else the Prefect Secret block.

Reading it goes through tasks/archive.py, which imports Prefect, so it happens only when a
command asks (``--help`` stays fast).
"""

from __future__ import annotations

from typing import Any

from icefloe.config import ArchiveConfig


def archive_password(archive: ArchiveConfig) -> str | None:
    """The password from the environment, else from the Prefect Secret block the config names."""
    from tasks.archive import archive_password as resolve  # imports Prefect: only when asked

    return resolve(archive)


def archiving_password(archive: ArchiveConfig) -> str | None:
    """The password new archives are made with; refused when missing unless encrypt = false."""
    from tasks.archive import archiving_password as resolve  # imports Prefect: only when asked

    return resolve(archive)


def check_archiving_password(cfg: Any) -> None:
    """Refuse a missing password, or one that differs from the last set's, in one line."""
    from icefloe.catalog import Catalog
    from icefloe.passwords import check_for_archiving

    password = archiving_password(cfg.archive)
    if password is not None and cfg.catalog_path.exists():
        with Catalog.open(cfg.catalog_path) as catalog:
            check_for_archiving(catalog, password, new_password=cfg.archive.new_password)
