"""How `--help` reads: commands grouped by stage, and docstrings reflowed to the terminal.

Docstrings are wrapped at 100 columns in the source; rich wraps them again at the terminal's
width, so every source line break would show as a short line mid-sentence. ``finish`` turns
each paragraph into one line (list items keep theirs) before typer sees it, and escapes
``[...]`` so a TOML section name is not taken for rich markup.
"""

from __future__ import annotations

import inspect
import re
from enum import Enum
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import typer
from rich.markup import escape
from typer.core import TyperGroup
from typer.models import ArgumentInfo, CommandInfo, DefaultPlaceholder, OptionInfo

SET_UP = "Set up"
ROUTINE = "Routine (scheduled, or run now)"
BY_HAND = "Single stages, by hand"
RESTORE = "Restore"
INSPECT = "Inspect"
PANELS = (SET_UP, ROUTINE, BY_HAND, RESTORE, INSPECT)

_ITEM = re.compile(r"\s*(?:[-*•]|\d+[.)])\s")
_DONE = "_icefloe_help_finished"


class StagedGroup(TyperGroup):
    """Lists commands panel by panel, in the order of the routine, each panel by name."""

    def list_commands(self, ctx: Any) -> list[str]:
        def rank(name: str) -> tuple[int, str]:
            panel = getattr(self.commands[name], "rich_help_panel", None)
            return (PANELS.index(panel) if panel in PANELS else -1, name)

        return sorted(self.commands, key=rank)


def reflow(text: str) -> str:
    """Each paragraph of a docstring on one line; list items each on their own."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", inspect.cleandoc(text)):
        lines: list[str] = []
        for raw in block.splitlines():
            if lines and not _ITEM.match(raw):
                lines[-1] = f"{lines[-1]} {raw.strip()}"
            else:
                lines.append(raw.strip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(p for p in paragraphs if p)


def _text(value: Any) -> str | None:
    return None if value is None or isinstance(value, DefaultPlaceholder) else str(value)


def choices(annotation: Any) -> list[str]:
    """The values of an Enum or Literal parameter type (also inside Optional); else none."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(member.value) for member in annotation]
    if get_origin(annotation) is Literal:
        return [str(value) for value in get_args(annotation)]
    if get_origin(annotation) in (Union, UnionType):
        return [c for arg in get_args(annotation) if arg is not type(None) for c in choices(arg)]
    return []


def _finish_params(callback: Any) -> None:
    if callback is None:
        return
    hints = get_type_hints(callback)
    for param in inspect.signature(callback).parameters.values():
        info = param.default
        if not isinstance(info, (OptionInfo, ArgumentInfo)):
            continue
        if _text(info.help):
            info.help = escape(" ".join(str(info.help).split()))
        values = choices(hints.get(param.name))
        if values and info.metavar is None:
            # Listed in the help text, which wraps, rather than as a "<a|b|c>" that rich folds.
            longs = [d for d in getattr(info, "param_decls", None) or () if d.startswith("--")]
            info.metavar = f"<{longs[0][2:] if longs else param.name}>"
            info.help = f"{_text(info.help) or ''} One of: {', '.join(values)}.".strip()
        if isinstance(info, OptionInfo) and isinstance(info.default, bool) and info.metavar is None:
            info.metavar = ""  # a flag takes no value: no "<bool>" beside it


def _finish_command(command: CommandInfo) -> None:
    doc = _text(command.help) or (inspect.getdoc(command.callback) if command.callback else None)
    if doc:
        command.help = escape(reflow(doc))
    _finish_params(command.callback)


def finish(app: typer.Typer) -> typer.Typer:
    """Reflow and escape the help of every command, group and parameter of ``app`` (once)."""
    if getattr(app, _DONE, False):
        return app
    setattr(app, _DONE, True)
    if _text(app.info.help):
        app.info.help = escape(reflow(str(app.info.help)))
    if app.registered_callback is not None:
        callback = app.registered_callback
        doc = _text(callback.help) or (inspect.getdoc(callback.callback) if callback.callback else None)
        if doc:
            callback.help = escape(reflow(doc))
        _finish_params(callback.callback)
    for command in app.registered_commands:
        _finish_command(command)
    for group in app.registered_groups:
        if _text(group.help):
            group.help = escape(reflow(str(group.help)))
        finish(group.typer_instance)
    return app
