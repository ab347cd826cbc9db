"""`icefloe standin`: the local AWS stand-in in the foreground (the ``standin`` extra)."""

from __future__ import annotations

import os

import typer

from icefloe.cli.app import app, standin_package
from icefloe.cli.helptext import SET_UP


@app.command(rich_help_panel=SET_UP)
def standin(
    port: int = typer.Option(9566, "--port", "-p", help="Port on 127.0.0.1 (0 picks a free one)."),
) -> None:
    """Run the local AWS stand-in (S3 and the Glacier vault API) in the foreground.

    Point icefloe (or any AWS client) at it with AWS_ENDPOINT_URL=http://127.0.0.1:PORT.
    Tune it with ICEFLOE_STANDIN_* variables (docs/standin.md): job delay, inventory lag,
    fault rate, latency, bandwidth cap.
    """
    kit = standin_package()
    kit.serve_forever("127.0.0.1", port, kit.options_from_env(os.environ))
