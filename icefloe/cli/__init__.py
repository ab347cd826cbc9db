"""icefloe's command line. ``main`` turns every error into one line and an exit code.

An error icefloe does not know is a bug; it is still one line (ICEFLOE_DEBUG=1 shows its
traceback), because a traceback tells the person nothing they can act on.
"""

from __future__ import annotations

import os
import sys

import typer

from typer._click import exceptions as click_exc  # typer 0.29 vendors click

from icefloe.cli.app import app, exit_with
from icefloe.cli.prefect_edge import apply_defaults, as_prefect_failure
from icefloe.cli import (  # noqa: F401  (each module registers its command, named after it)
    archive,
    burn,
    catalog,
    clean,
    clear,
    consolidate,
    demo,
    discs,
    find,
    init,
    inventory,
    iso,
    jobs,
    mirror,
    notify,
    recover,
    restore,
    service,
    sets,
    standin,
    status,
    upload,
    uploads,
)
from icefloe.cli.helptext import finish
from icefloe.errors import IcefloeError

finish(app)  # after every module registered its commands: reflowed, escaped help

__all__ = ["app", "main"]

BUG_EXIT = 70  # EX_SOFTWARE
INTERRUPTED = 130
INTERRUPTED_LINE = "interrupted: run the same command again to carry on where it stopped"


def main(argv: list[str] | None = None) -> None:
    apply_defaults(os.environ)  # before any command imports Prefect, which reads them once
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
        exit_with(INTERRUPTED_LINE, INTERRUPTED)
    except IcefloeError as exc:
        exit_with(exc.message, exc.exit_code)
    except click_exc.ClickException as exc:
        exit_with(exc.format_message(), exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
        failure = as_prefect_failure(exc)
        if failure is not None:
            exit_with(failure.message, failure.exit_code)
        if os.environ.get("ICEFLOE_DEBUG"):
            raise
        reason = str(exc).splitlines()[0] if str(exc) else ""
        exit_with(f"internal error, please report it: {type(exc).__name__}: {reason} "
                  "(ICEFLOE_DEBUG=1 shows the traceback)", BUG_EXIT)
    if result == INTERRUPTED:  # without standalone mode typer returns Ctrl-C's code
        exit_with(INTERRUPTED_LINE, INTERRUPTED)
    sys.exit(result if isinstance(result, int) else 0)
