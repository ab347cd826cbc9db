"""The lifecycle test: a season of household use converges, whatever happens in between.

Seeded by ``ICEFLOE_SEASON_SEEDS`` (comma-separated, default ``1``) and ``ICEFLOE_SEASON_DAYS``
(default 5; 3 under ``CI=true``). A longer season by hand:

    ICEFLOE_SEASON_DAYS=40 ICEFLOE_SEASON_SEEDS=1,2,3 .venv/bin/pytest -q tests/lifecycle

Each archive attempt may be killed (SIGKILL of its process group, a power cut) or interrupted
(SIGINT, Ctrl-C) while it consolidates, writes disc images, uploads or completes an upload; the
others run with 7% of the stand-in's requests failing. The season log is printed on failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from season import SEASON_DAYS, Season

SEEDS = [int(s) for s in os.environ.get("ICEFLOE_SEASON_SEEDS", "1").split(",") if s.strip()]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("backend", ["s3", "glacier"])
def test_a_season_converges(prefect_harness, standin, tmp_path: Path, backend: str, seed: int) -> None:
    from prefect.settings import PREFECT_API_URL

    season = Season.create(tmp_path, backend, standin, PREFECT_API_URL.value(), seed)
    try:
        for day in range(SEASON_DAYS):
            season.day(day)
            live = season.live_sets()
            assert all(len(names) <= 1 for names in live.values()), f"day {day}: {live}"
        season.drain()
        assert season.retry_outcomes == (True, True), "the failed run and its Retry: " + str(season.log[:2])
        problems = season.photo_problems() + season.remote_problems() + season.work_problems()
        assert not problems, "\n".join(problems)
        live = season.live_sets()
        assert not any(live.values()), f"sets still waiting after the drain: {live}"
        assert season.photos, "the season added no photos"
    finally:  # shown when the test fails (or with -s)
        print("\n".join(f"day {o.day}: {o.label} {o.how} -> {o.code} {o.detail}" for o in season.log))
