"""Serve icefloe's deployments from this machine, without a work pool or a worker.

    python deployments/serve.py                    # every deployment of prefect.yaml
    python deployments/serve.py --config icefloe.toml --only clear-partition
    python deployments/serve.py --config icefloe.toml --deploy icefloe   # for process workers

It reads prefect.yaml and serves exactly its deployments (names, entrypoints, schedules,
parameters, tags, concurrency limits), so the two never drift; a test checks it. With
``--config``, the crons and timezone come from that icefloe.toml (``mirror.cron``,
``pipeline.inventory_cron``, ``pipeline.cleanup_cron``, ``notify.watch_cron``,
``notify.disc_check_cron``, ``notify.summary_cron``, ``pipeline.timezone``) instead of the
defaults written in prefect.yaml, and the flow runs use that file. Flow runs execute in
subprocesses of this one; stop it with Ctrl-C. Open http://127.0.0.1:4200 to trigger runs and
watch them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "prefect.yaml"

if str(ROOT) not in sys.path:  # `python deployments/serve.py` puts only deployments/ on the path
    sys.path.insert(0, str(ROOT))

from icefloe.config import Settings  # noqa: E402  (needs ROOT on the path)
from icefloe.errors import ConfigInvalid  # noqa: E402

# Which icefloe.toml key holds each scheduled deployment's cron.
CONFIGURED_CRON: dict[str, Callable[[Settings], str]] = {
    "nightly-mirror": lambda s: s.mirror.cron,
    "inventory-poll": lambda s: s.pipeline.inventory_cron,
    "stale-upload-cleanup": lambda s: s.pipeline.cleanup_cron,
    "watch-partitions": lambda s: s.notify.watch_cron,
    "yearly-disc-check": lambda s: s.notify.disc_check_cron,
    "weekly-summary": lambda s: s.notify.summary_cron,
}


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str = "UTC"
    active: bool = True


@dataclass(frozen=True)
class DeploymentSpec:
    """One entry of prefect.yaml's ``deployments``, as far as serving needs it."""

    name: str
    entrypoint: str  # "flows/clear.py:clear_partition_flow", relative to the project root
    schedules: tuple[Schedule, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    concurrency_limit: int | None = None
    description: str | None = None  # normally absent: the flow's docstring is the description

    @property
    def module(self) -> str:
        """``flows/clear.py:clear_partition_flow`` -> ``flows.clear``."""
        path = self.entrypoint.split(":", 1)[0]
        return path.removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.split(":", 1)[1]


def read_specs(path: Path = PREFECT_YAML) -> list[DeploymentSpec]:
    """The deployments of a prefect.yaml, checked for the keys this project relies on."""
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigInvalid(f"cannot read {path}: {exc}") from None
    specs = []
    for i, item in enumerate((doc or {}).get("deployments") or []):
        name, entrypoint = item.get("name"), item.get("entrypoint")
        if not name or not entrypoint or ":" not in entrypoint:
            raise ConfigInvalid(f"{path}: deployment #{i + 1} needs a name and an entrypoint file.py:flow")
        specs.append(DeploymentSpec(
            name=name,
            entrypoint=entrypoint,
            schedules=tuple(
                Schedule(s["cron"], s.get("timezone") or "UTC", s.get("active", True))
                for s in item.get("schedules") or []
            ),
            parameters=dict(item.get("parameters") or {}),
            tags=tuple(item.get("tags") or ()),
            concurrency_limit=item.get("concurrency_limit"),
            description=item.get("description"),
        ))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigInvalid(f"{path}: deployment names repeat: {names}")
    return specs


def configured(specs: Sequence[DeploymentSpec], settings: Settings) -> list[DeploymentSpec]:
    """The specs with the crons and timezone of an icefloe.toml."""
    out = []
    for spec in specs:
        pick = CONFIGURED_CRON.get(spec.name)
        if spec.schedules:
            cron = pick(settings) if pick else None
            schedules = tuple(
                Schedule(cron or s.cron, settings.pipeline.timezone, s.active) for s in spec.schedules
            )
            spec = DeploymentSpec(spec.name, spec.entrypoint, schedules, spec.parameters, spec.tags,
                                  spec.concurrency_limit, spec.description)
        out.append(spec)
    return out


def load_flow(spec: DeploymentSpec) -> Any:
    """Import the entrypoint's flow (by module name, so it is the same object everywhere)."""
    from prefect import Flow

    module = importlib.import_module(spec.module)
    flow = getattr(module, spec.function, None)
    if not isinstance(flow, Flow):
        raise ConfigInvalid(f"{spec.entrypoint} (deployment {spec.name}) is not a Prefect flow")
    return flow


def to_deployments(specs: Sequence[DeploymentSpec], source: Path | None = None) -> list[Any]:
    """RunnerDeployments for ``prefect.serve``: no work pool, flows run by this process.

    With ``source`` (this checkout), each deployment records it as a pull step, so a process
    worker runs the flow from there.
    """
    from prefect import Flow
    from prefect.schedules import Cron

    deployments = []
    for spec in specs:
        flow = load_flow(spec)
        if source is not None:
            flow = Flow.from_source(str(source), spec.entrypoint)
        deployments.append(flow.to_deployment(
            name=spec.name,
            schedules=[Cron(s.cron, timezone=s.timezone, active=s.active) for s in spec.schedules] or None,
            parameters=spec.parameters,
            tags=list(spec.tags),
            concurrency_limit=spec.concurrency_limit,
            description=spec.description,  # None: the flow's own description
        ))
    return deployments


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve icefloe's deployments (prefect.yaml) without a work pool.")
    parser.add_argument("--config", type=Path, help="use this icefloe.toml, with its crons and timezone")
    parser.add_argument("--only", action="append", metavar="NAME", help="serve only this deployment (repeatable)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many flow runs at once")
    parser.add_argument("--deploy", metavar="POOL", help="instead of serving, create or update the deployments "
                        "in this process work pool (with the configured crons) for its workers, then exit")
    args = parser.parse_args(argv)
    try:
        specs = read_specs()
        if args.only:
            unknown = sorted(set(args.only) - {s.name for s in specs})
            if unknown:
                raise ConfigInvalid(f"no deployment named {', '.join(unknown)} in {PREFECT_YAML}")
            specs = [s for s in specs if s.name in args.only]
        if args.config is not None:
            from icefloe.config import load_settings

            specs = configured(specs, load_settings(args.config, os.environ))
            # Flow runs are subprocesses of this one: they find the same file.
            os.environ["ICEFLOE_CONFIG"] = str(args.config.resolve())
        # Entrypoints are recorded relative to the working folder: make them match prefect.yaml.
        os.chdir(ROOT)
        deployments = to_deployments(specs, ROOT if args.deploy else None)
    except ConfigInvalid as exc:
        print(f"serve: {exc.message}", file=sys.stderr)
        return 2
    if args.deploy:
        deploy_to_pool(deployments, args.deploy)
        return 0
    from prefect import serve

    serve(*deployments, limit=args.limit)
    return 0


def deploy_to_pool(deployments: Sequence[Any], pool: str) -> None:
    """The same deployments for a process work pool: its workers run them from this checkout.

    Unlike ``prefect deploy --all``, the schedules are those of icefloe.toml (``--config``).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except ObjectAlreadyExists:
            pass
    for deployment in deployments:
        deployment.apply(work_pool_name=pool)
        print(f"deployed {deployment.name} to work pool {pool}")


if __name__ == "__main__":
    sys.exit(main())
