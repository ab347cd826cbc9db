"""What the stand-in's behaviour can be tuned with, and how the environment spells it.

The library never reads the process environment itself: the CLI passes its environment to
:func:`options_from_env`, tests build :class:`StandinOptions` directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from icefloe.errors import ConfigInvalid

ENV_PREFIX = "ICEFLOE_STANDIN_"

# environment variable suffix -> option field
ENV_FIELDS = {
    "JOB_DELAY": "job_delay_s",
    "INVENTORY_LAG": "inventory_lag_s",
    "FAULT_RATE": "fault_rate",
    "FAULT_SEED": "fault_seed",
    "LATENCY_MS": "latency_ms",
    "BANDWIDTH": "bandwidth_bps",
    "VAULT_UNSUPPORTED": "vault_unsupported",
    "STORAGE_DIR": "storage_dir",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_SIZE_SUFFIX = {"K": 1024, "M": 1024**2, "G": 1024**3}


@dataclass
class StandinOptions:
    """Everything about the stand-in that can be tuned. Validated on construction."""

    job_delay_s: float = 0.0
    """How long a Glacier job (and an S3 restore) stays in progress."""
    inventory_lag_s: float = 0.0
    """Archives younger than this at job initiation are missing from an inventory."""
    fault_rate: float = 0.0
    """Fraction of service requests answered with an injected, retryable error."""
    fault_seed: int | None = None
    """None: faults fall evenly (every 1/rate-th request). A seed: random but repeatable."""
    latency_ms: float = 0.0
    """Added before every service request."""
    bandwidth_bps: int = 0
    """Cap, in bytes per second, on each request's body and each response's body. 0: none."""
    vault_unsupported: bool = False
    """Every vault operation answers NoLongerSupportedException, as for a new AWS account."""
    storage_dir: Path | None = None
    """Where vault parts and archives are spooled. None: a temporary directory."""

    def __post_init__(self) -> None:
        self.job_delay_s = _non_negative("job_delay_s", self.job_delay_s)
        self.inventory_lag_s = _non_negative("inventory_lag_s", self.inventory_lag_s)
        self.latency_ms = _non_negative("latency_ms", self.latency_ms)
        self.fault_rate = _non_negative("fault_rate", self.fault_rate)
        if self.fault_rate > 1:
            raise ConfigInvalid(f"fault_rate must be between 0 and 1, not {self.fault_rate}")
        if self.fault_seed is not None:
            self.fault_seed = _integer("fault_seed", self.fault_seed)
        self.bandwidth_bps = _integer("bandwidth_bps", self.bandwidth_bps)
        if self.bandwidth_bps < 0:
            raise ConfigInvalid("bandwidth_bps must be 0 (no cap) or a positive byte rate")
        if not isinstance(self.vault_unsupported, bool):
            raise ConfigInvalid("vault_unsupported must be true or false")
        if self.storage_dir is not None:
            self.storage_dir = Path(self.storage_dir)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["storage_dir"] = None if self.storage_dir is None else str(self.storage_dir)
        return data

    def updated(self, changes: Mapping[str, Any]) -> StandinOptions:
        """A copy with ``changes`` applied; unknown names are refused."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            known = ", ".join(sorted(names))
            raise ConfigInvalid(f"unknown stand-in option(s) {', '.join(unknown)}; known: {known}")
        return dataclasses.replace(self, **changes)


def options_from_env(environ: Mapping[str, str]) -> StandinOptions:
    """Options from ``ICEFLOE_STANDIN_*`` variables; unset or empty ones keep their default.

    JOB_DELAY and INVENTORY_LAG are seconds, LATENCY_MS milliseconds, FAULT_RATE a fraction,
    BANDWIDTH bytes per second (suffix K, M or G for powers of 1024), VAULT_UNSUPPORTED a
    boolean (1/0, true/false, yes/no, on/off), STORAGE_DIR a path.
    """
    values: dict[str, Any] = {}
    for suffix, name in ENV_FIELDS.items():
        var = ENV_PREFIX + suffix
        raw = environ.get(var, "").strip()
        if not raw:
            continue
        try:
            values[name] = _parse(name, raw)
        except ValueError:
            raise ConfigInvalid(f"{var}={raw!r} is not valid for {name}") from None
    try:
        return StandinOptions(**values)
    except ConfigInvalid as exc:
        raise ConfigInvalid(f"{exc} (from {ENV_PREFIX}* environment variables)") from None


def _parse(name: str, raw: str) -> Any:
    if name == "vault_unsupported":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(raw)
    if name == "fault_seed":
        return int(raw)
    if name == "bandwidth_bps":
        mult = _SIZE_SUFFIX.get(raw[-1].upper(), 1)
        number = raw[:-1] if mult > 1 else raw
        return int(float(number) * mult)
    if name == "storage_dir":
        return Path(raw).expanduser()
    return float(raw)


def _non_negative(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigInvalid(f"{name} must be a number, not {value!r}") from None
    if not number >= 0:  # also refuses NaN
        raise ConfigInvalid(f"{name} must not be negative, not {value!r}")
    return number


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigInvalid(f"{name} must be an integer, not {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ConfigInvalid(f"{name} must be an integer, not {value!r}") from None
    if number != float(value):
        raise ConfigInvalid(f"{name} must be an integer, not {value!r}")
    return number
