"""`icefloe status`: the partitions, their fill levels and what still guards them.

It calls the library directly (fast, and usable without a Prefect server).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import typer

from icefloe.catalog import Catalog
from icefloe.clear import Gate, check_gates
from icefloe.cli.app import app, open_catalog, print_json, settings
from icefloe.cli.clear import gate_dict
from icefloe.cli.helptext import INSPECT
from icefloe.cli.render import Column, echo_rows, echo_wrapped, joined, short_set, when
from icefloe.cli.nextruns import next_runs
from icefloe.config import Settings
from icefloe.passwords import describe
from icefloe.partitions import PartitionStatus, active_partition, status
from icefloe.units import size

STATUS_VERSION = 1  # the shape of `icefloe status --json`; bump on incompatible change


def _open_gates(catalog: Catalog, cfg: Settings, row: PartitionStatus) -> list[Gate]:
    if not row.pending_sets:
        return []
    gates = check_gates(catalog, row.label, burner_configured=cfg.archive.burner != "none",
                        disc_configured=cfg.archive.disc != "none")
    return [g for g in gates if not g.ok]


def _status_data(catalog: Catalog, cfg: Settings) -> dict[str, Any]:
    from icefloe.disc.check import discs_due

    rows = status(catalog, cfg)
    partitions = []
    for row in rows:
        run = catalog.last_mirror_run(row.label)
        partitions.append({
            **asdict(row), "pending_sets": list(row.pending_sets),
            "open_gates": [gate_dict(g) for g in _open_gates(catalog, cfg, row)],
            "last_mirror_run": asdict(run) if run else None,
        })
    return {
        "version": STATUS_VERSION,
        "active": active_partition(catalog, cfg),
        "fill_threshold": cfg.pipeline.fill_threshold,
        "encryption": {"encrypt": cfg.archive.encrypt, "detail": describe(cfg.archive)},
        "partitions": partitions,
        "pending_jobs": [asdict(j) for j in catalog.jobs(pending=True)],
        "open_uploads": [asdict(u) for u in catalog.uploads("open")],
        "service_uploads": _service_uploads(cfg, catalog),
        "server": next_runs(),
        "discs_due": discs_due(catalog),
        "storage_cost": _storage_cost(catalog, cfg),
    }


def _storage_cost(catalog: Catalog, cfg: Settings) -> dict[str, Any]:
    from icefloe.cost import PRICES_TAKEN, monthly_total, storage_costs

    costs = storage_costs(catalog, cfg.coldstore.storage_class, cfg.cost.prices)
    return {"prices_taken": PRICES_TAKEN, "overridden": sorted(cfg.cost.prices),
            "classes": [c.to_json() for c in costs], "usd_per_month": round(monthly_total(costs), 6)}


SERVICE_DEADLINE_S = 5.0  # status answers even when the cold store does not


def _service_uploads(cfg: Settings, catalog: Catalog) -> dict[str, Any]:
    """Every multipart upload the service holds open (ours or not), or why it is not known.

    Asked in a daemon thread with a deadline, so an unreachable service costs seconds, not
    minutes, and never keeps the command from ending.
    """
    import queue
    import threading

    from icefloe.coldstore import open_coldstore

    answer: queue.Queue = queue.Queue(maxsize=1)

    def ask() -> None:
        try:
            answer.put(("ok", open_coldstore(cfg.coldstore, catalog).list_uploads()))
        except Exception as exc:  # noqa: BLE001 - reported as the reason, status goes on
            answer.put(("error", getattr(exc, "message", None) or str(exc) or type(exc).__name__))

    threading.Thread(target=ask, daemon=True, name="status-uploads").start()
    try:
        kind, value = answer.get(timeout=SERVICE_DEADLINE_S)
    except queue.Empty:
        kind, value = "error", f"no answer within {SERVICE_DEADLINE_S:.0f} s"
    if kind == "error":
        return {"ok": False, "detail": value, "uploads": []}
    return {"ok": True, "detail": "", "uploads": [{**asdict(u), "ours": u.local_path is not None} for u in value]}


PARTITION_COLUMNS = (Column("partition"), Column("path"), Column("fill", right=True), Column("pending sets"),
                     Column("open gates", right=True), Column("last mirror"))
GATE_COLUMNS = (Column("subject"), Column("gate"), Column("partition", optional=True), Column("why"))
PENDING_JOB_COLUMNS = (Column("job"), Column("kind"), Column("backend", optional=True), Column("container"),
                       Column("status"), Column("requested"))
OPEN_UPLOAD_COLUMNS = (Column("file"), Column("size", right=True), Column("started"), Column("upload"))
DEPLOYMENT_COLUMNS = (Column("deployment"), Column("schedule"), Column("next run"))


def _partition_row(p: dict[str, Any], threshold: float) -> list[str]:
    if not p["mounted"]:
        fill = "not mounted"
    else:
        fill = f"{p['fill'] * 100:.1f}%" + (f" (full at {threshold * 100:.0f}%)" if p["full"] else "")
    run = p["last_mirror_run"]
    mirror = "never" if run is None else f"{when(run['finished_at'])} {'ok' if run['ok'] else 'FAILED'}"
    return [p["label"] + (" (active)" if p["active"] else ""), p["path"], fill,
            joined(short_set(name, p["label"]) for name in p["pending_sets"]),
            str(len(p["open_gates"])) if p["pending_sets"] else "-", mirror]


def _print_status(data: dict[str, Any]) -> None:
    threshold = data["fill_threshold"]
    echo_rows([_partition_row(p, threshold) for p in data["partitions"]], PARTITION_COLUMNS)
    echo_wrapped(f"active partition: {data['active']}; new archives: {data['encryption']['detail']}")
    for p in data["partitions"]:
        if p["hint"]:
            echo_wrapped(f"{p['label']} is not mounted: {p['hint']}")
    gates = [(p["label"], g) for p in data["partitions"] for g in p["open_gates"]]
    if gates:
        typer.echo("")
        echo_rows([[g["subject"], g["kind"], label, g["detail"]] for label, g in gates], GATE_COLUMNS,
                  title="gates still open (a clear waits for these):")
    typer.echo("")
    if data["pending_jobs"]:
        echo_rows([[j["job_id"], j["kind"], j["backend"], j["container"], j["status"], when(j["requested_at"])]
                   for j in data["pending_jobs"]], PENDING_JOB_COLUMNS, title="pending jobs:")
    else:
        typer.echo("pending jobs: none")
    if data["open_uploads"]:
        echo_rows([[u["local_path"], size(u["size"]), when(u["started_at"]), u["upload_id"]]
                   for u in data["open_uploads"]], OPEN_UPLOAD_COLUMNS,
                  title="open uploads (resume with the same command, or `icefloe uploads abort`):")
    else:
        typer.echo("open uploads: none")
    remote = data["service_uploads"]
    if not remote["ok"]:
        echo_wrapped(f"open uploads on the service: not known ({remote['detail']})")
    else:
        foreign = sum(not u["ours"] for u in remote["uploads"])
        echo_wrapped(f"open uploads on the service: {len(remote['uploads']) or 'none'}"
                     + (f" ({foreign} not started by icefloe: `icefloe uploads list`)" if foreign else ""))
    due = data.get("discs_due") or []
    if due:
        echo_wrapped(f"discs not checked for over a year: {len(due)} (`icefloe discs check DISC...`): "
                     + ", ".join(d["disc"] for d in due))
    typer.echo("")
    _print_storage_cost(data["storage_cost"])
    typer.echo("")
    _print_next_runs(data["server"])


def _print_storage_cost(cost: dict[str, Any]) -> None:
    if not cost["classes"]:
        typer.echo("stored in cold storage: nothing yet")
        return
    typer.echo(f"{'storage class':<14} {'objects':>7} {'stored':>10} {'$/GB-month':>10} {'$/month':>9}")
    for c in cost["classes"]:
        typer.echo(f"{c['storage_class']:<14} {c['objects']:>7} {size(c['stored_bytes']):>10} "
                   f"{c['usd_per_gb_month']:>10g} {c['usd_per_month']:>9.4f}")
    typer.echo(f"{'total':<14} {'':>7} {'':>10} {'':>10} {cost['usd_per_month']:>9.4f}")
    echo_wrapped(f"(USD: AWS us-east-1 list prices of {cost['prices_taken']}"
                 + (f"; {', '.join(cost['overridden'])} from [cost] prices" if cost["overridden"] else "") + ")")


def _print_next_runs(server: dict[str, Any]) -> None:
    if not server["reachable"]:
        echo_wrapped(server["detail"])
        return
    rows = [[d["name"], joined(d["schedules"]),
             when(d["next_run"]) if d["next_run"] else
             "paused" if d["paused"] else "manual" if not d["schedules"] else "none scheduled"]
            for d in server["deployments"]]
    echo_rows(rows, DEPLOYMENT_COLUMNS, title=f"deployments on {server['url']}:")


@app.command("status", rich_help_panel=INSPECT)
def status_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON (for scripts)."),
) -> None:
    """Partitions and fill levels, the active partition, open gates, pending jobs and uploads."""
    cfg = settings()
    with open_catalog() as catalog:
        data = _status_data(catalog, cfg)
    if as_json:
        print_json(data)
    else:
        _print_status(data)
