"""`icefloe demo`, the README's main-job command, runs the whole routine end to end."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import icefloe


def test_demo_runs_the_whole_routine(tmp_path: Path) -> None:
    # As a person runs it: no Prefect settings of ours, so icefloe's own defaults apply.
    ours = ("PREFECT_API", "PREFECT_SERVER_", "PREFECT_LOGGING", "AWS_ENDPOINT")
    demo_dir = tmp_path / "demo"
    proc = icefloe("demo", "--dir", str(demo_dir), "--size-mib", "6", cwd=tmp_path, drop=ours, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4/4 clear photos-a" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "telemetry" not in proc.stderr.lower()
    # The partition holds no file but its sentinel now (folders that were empty may stay).
    part = demo_dir / "partitions" / "photos-a"
    left = [p.relative_to(part).as_posix() for p in part.rglob("*") if not p.is_dir()]
    assert left == [".icefloe-partition"]
    # The offsite mirror, the burned disc and the catalog tell where the photos went.
    assert any((demo_dir / "offsite-mirror" / "photos-a" / "photos").rglob("*.jpg"))
    assert (demo_dir / "burned-disc.img").stat().st_size > 0
    out = icefloe("-c", str(demo_dir / "icefloe.toml"), "catalog", "--format", "json", cwd=tmp_path, drop=ours,
                  timeout=120)
    rows = json.loads(out.stdout)
    assert rows and all(r["copies"] for r in rows)
    assert all(r["checks"] == {"testzip": True, "server_checksum": True, "inventory_seen": True} for r in rows)

