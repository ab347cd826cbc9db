"""`icefloe jobs [JOB_ID] [--output FILE]`: the vault's or bucket's jobs, and a finished one's output.

It replaces the script of the original routine that read a job's output by id.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer

from icefloe.cli.app import app, info, open_catalog, open_store, print_json, progress_bar
from icefloe.cli.helptext import INSPECT
from icefloe.cli.render import Column, echo_rows, when
from icefloe.errors import UsageError
from icefloe.units import size

JOB_COLUMNS = (Column("job"), Column("kind"), Column("status"), Column("created"), Column("target", optional=True))


@app.command(rich_help_panel=INSPECT)
def jobs(
    job_id: Optional[str] = typer.Argument(None, help="A job to describe (or fetch with --output)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Write the finished job's output to this file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List jobs (in-progress ones too), describe one, or fetch a finished job's output."""
    if output is not None and job_id is None:
        raise UsageError("--output needs a JOB_ID (see `icefloe jobs`)")
    with open_catalog() as catalog:
        store = open_store(catalog)
        if job_id is None:
            found = store.list_jobs()
            if as_json:
                print_json([asdict(j) for j in found])
            elif not found:
                info("no jobs")
            else:
                echo_rows([[j.job_id, j.kind, j.status, when(j.created), j.target] for j in found], JOB_COLUMNS)
            return
        if output is None:
            job = store.describe_job(job_id)
            if as_json:
                print_json(asdict(job))
            else:
                echo_rows([[job.job_id, job.kind, job.status, when(job.created), job.target]], JOB_COLUMNS)
            return
        with progress_bar(output.name) as bar:
            fetched = store.fetch_job_output(job_id, output, progress=bar)
    if as_json:
        print_json(asdict(fetched))
        return
    typer.echo(fetched.path)
    info(size(fetched.size) + (f", checked against {fetched.verified}" if fetched.verified else ""))
