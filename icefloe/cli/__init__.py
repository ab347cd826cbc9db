"""icefloe's command line. ``main`` turns every user error into one line and an exit code."""

from __future__ import annotations

import sys

import typer

from typer._click import exceptions as click_exc  # typer 0.29 vendors click

from icefloe.cli.app import app, exit_with
from icefloe.cli import (  # noqa: F401  (each module registers its commands)
    archive,
    basics,
    coldstore,
    disc,
    mirror,
    partitions,
    pipeline,
    restore,
)
from icefloe.errors import IcefloeError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    try:
        result = app(args=argv, prog_name="icefloe", standalone_mode=False)
    except click_exc.NoArgsIsHelpError as exc:
        # click raises this after printing the help text already.
        sys.exit(0 if exc.ctx is None else 2)
    except click_exc.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "icefloe"
        exit_with(f"{exc.format_message()} (see `{where} --help`)", 2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        exit_with("interrupted", 130)
    except IcefloeError as exc:
        exit_with(exc.message, exc.exit_code)
    except click_exc.ClickException as exc:
        exit_with(exc.format_message(), exc.exit_code)
    sys.exit(result if isinstance(result, int) else 0)
