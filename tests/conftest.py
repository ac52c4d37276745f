"""Shared fixtures: one moto server (txnalert's emulator, fixes applied) on a free loopback port."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Iterator

import pytest

# No real credentials, profiles or endpoints leak into the tests.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
for _var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "TXNALERT_CONFIG"):
    os.environ.pop(_var, None)
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per moto request in failure reports


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The emulator as moto's ThreadedMotoServer on a free port; yields its URL."""
    from txnalert_cli.local.emulator import start_in_thread

    emulator = start_in_thread(port=0)
    try:
        yield emulator.url
    finally:
        emulator.stop()


@pytest.fixture
def endpoint(moto_server: str) -> str:
    """A clean moto server for one test: every backend reset first."""
    req = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    return moto_server


def moto_data(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=10) as resp:
        return json.loads(resp.read())


def untargeted(data: dict) -> dict:
    """A JSON result of a command that names its target (tests/test_target.py checks it), without it."""
    target = data.pop("target")
    assert set(target) == {"account", "region", "endpoint", "config"}, target
    return data


def after_target(stderr: str) -> str:
    """stderr after the target header that such a command prints first."""
    first, _, rest = stderr.partition("\n")
    assert first.startswith("target: account "), stderr
    return rest
