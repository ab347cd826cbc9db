"""`icefloe notify install` and `icefloe notify test`: the automations that tell the owner.

Prefect's server sends the messages (its automations service), so they arrive even when the
process running a flow died. Each URL of ``[notify] urls`` becomes a Prefect notification
block (the URL is kept as a secret field there, never in icefloe.toml); ``[notify] blocks``
names blocks made in the UI. The automations come from deployments/automations.yaml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import typer

from icefloe.cli.app import app, info, print_json, settings
from icefloe.cli.helptext import SET_UP
from icefloe.cli.prefect_edge import PrefectUnavailable
from icefloe.config import NotifyConfig
from icefloe.errors import ConfigInvalid, NotifyFailed
from icefloe.notify import (
    BLOCK_PREFIX,
    NAME_PREFIX,
    Channel,
    channel_url,
    parameters,
    parse_channel,
    read_definitions,
    redact,
    render,
)

notify_app = typer.Typer(help="Messages when a run fails, waits for a disc, or the mirror is overdue.",
                         no_args_is_help=True)
app.add_typer(notify_app, name="notify", rich_help_panel=SET_UP)

# The block type that passes any Apprise URL on to Apprise: Prefect's Slack block hands a URL
# that is not a Slack webhook to Apprise unchanged (prefect/blocks/notifications.py), and it is
# built into every Prefect server, so the server's automations can load it.
APPRISE_BLOCK_TYPE = "slack-webhook"


@dataclass(frozen=True)
class Target:
    """A channel as installed: the block the automations name, and what may be shown of it."""

    block: str  # "slack-webhook/icefloe-notify-1"
    shown: str


def require_server() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise PrefectUnavailable(
            "no Prefect server is set: start one (`prefect server start`, or `icefloe service install`) "
            "and set PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    return url


def _secret_url(name: str) -> str:
    from prefect.blocks.system import Secret

    try:
        return str(Secret.load(name).get())
    except ValueError:
        raise ConfigInvalid(f"notify.urls: no Prefect Secret block named {name!r} (create it in the UI)") from None


def resolve(channel: Channel) -> str:
    url = _secret_url(channel.value) if channel.kind == "secret" else channel_url(channel, os.environ)
    check_apprise(url, channel.shown)
    return url


def check_apprise(url: str, shown: str) -> None:
    import apprise

    if not apprise.Apprise().add(url):
        raise ConfigInvalid(f"notify.urls: {shown} is not a URL Apprise knows (see https://appriseit.com)")


def save_channels(cfg: NotifyConfig) -> list[Target]:
    """One notification block per configured URL, plus the named blocks; all checked first."""
    from prefect.blocks.notifications import SlackWebhook

    if not cfg.urls and not cfg.blocks:
        raise ConfigInvalid("[notify] has no urls or blocks: add e.g. urls = [\"mailto://smtp.home?to=you@home\"]")
    channels = [parse_channel(text) for text in cfg.urls]
    urls = [resolve(channel) for channel in channels]  # every URL checked before anything changes
    targets = [Target(block, block) for block in cfg.blocks]
    for block in cfg.blocks:
        _block_id(block)
    for index, (channel, url) in enumerate(zip(channels, urls), start=1):
        name = f"{BLOCK_PREFIX}{index}"
        SlackWebhook(url=url).save(name, overwrite=True)
        targets.append(Target(f"{APPRISE_BLOCK_TYPE}/{name}", channel.shown))
    return targets


def _block_id(block: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    slug, _, name = block.partition("/")
    if not name:
        raise ConfigInvalid(f"notify.blocks: {block!r} should be TYPE/NAME, e.g. slack-webhook/family")
    with get_client(sync_client=True) as client:
        try:
            return str(client.read_block_document_by_name(name, slug).id)
        except ObjectNotFound:
            raise ConfigInvalid(f"notify.blocks: no Prefect block {block!r} (create it in the UI)") from None


def install_automations(cfg: NotifyConfig, targets: list[Target]) -> list[str]:
    """Replace the server's icefloe automations with those of deployments/automations.yaml."""
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore

    docs = render(read_definitions(), parameters(cfg), [_block_id(t.block) for t in targets])
    automations = [AutomationCore.model_validate(doc) for doc in docs]
    with get_client(sync_client=True) as client:
        remove_automations(client)
        for automation in automations:
            client.create_automation(automation)
    return [a.name for a in automations]


def remove_automations(client: Any) -> int:
    removed = 0
    for automation in client.read_automations():
        if automation.name.startswith(NAME_PREFIX):
            client.delete_automation(automation.id)
            removed += 1
    return removed


def send_test(targets: list[Target]) -> list[dict[str, Any]]:
    """One message through every channel; which took it, which did not (with the reason)."""
    from prefect.blocks.core import Block

    results = []
    for target in targets:
        block = Block.load(target.block)
        try:
            with block.raise_on_failure():
                block.notify(
                    subject="icefloe: test message",
                    body="This is a test from `icefloe notify test`: icefloe's failure, disc and "
                         "overdue-mirror messages will arrive here.",
                )
            results.append({"channel": target.shown, "ok": True, "detail": "sent"})
        except Exception as exc:  # noqa: BLE001 - any channel failure is reported, not raised
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            results.append({"channel": target.shown, "ok": False, "detail": detail})
    return results


@notify_app.command("install")
def install_cmd(as_json: bool = typer.Option(False, "--json", help="Print what was installed as JSON.")) -> None:
    """Create the notification blocks of the notify section and install icefloe's automations.

    Run it again after changing [notify] or deployments/automations.yaml: it replaces the
    automations named "icefloe: ..." and leaves every other one alone.
    """
    cfg = settings().notify
    server = require_server()
    targets = save_channels(cfg)
    names = install_automations(cfg, targets)
    if as_json:
        print_json({"server": server, "channels": [t.shown for t in targets], "automations": names})
        return
    for name in names:
        typer.echo(f"installed  {name}")
    info(f"{len(names)} automations on {server}, sending to {len(targets)} channel(s): "
         + ", ".join(redact(t.shown) if "://" in t.shown else t.shown for t in targets))


@notify_app.command("test")
def test_cmd(as_json: bool = typer.Option(False, "--json", help="Print each channel's result as JSON.")) -> None:
    """Send one test message to every channel of the notify section of icefloe.toml."""
    cfg = settings().notify
    require_server()
    results = send_test(save_channels(cfg))
    if as_json:
        print_json(results)
    else:
        for r in results:
            typer.echo(f"{'sent  ' if r['ok'] else 'FAILED'}  {r['channel']}  {'' if r['ok'] else r['detail']}")
    failed = [r["channel"] for r in results if not r["ok"]]
    if failed:
        raise NotifyFailed(f"{len(failed)} of {len(results)} channel(s) did not take the message: {', '.join(failed)}")
