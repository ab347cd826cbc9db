"""Where the CLI meets Prefect: its settings for icefloe's own runs, and its failures as one line.

Prefect reads its settings when it is first imported, so ``apply_defaults`` runs before any
command imports a flow. A value the person set (in the environment or in the active Prefect
profile) always wins over icefloe's default.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from icefloe.errors import PrefectUnavailable

STARTUP_TIMEOUT = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
ANALYTICS = "PREFECT_SERVER_ANALYTICS_ENABLED"

# Prefect's own start-up limit for the temporary server is 20 s; on a busy 2-core machine the
# server took 26 s, so icefloe waits long enough for a slow machine instead.
DEFAULTS = {
    STARTUP_TIMEOUT: "180",
    # icefloe's runs are local and often offline: telemetry only prints "Failed to send".
    ANALYTICS: "false",
}


def profile_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The settings of the active Prefect profile, as Prefect would find it; empty if none."""
    path = environ.get("PREFECT_PROFILES_PATH")
    if path:
        profiles = Path(path).expanduser()
    else:
        home = Path(environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
        profiles = home / "profiles.toml"
    try:
        data = tomllib.loads(profiles.read_text())
    except (OSError, ValueError):
        return {}
    name = environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    values = data.get("profiles", {}).get(name, {})
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


def apply_defaults(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Set icefloe's Prefect defaults in ``environ`` where the person set nothing; returns them."""
    profile = profile_settings(environ)
    applied = {k: v for k, v in DEFAULTS.items() if k not in environ and k not in profile}
    environ.update(applied)
    return applied


def startup_limit(environ: Mapping[str, str]) -> str:
    return environ.get(STARTUP_TIMEOUT) or profile_settings(environ).get(STARTUP_TIMEOUT) or "20"


def as_prefect_failure(exc: BaseException, environ: Mapping[str, str] = os.environ) -> PrefectUnavailable | None:
    """The one line for a Prefect start-up or connection failure; None for anything else."""
    text = str(exc)
    if isinstance(exc, RuntimeError) and "ephemeral Prefect API server" in text:
        return PrefectUnavailable(
            f"the local Prefect server did not start within {startup_limit(environ)} s (is the machine "
            f"busy?): set {STARTUP_TIMEOUT} higher, or start one with `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    url = environ.get("PREFECT_API_URL")
    if url and _is_connect_error(exc):
        return PrefectUnavailable(
            f"cannot reach the Prefect server at {url}: start it (`prefect server start`) or unset "
            "PREFECT_API_URL to let icefloe start a temporary one"
        )
    return None


def _is_connect_error(exc: BaseException) -> bool:
    try:
        import httpx
    except ImportError:  # pragma: no cover - Prefect depends on httpx
        return False
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


class _TerminalFormatter(logging.Formatter):
    """Prefect's own console format, without tracebacks: the terminal gets icefloe's one line,
    and the full traceback stays in the run's logs on the Prefect server (the UI shows it)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        quiet = logging.makeLogRecord(record.__dict__)
        quiet.exc_info, quiet.exc_text, quiet.stack_info = None, None, None
        message = quiet.getMessage()
        cut = message.find("Traceback (most recent call last)")
        if cut >= 0:
            quiet.msg, quiet.args = message[:cut].rstrip(), None
        return self.inner.format(quiet)


def quiet_tracebacks() -> None:
    """Keep tracebacks off the terminal for Prefect's console log handlers (idempotent)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler) and not isinstance(handler.formatter, _TerminalFormatter):
                handler.setFormatter(_TerminalFormatter(handler.formatter))
