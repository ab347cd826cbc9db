"""Notification channels and the automations that use them, as plain data.

The messages themselves are sent by Prefect's automations (deployments/automations.yaml): a
run that failed or crashed, a run paused for the next disc, a nightly mirror overdue. This
module reads the channels of ``[notify]`` and turns the automation file into the documents
Prefect's API takes; the CLI (``icefloe notify install``) talks to the server.

A channel is an Apprise URL. One that carries a credential never sits in icefloe.toml: the
file names an environment variable (``env:NAME``) or a Prefect Secret block (``secret:NAME``)
holding the URL, as it does for the archive password.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from icefloe.errors import ConfigInvalid

AUTOMATIONS_FILE = Path(__file__).resolve().parents[1] / "deployments" / "automations.yaml"
NAME_PREFIX = "icefloe: "  # every automation icefloe installs; a reinstall replaces these only
BLOCK_PREFIX = "icefloe-notify-"  # the notification block made for the n-th URL of [notify] urls

# Query keys that carry a credential in Apprise URLs (mailto ?pass=, ntfy ?token=, ...).
SECRET_KEYS = re.compile(r"pass|password|token|secret|key|apikey|auth", re.IGNORECASE)


@dataclass(frozen=True)
class Channel:
    """One entry of ``notify.urls``: a plain URL, or where to find one."""

    kind: Literal["url", "env", "secret"]
    value: str  # the URL, or the variable's or block's name

    @property
    def shown(self) -> str:
        """What a person may see: never the URL behind a name."""
        return self.value if self.kind == "url" else f"{self.kind}:{self.value}"


def parse_channel(text: str) -> Channel:
    """``env:NAME``, ``secret:NAME`` or an Apprise URL without credentials; ValueError otherwise."""
    if text.startswith(("env:", "secret:")):
        kind, _, name = text.partition(":")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
            raise ValueError(f"{text!r}: {kind}: needs a name, e.g. {kind}:ICEFLOE_NTFY_URL")
        return Channel(kind, name)  # type: ignore[arg-type]
    parts = urlsplit(text)
    if not parts.scheme or "://" not in text:
        raise ValueError(f"{text!r} is not an Apprise URL such as json://host/path or mailto://host?to=you@home")
    if parts.password or any(SECRET_KEYS.search(k) for k, _ in parse_qsl(parts.query)):
        raise ValueError(
            f"{parts.scheme}:// URL with a credential must not be written in the configuration: "
            "put the URL in an environment variable and write \"env:NAME\" "
            "(or in a Prefect Secret block, \"secret:NAME\")"
        )
    return Channel("url", text)


def channel_url(channel: Channel, environ: Mapping[str, str]) -> str:
    """The URL of a plain or ``env:`` channel (a ``secret:`` one is read by the CLI, from Prefect)."""
    if channel.kind == "url":
        return channel.value
    if channel.kind == "env":
        url = environ.get(channel.value)
        if not url:
            raise ConfigInvalid(f"notify.urls: environment variable {channel.value} is not set (it should hold the URL)")
        return url
    raise ConfigInvalid(f"notify.urls: {channel.shown} is a Prefect Secret block, read through Prefect")


def redact(url: str) -> str:
    """scheme://host of a URL, for logs and messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{':%d' % parts.port if parts.port else ''}"


def read_definitions(path: Path = AUTOMATIONS_FILE) -> list[dict[str, Any]]:
    """The automation templates of deployments/automations.yaml (see docs/deployments.md)."""
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigInvalid(f"cannot read {path}: {exc}") from None
    items = doc.get("automations")
    if not isinstance(items, list) or not items:
        raise ConfigInvalid(f"{path}: needs a list of automations")
    for item in items:
        if not str(item.get("name", "")).startswith(NAME_PREFIX) or "trigger" not in item:
            raise ConfigInvalid(f"{path}: each automation needs a name starting {NAME_PREFIX!r} and a trigger")
        if ("notify" in item) == ("actions" in item):
            raise ConfigInvalid(f"{path}: {item['name']}: give either notify (subject, body) or actions")
    return items


def parameters(notify: Any) -> dict[str, Any]:
    """The values the file's ``$name`` placeholders stand for, from a NotifyConfig."""
    return {
        "$mirror_overdue_s": int(notify.mirror_overdue_hours * 3600),
        "$mirror_overdue_hours": f"{notify.mirror_overdue_hours:g}",
        "$crash_after_s": int(notify.crash_after_s),
        "$gate_wait_days": f"{notify.gate_wait_days:g}",
    }


def render(definitions: Sequence[dict[str, Any]], values: Mapping[str, Any],
           block_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Automation documents for Prefect's API: placeholders filled, one notification per channel."""
    out = []
    for item in definitions:
        doc = _fill(copy.deepcopy(dict(item)), values)
        message = doc.pop("notify", None)
        if message is not None:
            doc["actions"] = [
                {"type": "send-notification", "block_document_id": block_id,
                 "subject": message["subject"], "body": message["body"]}
                for block_id in block_ids
            ]
        doc.setdefault("enabled", True)
        out.append(doc)
    return out


def _fill(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, str):
        if value in values:  # a whole value keeps its type (a number of seconds)
            return values[value]
        for key in sorted(values, key=len, reverse=True):
            value = value.replace(key, str(values[key]))
    return value
