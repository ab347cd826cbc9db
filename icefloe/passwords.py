"""The archive password: never off by accident, and checked before it is used.

Encryption is on unless ``archive.encrypt = false``: with it on, a stage that writes an
archive refuses to start without a password (``for_writing``), naming where the password
should come from, so a cron job or a fresh shell never uploads photos in the clear.

Each encrypted archive set records a verifier of its password in the catalog
(``archive_sets.password_verifier``): a salted scrypt hash, never the password. With it a
wrong password is one clear line at once (``check``), before a consolidation writes an
archive nobody can open or a restore waits hours for a retrieval it cannot decrypt. The
format is ``scrypt$<log2 n>$<r>$<p>$<salt, base64>$<key, base64>`` (docs/catalog.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable

from icefloe.catalog import ArchiveSet, Catalog
from icefloe.config import ArchiveConfig
from icefloe.errors import PasswordError

# About 0.2 s and 32 MiB per check here: cheap once per run, slow for a guessing attacker.
LOG2_N, R, P = 15, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p,
                          maxmem=2 * 128 * r * n + (1 << 20), dklen=KEY_BYTES)


def make_verifier(password: str, salt: bytes | None = None) -> str:
    """A verifier of ``password`` to keep in the catalog; the password cannot be read back."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = _scrypt(password, salt, LOG2_N, R, P)
    b64 = base64.b64encode
    return f"scrypt${LOG2_N}${R}${P}${b64(salt).decode()}${b64(key).decode()}"


def matches(password: str, verifier: str) -> bool:
    """True when ``password`` is the one ``verifier`` was made from."""
    try:
        scheme, log2_n, r, p, salt, key = verifier.split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        want = base64.b64decode(key, validate=True)
        got = _scrypt(password, base64.b64decode(salt, validate=True), int(log2_n), int(r), int(p))
    except (ValueError, TypeError) as exc:
        raise PasswordError(f"the catalog holds a password verifier icefloe cannot read ({exc})") from None
    return hmac.compare_digest(got, want)


def source(archive: ArchiveConfig) -> str:
    """Where the password comes from, for messages: 'environment variable X', 'Prefect ...'."""
    names = []
    if archive.password_env:
        names.append(f"environment variable {archive.password_env}")
    if archive.password_secret_block:
        names.append(f"Prefect Secret block {archive.password_secret_block!r}")
    return " or ".join(names)


def describe(archive: ArchiveConfig) -> str:
    """One line for summaries and status: whether new archives are encrypted, and how."""
    if not archive.encrypt:
        return "NOT encrypted (archive.encrypt = false)"
    where = source(archive)
    if not where:
        return "encrypted, but no password source is configured (set archive.password_env)"
    return f"encrypted (AES-256, names too; password from the {where})"


def for_writing(archive: ArchiveConfig, password: str | None) -> str | None:
    """The password a stage that writes archives must use, or None with ``encrypt = false``.

    Refuses (PasswordError, one line) a missing or empty password while encryption is on.
    """
    if not archive.encrypt:
        return None
    where = source(archive)
    if not where:
        raise PasswordError(
            "archive.encrypt is on but neither archive.password_env nor "
            "archive.password_secret_block names the password: set one, or set "
            "archive.encrypt = false to make unencrypted archives; nothing was written"
        )
    if not password:
        raise PasswordError(
            f"the archive password is missing: the {where} is unset or empty; nothing was "
            "written. Set it, or set archive.encrypt = false to make unencrypted archives"
        )
    return password


def _latest(sets: Iterable[ArchiveSet]) -> ArchiveSet | None:
    recorded = [s for s in sets if s.password_verifier]
    return max(recorded, key=lambda s: (s.created_at, s.name), default=None)


def check_for_archiving(catalog: Catalog, password: str | None, *, new_password: bool = False) -> None:
    """Refuse a password that differs from the one the newest encrypted set was made with.

    ``new_password`` (``archive.new_password = true``) accepts a deliberate change.
    """
    if password is None or new_password:
        return
    latest = _latest(catalog.archive_sets())
    if latest is not None and not matches(password, latest.password_verifier or ""):
        raise PasswordError(
            f"the archive password differs from the one {latest.name} was made with; nothing "
            "was written. Check for a typo, or set archive.new_password = true (e.g. "
            "ICEFLOE_ARCHIVE__NEW_PASSWORD=true) for the run that starts using a new password"
        )


def check_for_reading(catalog: Catalog, set_names: Iterable[str], password: str | None, where: str) -> None:
    """Refuse, before anything is retrieved or extracted, a password that cannot open the sets.

    ``where`` names the password's source for the message.
    """
    for name in set_names:
        aset = catalog.get_archive_set(name)
        if aset is None or not aset.password_verifier:
            continue
        if password is None:
            raise PasswordError(f"{name} is encrypted: set the archive password ({where}) and run again")
        if not matches(password, aset.password_verifier):
            raise PasswordError(
                f"the archive password is not the one {name} was made with ({where}); nothing was "
                "retrieved or written"
            )
