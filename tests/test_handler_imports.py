"""The handler package runs on its own in Lambda: stdlib + boto3/botocore + aws_lambda_powertools, relative
imports only, and nothing from the CLI side (typer, rich, yaml, moto, the rest of txnalert_cli)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import txnalert_cli.handler

HANDLER_DIR = Path(txnalert_cli.handler.__file__).parent
REPO_ROOT = HANDLER_DIR.parent.parent
ALLOWED_THIRD_PARTY = {"boto3", "botocore", "aws_lambda_powertools"}
HANDLER_MODULES = sorted(HANDLER_DIR.glob("*.py"))

# Installed first by the subprocess: any import of a CLI-side module raises ImportError.
BLOCKER = r"""
import importlib.abc
import sys

BLOCKED_TOP = {"typer", "click", "rich", "yaml", "moto", "pydantic"}
ALLOWED_TXNALERT = {"txnalert_cli", "txnalert_cli.handler"}


class Blocker(importlib.abc.MetaPathFinder):
    def __init__(self, block_txnalert):
        self.block_txnalert = block_txnalert

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in BLOCKED_TOP:
            raise ImportError(f"blocked import: {name}")
        if top == "txnalert_cli":
            inside_handler = name in ALLOWED_TXNALERT or name.startswith("txnalert_cli.handler.")
            if self.block_txnalert or not inside_handler:
                raise ImportError(f"blocked import: {name}")
        return None


sys.meta_path.insert(0, Blocker(BLOCK_TXNALERT))
"""

# Runs with the blocker in place; PACKAGE is the handler package's import name.
EXERCISE = r"""
import io
import json

app = importlib.import_module(PACKAGE + ".app")
contract = importlib.import_module(PACKAGE + ".contract")
render = importlib.import_module(PACKAGE + ".render")
cheap = "boto3" not in sys.modules and "aws_lambda_powertools" not in sys.modules

VALID = json.dumps({
    "schema_version": 1, "transaction_id": "txn-1", "account_id": "1234567890", "type": "deposit",
    "amount": "150.00", "currency": "USD", "email": "customer@example.com", "occurred_at": "2026-11-22T10:00:00Z",
})


def record(message_id, body, arn, group=None):
    attributes = {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183",
                  "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1545082649185"}
    if group:
        attributes.update(MessageGroupId=group, MessageDeduplicationId=message_id, SequenceNumber="1")
    return {"messageId": message_id, "receiptHandle": "AQEB", "body": body, "attributes": attributes,
            "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs", "eventSourceARN": arn,
            "awsRegion": "us-east-1"}


import boto3
from botocore.config import Config

# Nothing below reaches AWS: every record is invalid, so no client call is made.
config = Config(retries={"total_max_attempts": 1}, connect_timeout=1)
dead = "http://127.0.0.1:9"
settings = app.Settings.from_env({"TXNALERT_SENDER": "alerts@example.com", "TXNALERT_IDEMPOTENCY_TABLE": "t"})
log = io.StringIO()
handler = app.AlertHandler(
    settings,
    sesv2_client=boto3.client("sesv2", endpoint_url=dead, region_name="us-east-1", config=config),
    dynamodb_client=boto3.client("dynamodb", endpoint_url=dead, region_name="us-east-1", config=config),
    log_stream=log,
)
standard = {"Records": [record("s1", "not json", "arn:aws:sqs:us-east-1:123456789012:q")]}
fifo_arn = "arn:aws:sqs:us-east-1:123456789012:q.fifo"
fifo = {"Records": [record("f1", "{}", fifo_arn, "g"), record("f2", VALID, fifo_arn, "g")]}

os.environ.update(TXNALERT_SENDER="alerts@example.com", TXNALERT_IDEMPOTENCY_TABLE="t",
                  AWS_ENDPOINT_URL=dead, POWERTOOLS_SERVICE_NAME="txnalert-import-test")
txn = contract.parse_body(VALID)
try:
    import yaml  # noqa: F401
    blocker_works = False
except ImportError:
    blocker_works = True
print(json.dumps({
    "blocker_works": blocker_works,
    "cheap_import": cheap,
    "standard": handler(standard, app.LocalContext()),
    "fifo": handler(fifo, None),
    "lambda_handler": app.lambda_handler(standard, None),
    "key": app.idempotency_key("txn-1"),
    "attributes": contract.message_attributes(txn),
    "mime": render.render_email(txn, settings.subject, settings.sender).mime.decode("ascii")[:200],
    "log": log.getvalue(),
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED_TOP or m.startswith("txnalert")),
}))
"""


def run_isolated(package: str, *, block_txnalert: bool, extra_path: str | None = None) -> dict:
    code = "\n".join(
        [
            "import importlib, os, sys",
            f"BLOCK_TXNALERT = {block_txnalert!r}",
            f"PACKAGE = {package!r}",
            f"sys.path.insert(0, {extra_path!r})" if extra_path else "",
            BLOCKER,
            EXERCISE,
        ]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TXNALERT_", "POWERTOOLS_"))}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=str(REPO_ROOT)
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_result(result: dict, txnalert_modules: set[str]) -> None:
    assert result["blocker_works"] is True
    assert result["cheap_import"] is True, "importing app must not import boto3/powertools"
    assert result["standard"] == {"batchItemFailures": [{"itemIdentifier": "s1"}]}
    assert result["fifo"] == {"batchItemFailures": [{"itemIdentifier": "f1"}, {"itemIdentifier": "f2"}]}
    assert result["lambda_handler"] == {"batchItemFailures": [{"itemIdentifier": "s1"}]}
    assert result["key"].startswith("txnalert.send_alert#")
    assert result["attributes"]["event_type"] == {"DataType": "String", "StringValue": "deposit"}
    assert "To: customer@example.com" in result["mime"]
    assert '"invalid transaction"' in result["log"]
    assert set(result["modules"]) == txnalert_modules  # and no typer/rich/yaml/moto/...


def test_handler_imports_only_stdlib_boto3_and_powertools_relatively():
    for path in HANDLER_MODULES:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                continue  # relative: stays inside the package
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                allowed = top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "__future__"
                assert allowed, f"{path.name} imports {name}"


@pytest.mark.parametrize("module", ["contract", "render"])
def test_contract_and_render_are_standard_library_only(module: str):
    tree = ast.parse((HANDLER_DIR / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(alias.name.split(".")[0] in sys.stdlib_module_names for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            assert (node.module or "").split(".")[0] in sys.stdlib_module_names | {"__future__"}


def test_handler_runs_with_cli_dependencies_blocked():
    result = run_isolated("txnalert_cli.handler", block_txnalert=False)
    check_result(
        result,
        {
            "txnalert_cli",
            "txnalert_cli.handler",
            *(f"txnalert_cli.handler.{p.stem}" for p in HANDLER_MODULES if p.stem != "__init__"),
        },
    )


def test_handler_runs_from_a_zip_as_a_standalone_package(tmp_path: Path):
    """As in the Lambda zip: the package alone, under another name, txnalert_cli itself unimportable."""
    archive = tmp_path / "function.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in HANDLER_MODULES:
            zf.write(path, f"handler/{path.name}")
    result = run_isolated("handler", block_txnalert=True, extra_path=str(archive))
    check_result(result, set())
