"""The typer application and what every command shares: settings, catalog, output, progress.

The CLI is the layer above flows: it may import them (lazily, to keep `--help` fast), and it is
the only place that turns errors into exit codes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import typer

from icefloe.catalog import Catalog
from icefloe.cli.helptext import StagedGroup
from icefloe.config import Settings, load_settings
from icefloe.progress import ProgressCounter

app = typer.Typer(
    name="icefloe",
    help=(
        "Offsite archival backups: mirror partitions nightly with rsync, consolidate full ones "
        "into 7z archives, burn them to disc, keep them in Glacier or S3 Deep Archive, and clear "
        "a partition only after every copy is verified.\n\n"
        "Start with `icefloe init` to write icefloe.toml, or `icefloe demo` to watch the whole "
        "routine run locally with no AWS account."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=StagedGroup,  # commands by stage: set-up, routine, by hand, restore, inspect
    rich_markup_mode="rich",  # help paragraphs come reflowed and escaped (helptext.finish)
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class State:
    config_path: Optional[Path] = None
    _settings: Optional[Settings] = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings


@app.callback()
def _root(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(
        None,
        "--config",
        "-c",
        help="Configuration file (default: ./icefloe.toml, or $ICEFLOE_CONFIG).",
        show_default=False,
    ),
) -> None:
    global _STATE
    _STATE = State(config_path=config)


_STATE = State()


def state() -> State:
    return _STATE


def settings() -> Settings:
    return state().settings()


def open_catalog() -> Catalog:
    return Catalog.open(settings().catalog_path)


def catalog_if_exists() -> Catalog | None:
    """The catalog when one exists already; reading an image or a disc never creates one."""
    return open_catalog() if settings().catalog_path.exists() else None


def open_store(catalog: Catalog, concurrency: int | None = None) -> Any:
    """The configured vault or bucket, recording into ``catalog``."""
    from icefloe.coldstore import open_coldstore  # boto3: only for the commands that use it

    return open_coldstore(settings().coldstore, catalog, concurrency=concurrency)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def info(message: str) -> None:
    """A line for the person at the terminal (stderr, so stdout stays parseable)."""
    typer.echo(message, err=True)


class RichProgress(ProgressCounter):
    """The progress contract drawn as a rich bar on stderr."""

    def __init__(self, bar: Any, task_id: Any) -> None:
        super().__init__(interval=0.1)
        self._bar, self._task_id = bar, task_id

    def flush(self) -> None:
        self._bar.update(
            self._task_id, total=self.total or None, completed=self.done, description=self.label
        )


@contextmanager
def progress_bar(label: str = "") -> Iterator[RichProgress]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=not console.is_terminal,
        disable=not console.is_terminal,
    ) as bar:
        task_id = bar.add_task(label, total=None)
        yield RichProgress(bar, task_id)


def exit_with(message: str, code: int) -> None:
    typer.echo(f"icefloe: {message}", err=True)
    sys.exit(code)


def standin_package() -> Any:
    """The local AWS stand-in (the ``standin`` extra); one line when it is not installed."""
    try:
        import icefloe_standin
        import moto  # noqa: F401 - the stand-in's S3 imports it only as it starts
    except ImportError as exc:
        from icefloe.errors import UsageError

        raise UsageError(
            f"the local AWS stand-in is not installed ({exc.name or exc} is missing): "
            "pip install 'icefloe[standin]' (real AWS does not need it)"
        ) from None
    return icefloe_standin
