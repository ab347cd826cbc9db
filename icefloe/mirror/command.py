"""What the mirror runs, and whether it may run: the target, rsync's command, the source check.

``build_command`` is pure, so the exact rsync and ssh options are unit-tested without running
anything. ``check_source`` is the safety gate in front of every run.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from icefloe.config import MirrorConfig
from icefloe.errors import ConfigInvalid, MirrorRefused

PARTIAL_DIR = ".rsync-partial"  # relative, so rsync also protects it from --delete
TRASH_DIR = ".icefloe-trash"  # the clear stage stages deletions here; never mirrored
CONNECT_TIMEOUT_S = 30
_BWLIMIT = re.compile(r"^\d+(\.\d+)?([KMGTP](i?B)?)?$", re.IGNORECASE)


@dataclass(frozen=True)
class MirrorTarget:
    """Where partitions are mirrored: ``[user@]host:/path`` (ssh) or a local folder (a NAS)."""

    path: str
    host: str | None = None
    user: str | None = None

    @classmethod
    def parse(cls, text: str) -> MirrorTarget:
        text = text.strip()
        if not text:
            raise ConfigInvalid("mirror.target is empty; set it to user@host:/path or a local folder")
        # rsync's own rule: a colon before the first slash makes it remote.
        match = re.match(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>\[[^\]/]+\]|[^@/:\[\]]+):(?P<path>.*)$", text)
        if text.startswith("rsync://") or (match and match["path"].startswith(":")):
            raise ConfigInvalid(
                f"mirror.target {text!r} names an rsync daemon, which icefloe does not use; "
                "write it as user@host:/path (rsync over ssh) or a local folder"
            )
        if match:
            return cls(path=match["path"], host=match["host"], user=match["user"])
        if ":" in text.split("/", 1)[0]:
            raise ConfigInvalid(f"mirror.target {text!r} is neither user@host:/path nor a local folder")
        return cls(path=os.path.abspath(os.path.expanduser(text)))

    @property
    def is_remote(self) -> bool:
        return self.host is not None

    def for_partition(self, label: str) -> MirrorTarget:
        base = self.path.rstrip("/")
        path = f"{base}/{label}" if base or self.path.startswith("/") else label
        return replace(self, path=path)

    def rsync_spec(self) -> str:
        """The destination argument, with the trailing slash that means "into this folder"."""
        path = self.path.rstrip("/") + "/"
        if not self.is_remote:
            return path
        return f"{self.user + '@' if self.user else ''}{self.host}:{path}"

    def __str__(self) -> str:
        return self.rsync_spec().rstrip("/") or "/"


@dataclass(frozen=True)
class MirrorOptions:
    """How rsync and ssh run; built from the ``[mirror]`` section."""

    ssh_port: int = 22
    identity_file: Path | None = None
    known_hosts: Path | None = None
    host_key_checking: str = "accept-new"  # "yes" once known_hosts holds the server's key
    bwlimit: str = "0"  # rsync --bwlimit: KiB/s, or with a K/M/G suffix
    max_delete: int = 1000
    timeout_s: int = 600
    require_mount: bool = False
    rsync: str = "rsync"
    ssh: str = "ssh"
    # rsync --checksum: compare every byte on both ends instead of size and mtime, so a file
    # edited in place with its time kept is sent too. Reads everything; for chosen runs only.
    checksum: bool = False

    @classmethod
    def from_config(cls, cfg: MirrorConfig) -> MirrorOptions:
        return cls(
            ssh_port=cfg.ssh_port,
            identity_file=cfg.identity_file,
            known_hosts=cfg.known_hosts,
            # Fields proposed for config.py; the defaults hold until they exist there.
            host_key_checking=getattr(cfg, "host_key_checking", "accept-new"),
            require_mount=getattr(cfg, "require_mount", False),
            bwlimit=cfg.bwlimit,
            max_delete=cfg.max_delete,
            timeout_s=cfg.timeout_s,
        )


def _bwlimit_arg(value: str) -> str | None:
    value = value.strip()
    if not _BWLIMIT.match(value):
        raise ConfigInvalid(f"mirror.bwlimit {value!r} is not a rate such as 0, 5000 (KiB/s) or 2M")
    return None if float(re.match(r"[\d.]+", value)[0]) == 0 else value


def _rsh_quote(arg: str) -> str:
    """Quote for rsync's -e parser: spaces split words, and a doubled quote is a literal one."""
    if arg and not re.search(r"[\s'\"]", arg):
        return arg
    return '"' + arg.replace('"', '""') + '"'


def ssh_command(options: MirrorOptions) -> str:
    """The remote shell for rsync's -e: never prompts (BatchMode), fails fast when unreachable."""
    argv = [options.ssh]
    if options.ssh_port != 22:
        argv += ["-p", str(options.ssh_port)]
    argv += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}"]
    argv += ["-o", f"StrictHostKeyChecking={options.host_key_checking}"]
    if options.identity_file is not None:
        argv += ["-i", str(Path(options.identity_file).expanduser()), "-o", "IdentitiesOnly=yes"]
    if options.known_hosts is not None:
        argv += ["-o", f"UserKnownHostsFile={Path(options.known_hosts).expanduser()}"]
    return " ".join(_rsh_quote(a) for a in argv)


def build_command(
    source: Path, target: MirrorTarget, options: MirrorOptions, *, dry_run: bool = False
) -> list[str]:
    """The rsync command that mirrors ``source`` into ``target`` (pure: runs nothing)."""
    argv = [
        options.rsync,
        "--archive",
        "--delete-delay",  # deletes after the transfer: a run that breaks off deletes nothing
        f"--partial-dir={PARTIAL_DIR}",
        "--itemize-changes",
        "--stats",
        "--info=progress2",
        f"--max-delete={options.max_delete}",
        f"--exclude=/{TRASH_DIR}/",
    ]
    if options.timeout_s:
        argv.append(f"--timeout={options.timeout_s}")
    bwlimit = _bwlimit_arg(options.bwlimit)
    if bwlimit:
        argv.append(f"--bwlimit={bwlimit}")
    if dry_run:
        argv.append("--dry-run")
    if options.checksum:
        argv.append("--checksum")
    if target.is_remote:
        argv += ["-e", ssh_command(options)]
    # Absolute, so a colon in a folder name is never read as a host.
    argv += [os.path.abspath(source).rstrip("/") + "/", target.rsync_spec()]
    return argv


def check_source(path: Path, sentinel: str, *, require_mount: bool = False, label: str = "") -> None:
    """Refuse a source that is not the backup disk: missing, unmounted or without its sentinel."""
    name = f"partition {label} ({path})" if label else str(path)
    untouched = "so the mirror was left untouched"
    if not Path(path).is_dir():
        raise MirrorRefused(f"{name} is not a folder, {untouched}; mount the backup disk and run again")
    if require_mount and not os.path.ismount(path):
        raise MirrorRefused(f"{name} is not a mount point, {untouched}; mount the backup disk and run again")
    if not (Path(path) / sentinel).is_file():
        raise MirrorRefused(
            f"{name} has no sentinel file {sentinel}: the backup disk is probably not mounted, "
            f"{untouched}; mount it (or, for a new partition, create the file) and run again"
        )


def is_empty(path: Path, sentinel: str) -> bool:
    """True when the partition holds nothing but its sentinel (and staged trash)."""
    try:
        with os.scandir(path) as entries:
            return not any(e.name not in (sentinel, TRASH_DIR) for e in entries)
    except OSError as exc:
        raise MirrorRefused(f"{path} cannot be read ({exc.strerror}), so the mirror was left untouched") from None


def source_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (what a full mirror sends), trash excluded."""
    total, stack = 0, [str(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != TRASH_DIR or entry.path != os.path.join(path, TRASH_DIR):
                            stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue  # rsync reports unreadable folders itself
    return total
