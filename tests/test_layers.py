"""The layers of DESIGN.md: the library never imports Prefect and never reads the environment."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The CLI is the layer above flows; everything else in icefloe/ is the domain library.
LIBRARY = [p for p in (ROOT / "icefloe").rglob("*.py") if "cli" not in p.relative_to(ROOT / "icefloe").parts]


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_library_has_no_prefect_imports() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in LIBRARY if {"prefect", "flows", "tasks"} & imports(p)]
    assert LIBRARY and offenders == []


def test_library_does_not_read_the_environment() -> None:
    # config.py is the edge that loads settings; the stand-in's options_from_env takes a mapping.
    offenders = []
    for path in LIBRARY:
        if path.name == "config.py":
            continue
        text = path.read_text()
        if "os.environ" in text or "os.getenv" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_tasks_do_not_import_flows() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "tasks").rglob("*.py") if "flows" in imports(p)]
    assert offenders == []
