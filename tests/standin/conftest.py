"""One stand-in for all stand-in tests, reached over real HTTP on 127.0.0.1.

Tests share the server, so each uses its own vault or bucket name, and a test that tunes
options does so through ``tune``, which puts the defaults back afterwards. The server is
the suite-wide ``standin_server`` from tests/conftest.py when there is one.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from icefloe_standin import Standin, StandinOptions

CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="session")
def standin(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Standin]:
    try:
        shared = request.getfixturevalue("standin_server")
    except pytest.FixtureLookupError:
        shared = None
    if shared is not None:
        yield shared
        return
    options = StandinOptions(storage_dir=tmp_path_factory.mktemp("standin"))
    with Standin(port=0, options=options) as server:
        yield server


@pytest.fixture(scope="session")
def glacier(standin: Standin) -> Any:
    """A plain boto3 glacier client that does not retry, so every error surfaces."""
    return boto3.client("glacier", endpoint_url=standin.url, config=NO_RETRIES, **CREDENTIALS)


@pytest.fixture(scope="session")
def s3(standin: Standin) -> Any:
    return boto3.client("s3", endpoint_url=standin.url, config=NO_RETRIES, **CREDENTIALS)


@pytest.fixture(scope="session")
def make_client(standin: Standin) -> Callable[..., Any]:
    """``make_client("glacier", retries={...})``: a client with its own botocore Config."""

    def make(service: str, **config: Any) -> Any:
        return boto3.client(
            service, endpoint_url=standin.url, config=Config(**config), **CREDENTIALS
        )

    return make


@pytest.fixture
def tune(standin: Standin) -> Iterator[Callable[..., StandinOptions]]:
    """Change options for one test; the defaults come back afterwards."""
    defaults = {
        f.name: getattr(StandinOptions(), f.name)
        for f in dataclasses.fields(StandinOptions)
        if f.name != "storage_dir"
    }
    yield standin.set_options
    standin.set_options(**defaults)


@pytest.fixture
def vault(glacier: Any) -> str:
    name = f"v-{uuid.uuid4().hex[:12]}"
    glacier.create_vault(vaultName=name)
    return name


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def admin(standin: Standin, what: str, payload: Any = None) -> tuple[int, Any]:
    """Call the admin endpoint; ``(status, decoded JSON)``."""
    data = None if payload is None else json.dumps(payload).encode()
    method = "GET" if payload is None and what in ("counters", "options", "health") else "POST"
    request = urllib.request.Request(f"{standin.url}/_standin/{what}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def admin_call(standin: Standin) -> Callable[..., tuple[int, Any]]:
    return lambda what, payload=None: admin(standin, what, payload)
