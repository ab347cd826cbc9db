"""The yearly check of the discs in the safe.

icefloe cannot open the safe, so the run asks for each disc in turn: it pauses, the
"icefloe: yearly disc check" automation tells the household, and someone puts the disc it
names in the drive and presses Resume (the form takes the drive, an image or a mounted
folder, or "skip" for a disc that is not at hand). Each disc is read end to end and its
recovery margin recorded, as `icefloe discs check` does. The run fails, and so is notified,
when a disc is damaged or the household did not answer within ``wait_hours``.
"""

from __future__ import annotations

import time

from prefect import flow, pause_flow_run
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput

from flows.stages import names_failed_stage
from icefloe.catalog import DiscCheck
from icefloe.disc.check import DiscsChecked, damage_verdict
from icefloe.errors import DeviceError, UsageError
from tasks.common import artifact_key, settings_for
from tasks.disccheck import check_disc_task, discs_due_task


class DiscInDrive(RunInput):
    """Put the disc named above in the drive, then confirm. Or give the path of its image or
    mounted folder; or tick skip when the disc is not at hand."""

    path: str
    skip: bool = False


@flow(name="check-discs", flow_run_name="yearly disc check", description=__doc__)
@names_failed_stage
def check_discs(
    config: str | None = None,
    drive: str | None = None,
    older_than_days: float = 365,
    wait_hours: float = 7 * 24,
) -> DiscsChecked:
    """Ask for each disc not checked for a year, read it, record its margin.

    Args:
        config: the icefloe.toml to use (default: $ICEFLOE_CONFIG, else ./icefloe.toml).
        drive: the drive the form suggests (default: archive.burner when it is a device, else
            /dev/sr0).
        older_than_days: a disc whose last check (or image) is older than this is due.
        wait_hours: how long the run waits for the household, for all discs together.
    """
    settings = settings_for(config)
    burner = settings.archive.burner
    drive = drive or (burner if burner.startswith("/dev/") else "/dev/sr0")
    due = discs_due_task(config, older_than_days)
    deadline = time.monotonic() + wait_hours * 3600
    checked: list[DiscCheck] = []
    skipped: list[str] = []
    for index, disc in enumerate(due, start=1):
        ask = (f"Yearly disc check, disc {index} of {len(due)}: take {disc.disc} (set "
               f"{disc.set_name}) out of the safe, put it in the drive, then confirm.")
        while True:
            answer = _ask(ask, drive, deadline, [d.disc for d in due[index - 1:]], wait_hours)
            if answer.skip:
                skipped.append(disc.disc)
                break
            try:
                result = check_disc_task(answer.path, config)
            except UsageError as exc:  # not a disc, no disc in the drive: ask again
                ask = f"{exc.message}. Disc {index} of {len(due)} is {disc.disc}: put it in, then confirm."
                continue
            checked.append(result)
            if result.disc == disc.disc:
                break
            ask = (f"That was {result.disc} (its check is recorded too). Disc {index} of "
                   f"{len(due)} is {disc.disc}: put it in, then confirm.")
    _report(checked, skipped)
    verdict = damage_verdict(checked)
    if verdict is not None:
        raise verdict
    return DiscsChecked(tuple(d.disc for d in due), tuple(c.disc for c in checked), tuple(skipped))


def _ask(ask: str, drive: str, deadline: float, left: list[str], wait_hours: float) -> DiscInDrive:
    late = DeviceError(f"the yearly disc check waited {wait_hours:g} h; not checked: {', '.join(left)}. "
                       "Run check-discs again when the discs are at hand")
    seconds = int(deadline - time.monotonic())
    if seconds <= 0:
        raise late
    try:
        return pause_flow_run(wait_for_input=DiscInDrive.with_initial_data(description=ask, path=drive),
                              timeout=seconds)
    except FlowPauseTimeout:
        raise late from None


def _report(checked: list[DiscCheck], skipped: list[str]) -> None:
    lines = ["| disc | result | margin (recovery blocks) |", "|---|---|---|"]
    lines += [f"| {c.disc} | {'ok' if c.ok else 'DAMAGED'}: {c.detail} | {c.margin_blocks} of "
              f"{c.recovery_blocks} |" for c in checked]
    lines += [f"| {d} | skipped: not checked | |" for d in skipped]
    create_markdown_artifact("\n".join(lines), key=artifact_key("yearly-disc-check"),
                             description="The discs read this year, and their recovery margin")
