"""icefloe's settings: one TOML file, validated, with environment overrides.

Settings are read once, at the edge (the CLI, a flow's first step), and passed down. The file
is ``./icefloe.toml`` unless ``--config`` or ``ICEFLOE_CONFIG`` names another. Any key can be
overridden from the environment as ``ICEFLOE_<SECTION>__<KEY>``, e.g.
``ICEFLOE_COLDSTORE__BACKEND=glacier``.

Secrets never live here: AWS credentials come from boto3's standard chain, and the archive
password from the environment variable or Prefect Secret block the file *names*.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from icefloe.errors import ConfigInvalid, PasswordError

DEFAULT_CONFIG = Path("icefloe.toml")
MIB = 1024 * 1024

DiscType = Literal["dvd+r", "dvd-r", "dvd+r-dl", "dvd-r-dl", "bd-r", "bd-r-dl", "none"]


def _power_of_two_mib(value: int) -> int:
    if value < 1 or value > 4096 or value & (value - 1):
        raise ValueError(f"{value} is not a power of two from 1 to 4096 (MiB)")
    return value


# A vault's part and range sizes are 1 MiB x 2^n (each then has a tree hash); S3 takes them too.
PowerOfTwoMiB = Annotated[int, AfterValidator(_power_of_two_mib)]

# Uploads hold concurrency x part size in memory, downloads (concurrency + 1) x range size.
BUFFERS_MAX_MIB = 4096


def _buffers_fit(count: int, size_mib: int, names: str) -> None:
    if count * size_mib > BUFFERS_MAX_MIB:
        raise ValueError(
            f"{names} would hold {count} x {size_mib} MiB = {count * size_mib} MiB in memory, "
            f"more than {BUFFERS_MAX_MIB} MiB: lower one of them"
        )

SECRET_WORDS = ("password", "passphrase", "secret_key", "aws_secret_access_key", "aws_access_key_id")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key in SECRET_WORDS:
                    raise ValueError(
                        f"{key!r} must not be written in the configuration: AWS credentials come "
                        "from boto3's standard chain and the archive password from the "
                        "environment variable named by archive.password_env "
                        "(or the Prefect Secret block named by archive.password_secret_block)"
                    )
        return data


class PartitionConfig(Section):
    label: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    path: Path
    # A mirror refuses a source without this file, so an unmounted disk never wipes the mirror.
    sentinel: str = ".icefloe-partition"
    # The fill level is data under path / this; without it, the filesystem's own use.
    capacity_gib: float | None = Field(None, gt=0)

    @field_validator("path")
    @classmethod
    def _expand(cls, path: Path) -> Path:
        # Whether the folder exists is checked where it is used (Settings.partition_folder):
        # a disk lost with the house must not stop restore, find or status.
        return path.expanduser()


class MirrorConfig(Section):
    target: str | None = None  # "user@host:/srv/mirror" or a local folder
    ssh_port: int = Field(22, ge=1, le=65535)
    identity_file: Path | None = None
    known_hosts: Path | None = None
    bwlimit: str = "0"
    max_delete: int = Field(1000, ge=0)
    timeout_s: int = Field(600, ge=0)
    concurrency: int = Field(2, ge=1, le=16)
    retries: int = Field(3, ge=0, le=10)
    cron: str = "0 2 * * *"
    host_key_checking: Literal["accept-new", "yes"] = "accept-new"  # ssh StrictHostKeyChecking
    require_mount: bool = False  # also refuse a partition path that is not a mount point


class ArchiveConfig(Section):
    password_env: str | None = "ICEFLOE_ARCHIVE_PASSWORD"
    password_secret_block: str | None = None
    # Off only when written so: with it on, archiving without a password is refused.
    encrypt: bool = True
    # True for the one run that starts using a new password (icefloe/passwords.py).
    new_password: bool = False
    disc: DiscType = "dvd+r"
    burner: str = "none"  # "none", a device such as "/dev/sr0", or "stdio:/path/file"
    burn_tool: Literal["xorriso", "growisofs"] = "xorriso"
    compression: Literal["auto", "lzma2", "copy"] = "auto"
    lzma_preset: int = Field(1, ge=0, le=9)
    workers: int = Field(2, ge=1, le=64)
    volume_size_mib: int | None = Field(None, ge=1)
    # The least PAR2 recovery data on each disc, as a share of its data (docs/disc.md).
    disc_redundancy: float = Field(0.10, ge=0.0, le=1.0)


class ColdstoreConfig(Section):
    backend: Literal["s3", "glacier"] = "s3"
    region: str = "us-east-1"
    bucket: str = "family-archive"
    prefix: str = "icefloe/"
    storage_class: Literal["DEEP_ARCHIVE", "GLACIER", "GLACIER_IR", "STANDARD"] = "DEEP_ARCHIVE"
    vault: str = "family-archive"
    part_size_mib: PowerOfTwoMiB = 32
    concurrency: int = Field(8, ge=1, le=64)
    bandwidth_limit: str = "0"  # bytes per second, with an optional K/M/G suffix; "0" = none
    max_attempts: int = Field(6, ge=1, le=20)
    description_paths: bool = False  # put the source folder in archive descriptions
    # After every archive and clear, keep the catalog (sealed with the archive password) in the
    # bucket's STANDARD tier or as a vault archive, for `catalog rebuild` after a disaster.
    catalog_snapshots: bool = True

    @field_validator("bandwidth_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    @model_validator(mode="after")
    def _parts_fit(self) -> ColdstoreConfig:
        _buffers_fit(self.concurrency, self.part_size_mib, "concurrency x part_size_mib")
        return self

    @property
    def part_size(self) -> int:
        return self.part_size_mib * MIB

    @property
    def bandwidth_bps(self) -> int:
        return parse_rate(self.bandwidth_limit)


class PipelineConfig(Section):
    fill_threshold: float = Field(0.9, gt=0, le=1)
    timezone: str = "UTC"
    inventory_cron: str = "0 * * * *"
    cleanup_cron: str = "0 4 * * 0"
    stale_upload_age_h: float = Field(24, gt=0)


class RestoreConfig(Section):
    tier: Literal["Expedited", "Standard", "Bulk"] = "Bulk"
    days: int = Field(7, ge=1, le=365)
    range_size_mib: PowerOfTwoMiB = 32  # download range
    download_concurrency: int = Field(4, ge=1, le=32)
    poll_first_s: float = Field(1.0, gt=0)
    poll_max_s: float = Field(900.0, gt=0)
    wait_timeout_h: float = Field(72.0, gt=0)
    keep_downloads: bool = False

    @model_validator(mode="after")
    def _ranges_fit(self) -> RestoreConfig:
        _buffers_fit(self.download_concurrency + 1, self.range_size_mib, "(download_concurrency + 1) x range_size_mib")
        return self

    # USD per GB retrieved, by backend and tier; shown before a retrieval starts.
    prices: dict[str, float] = Field(
        default_factory=lambda: {
            "s3:DEEP_ARCHIVE:Standard": 0.02,
            "s3:DEEP_ARCHIVE:Bulk": 0.0025,
            "s3:GLACIER:Expedited": 0.03,
            "s3:GLACIER:Standard": 0.01,
            "s3:GLACIER:Bulk": 0.0,
            "glacier:Expedited": 0.03,
            "glacier:Standard": 0.01,
            "glacier:Bulk": 0.0025,
        }
    )


class NotifyConfig(Section):
    """Where icefloe's Prefect automations send their messages (icefloe/notify.py)."""

    # Apprise URLs with no credentials in them ("json://host/hook", "mailto://smtp.host?to=me@home");
    # for one that carries a token, "env:NAME" (an environment variable holding the URL) or
    # "secret:NAME" (a Prefect Secret block holding it).
    urls: list[str] = Field(default_factory=list)
    blocks: list[str] = Field(default_factory=list)  # Prefect notification blocks: "slack-webhook/family"
    mirror_overdue_hours: float = Field(26, gt=0)  # the dead man's switch of the nightly mirror
    gate_wait_days: float = Field(7, gt=0)  # a set whose clear still waits on its gates after this
    crash_after_s: int = Field(90, ge=40)  # no heartbeat for this long: the run is marked Crashed
    watch_cron: str = "0 9 * * *"  # the daily watch-partitions run (a full partition, a waiting clear)
    disc_check_cron: str = "0 10 1 3 *"  # the yearly check-discs run: it asks for each disc in the safe
    summary_cron: str = "0 8 * * 0"  # the weekly-summary run (Sundays): the week in plain words

    @field_validator("urls")
    @classmethod
    def _no_credentials(cls, urls: list[str]) -> list[str]:
        from icefloe.notify import parse_channel

        for url in urls:
            parse_channel(url)
        return urls


class CostConfig(Section):
    """Storage prices for `icefloe status` (icefloe/cost.py holds the table and its date)."""

    # USD per GB-month by storage class: DEEP_ARCHIVE, GLACIER, GLACIER_IR, STANDARD, VAULT.
    # Only the keys given here replace the table's us-east-1 list prices.
    prices: dict[str, float] = Field(default_factory=dict)

    @field_validator("prices")
    @classmethod
    def _known_classes(cls, prices: dict[str, float]) -> dict[str, float]:
        from icefloe.cost import DEFAULT_PRICES

        for key, value in prices.items():
            if key not in DEFAULT_PRICES:
                raise ValueError(f"{key!r} is not one of {', '.join(DEFAULT_PRICES)}")
            if value < 0:
                raise ValueError(f"{key}: a price is not negative")
        return prices


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix="ICEFLOE_", env_nested_delimiter="__"
    )

    work_dir: Path = Path("icefloe-work")
    catalog: Path | None = None
    partitions: list[PartitionConfig] = Field(default_factory=list)
    mirror: MirrorConfig = MirrorConfig()
    archive: ArchiveConfig = ArchiveConfig()
    coldstore: ColdstoreConfig = ColdstoreConfig()
    pipeline: PipelineConfig = PipelineConfig()
    restore: RestoreConfig = RestoreConfig()
    notify: NotifyConfig = NotifyConfig()
    cost: CostConfig = CostConfig()

    @field_validator("partitions")
    @classmethod
    def _unique_labels(cls, parts: list[PartitionConfig]) -> list[PartitionConfig]:
        seen: set[str] = set()
        for part in parts:
            if part.label in seen:
                raise ValueError(f"label {part.label!r} is used twice")
            seen.add(part.label)
        return parts

    @property
    def catalog_path(self) -> Path:
        return self.catalog or self.work_dir / "catalog.sqlite"

    def partition(self, label: str) -> PartitionConfig:
        for part in self.partitions:
            if part.label == label:
                return part
        known = ", ".join(p.label for p in self.partitions) or "none configured"
        raise ConfigInvalid(f"no partition labelled {label!r} (known: {known})")

    def partition_folder(self, label: str) -> PartitionConfig:
        """The partition ``label``, for a command that reads or writes its folder: one line
        naming the key and the path when the folder is missing."""
        part = self.partition(label)
        if not Path(part.path).is_dir():
            index = self.partitions.index(part)
            raise ConfigInvalid(
                f"partitions.{index}.path: {part.path} does not exist or is not a folder "
                f"(is the disk of {label} mounted?)"
            )
        return part

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's contents arrive as init values; the environment overrides them.
        return (_MappingEnvSource(settings_cls, _ENVIRON.get()), init_settings)


_ENVIRON: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("icefloe_environ")


class _MappingEnvSource(EnvSettingsSource):
    """Environment overrides read from a given mapping, so loading is testable."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, False, self.env_ignore_empty, self.env_parse_none_str)


def parse_rate(text: str) -> int:
    """'0' → 0, '512K' → 524288, '10M' → 10485760 (bytes per second)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?(?:/s)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"{text!r} is not a rate such as 0, 500K or 10M")
    number, unit = match.groups()
    scale = {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}[unit.upper()]
    return int(float(number) * scale)


def _error_line(source: str, err: ValidationError) -> str:
    parts = []
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{key}: {msg}")
    return f"{source}: " + "; ".join(parts)


def _resolve(base: Path, value: Any) -> Any:
    if isinstance(value, str) and value and not value.startswith("~"):
        path = Path(value)
        return str(path if path.is_absolute() else base / path)
    return value


def _anchor_relative_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths in the file are relative to the file, not to the working directory."""
    for key in ("work_dir", "catalog"):
        if key in data:
            data[key] = _resolve(base, data[key])
    for part in data.get("partitions") or []:
        if isinstance(part, dict) and "path" in part:
            part["path"] = _resolve(base, part["path"])
    archive = data.get("archive")
    if isinstance(archive, dict) and isinstance(archive.get("burner"), str):
        burner = archive["burner"]
        if burner.startswith("stdio:"):  # a burn into a plain file, as the tests and demo do
            archive["burner"] = "stdio:" + _resolve(base, burner.removeprefix("stdio:"))
    mirror = data.get("mirror")
    if isinstance(mirror, dict):
        for key in ("identity_file", "known_hosts"):
            if key in mirror:
                mirror[key] = _resolve(base, mirror[key])
        target = mirror.get("target")
        # "host:/path" and "user@host:/path" are remote; anything else is a local folder.
        if isinstance(target, str) and not re.match(r"^[^/]*:", target):
            mirror["target"] = _resolve(base, target)
    return data


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the configuration file (or defaults when there is none) plus environment overrides."""
    import tomllib

    environ = os.environ if environ is None else environ
    explicit = path is not None or "ICEFLOE_CONFIG" in environ
    path = Path(path or environ.get("ICEFLOE_CONFIG") or DEFAULT_CONFIG).expanduser()
    data: dict[str, Any] = {}
    if path.exists():
        if path.is_dir():
            raise ConfigInvalid(f"{path}: is a folder, not a configuration file")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigInvalid(f"{path}: not valid TOML: {exc}") from None
        data = _anchor_relative_paths(data, path.resolve().parent)
    elif explicit:
        raise ConfigInvalid(f"{path}: configuration file not found (run `icefloe init` to write one)")
    token = _ENVIRON.set(environ)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigInvalid(_error_line(str(path), exc)) from None
    finally:
        _ENVIRON.reset(token)


def read_password(archive: ArchiveConfig, environ: Mapping[str, str]) -> str | None:
    """The archive password from the named environment variable, or None when none is set.

    A Prefect Secret block is resolved by the task layer, which may import Prefect.
    """
    if archive.password_env and environ.get(archive.password_env):
        return environ[archive.password_env]
    if archive.password_env and archive.password_env in environ:
        raise PasswordError(f"environment variable {archive.password_env} is set but empty")
    return None


STARTER = '''\
# icefloe configuration. Every key is optional; the values shown are the defaults unless noted.
# Any key can be overridden from the environment: ICEFLOE_<SECTION>__<KEY>, e.g.
#   ICEFLOE_COLDSTORE__BACKEND=glacier
# Relative paths are relative to this file.

work_dir = "icefloe-work"          # archives and disc images are built here
# catalog = "icefloe-work/catalog.sqlite"

# The backup partitions, used in turn. Each must hold a sentinel file (.icefloe-partition)
# so an unmounted disk is never mirrored as "empty". Uncomment and edit:
# [[partitions]]
# label = "photos-a"
# path = "/mnt/backup-a"
# [[partitions]]
# label = "photos-b"
# path = "/mnt/backup-b"

[mirror]
# target = "backup@offsite.example.org:/srv/mirror"   # or a local folder (a mounted NAS)
ssh_port = 22
# identity_file = "~/.ssh/icefloe"
# known_hosts = "~/.ssh/known_hosts"
bwlimit = "0"            # rsync --bwlimit (KiB/s), "0" = unlimited
max_delete = 1000        # rsync stops deleting past this many files, and icefloe reports it
cron = "0 2 * * *"       # the nightly mirror

[archive]
# The password is never written here. Name where it comes from instead:
password_env = "ICEFLOE_ARCHIVE_PASSWORD"
# password_secret_block = "icefloe-archive"     # a Prefect Secret block
# Archiving stops when that password is unset. Unencrypted archives only with:
# encrypt = false
disc = "dvd+r"           # dvd+r, dvd-r, dvd+r-dl, dvd-r-dl, bd-r, bd-r-dl, none
disc_redundancy = 0.10   # at least this share of each disc is PAR2 recovery data (par2 repair)
burner = "none"          # "none", "/dev/sr0", or "stdio:/path/file" to burn into a file
compression = "auto"     # auto: media is stored, everything else LZMA2; or lzma2, copy
workers = 2              # compression processes

[coldstore]
backend = "s3"           # "s3" (every account) or "glacier" (vault customers from before 2025-12-15)
region = "us-east-1"
bucket = "family-archive"
storage_class = "DEEP_ARCHIVE"
vault = "family-archive"
part_size_mib = 32       # a power of two; raised automatically for huge files
concurrency = 8          # parts in flight; memory is about concurrency x part size
bandwidth_limit = "0"    # bytes/s with K/M/G, e.g. "2M"; "0" = unlimited
catalog_snapshots = true # keep the sealed catalog offsite after every archive and clear

[pipeline]
fill_threshold = 0.9     # archive a partition once it is this full
timezone = "UTC"

[restore]
tier = "Bulk"            # Expedited, Standard or Bulk
days = 7                 # how long a restored S3 copy stays readable
'''
