"""What the flow tests share: a workspace configured for the whole pipeline against the stand-in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import create_container
from icefloe.sample import make_sample_partition


@pytest.fixture
def pipeline_config(workspace: Path, standin) -> Callable[..., Path]:
    """Make photos-a a sample partition, create the container, write the pipeline's config.

    Call it with the backend ("glacier" or "s3"), the vault or bucket name, the sample's size
    and the [coldstore] lines to add; returns the config file.
    """

    def make(backend: str, container: str, *, size_mib: int = 6, seed: int = 7, coldstore: str = "") -> Path:
        where = create_container(standin.url, backend, container)
        make_sample_partition(workspace / "photos-a", size_mib=size_mib, seed=seed)
        (workspace / "offsite").mkdir(exist_ok=True)
        config = workspace / "icefloe.toml"
        config.write_text(
            config.read_text().replace('[archive]\ndisc = "dvd+r"\n', "")
            + '[mirror]\ntarget = "offsite"\n'
            + '[archive]\ndisc = "dvd+r"\nburner = "none"\nencrypt = false\n'
            + f'[coldstore]\nbackend = "{backend}"\n{where}\n{coldstore}'
        )
        return config

    return make
