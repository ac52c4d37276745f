"""`setup` over the whole pipeline and `deploy`: the zip, the IAM role and policy, the function, the SQS trigger.

Against the moto server (tests/conftest.py), through the CLI where the user would go, read back with boto3."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse
from typer.testing import CliRunner

from tests.conftest import after_target, moto_data
from txnalert_cli import config as cfg
from txnalert_cli.aws import Aws, find_queue_url
from txnalert_cli.cli import app
from txnalert_cli.errors import ApplyError, ConfigError, ResourceConflict
from txnalert_cli.handler.app import Settings
from txnalert_cli.infra import plan as infra_plan
from txnalert_cli.infra.kinds.function import function_environment, handler_settings
from txnalert_cli.infra.kinds.trigger import ENABLED_STATES, TRANSITIONAL_STATES, concurrency_for_send_rate
from txnalert_cli.infra.package import HANDLER_ENTRY, RUNTIME_PROVIDED, build_package, handler_files
from txnalert_cli.infra.policy import normalize_policy

runner = CliRunner()
ACCOUNT = "123456789012"  # moto's
FUNCTION = "transaction-email-processor"
ROLE = f"{FUNCTION}-role"
TAGS = {"app": "txnalert", "managed-by": "txnalert"}


# --- helpers (also used by tests/test_teardown.py) ------------------------------------------------


def write_config(tmp_path: Path, endpoint: str, **sections: Any) -> str:
    data: dict[str, Any] = {"aws": {"endpoint_url": endpoint}, "queue": {"name": "txq"}}
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    path = tmp_path / "txnalert.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def cli(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def cli_json(*args: str, code: int = 0) -> Any:
    return json.loads(cli(*args, "--json", code=code).stdout)


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def queue_url(endpoint: str, name: str) -> str:
    return client(endpoint, "sqs").get_queue_url(QueueName=name)["QueueUrl"]


def queue_arn(endpoint: str, name: str) -> str:
    sqs = client(endpoint, "sqs")
    return sqs.get_queue_attributes(QueueUrl=queue_url(endpoint, name), AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def mappings(endpoint: str, function: str = FUNCTION) -> list[dict[str, Any]]:
    return client(endpoint, "lambda").list_event_source_mappings(FunctionName=function)["EventSourceMappings"]


def snapshot(endpoint: str) -> dict[str, Any]:
    """A full read-back of everything txnalert manages (and anything else of those kinds)."""
    sqs, ddb, sesv2 = client(endpoint, "sqs"), client(endpoint, "dynamodb"), client(endpoint, "sesv2")
    iam, lam = client(endpoint, "iam"), client(endpoint, "lambda")
    state: dict[str, Any] = {
        "queues": {},
        "tables": {},
        "identities": {},
        "configuration_sets": {},
        "roles": {},
        "functions": {},
    }
    for url in sqs.list_queues().get("QueueUrls", []):
        state["queues"][url] = {
            "attributes": sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"],
            "tags": sqs.list_queue_tags(QueueUrl=url).get("Tags", {}),
        }
    for name in ddb.list_tables()["TableNames"]:
        table = ddb.describe_table(TableName=name)["Table"]
        state["tables"][name] = {
            "table": {k: v for k, v in table.items() if k != "ItemCount"},
            "ttl": ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"],
            "tags": ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", []),
        }
    for identity in sesv2.list_email_identities()["EmailIdentities"]:
        name = identity["IdentityName"]
        found = sesv2.get_email_identity(EmailIdentity=name)
        state["identities"][name] = {k: v for k, v in found.items() if k != "ResponseMetadata"}
    for name in sesv2.list_configuration_sets()["ConfigurationSets"]:
        arn = f"arn:aws:ses:us-east-1:{ACCOUNT}:configuration-set/{name}"
        state["configuration_sets"][name] = sesv2.list_tags_for_resource(ResourceArn=arn)["Tags"]
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        policies = iam.list_role_policies(RoleName=name)["PolicyNames"]
        state["roles"][name] = {
            "role": role,
            "policies": {p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"] for p in policies},
            "attached": iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"],
            "tags": iam.list_role_tags(RoleName=name)["Tags"],
        }
    for function in lam.list_functions()["Functions"]:
        name = function["FunctionName"]
        state["functions"][name] = {
            "function": {k: v for k, v in lam.get_function(FunctionName=name).items() if k != "ResponseMetadata"},
            "mappings": lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"],
        }
    return state


def _intercept(aws_client: Any, operation: str, times: int | None, status: int, parsed: dict[str, Any]) -> list[int]:
    """Answer `operation` on this botocore client with `parsed` (HTTP `status`) the first `times` calls (None:
    always), through botocore's own before-call event (a response returned there replaces the HTTP call)."""
    calls: list[int] = []

    def hook(**kwargs: Any) -> Any:
        calls.append(1)
        if times is not None and len(calls) > times:
            return None
        http = AWSResponse("https://aws.invalid", status, {}, None)
        return http, {**parsed, "ResponseMetadata": {"HTTPStatusCode": status}}

    service = aws_client.meta.service_model.service_name
    aws_client.meta.events.register(f"before-call.{service}.{operation}", hook)
    return calls


def fail_first(aws_client: Any, operation: str, times: int | None, code: str, message: str) -> list[int]:
    """Make `operation` fail with an AWS error the first `times` calls (None: always)."""
    return _intercept(aws_client, operation, times, 400, {"Error": {"Code": code, "Message": message}})


def answer_first(aws_client: Any, operation: str, times: int | None, answer: dict[str, Any]) -> list[int]:
    """Make `operation` succeed with `answer` (the parsed response) the first `times` calls (None: always)."""
    return _intercept(aws_client, operation, times, 200, answer)


class Pipeline:
    """`setup` through the library, one Aws (and its clients) for the whole test and a prebuilt zip: the same
    plan and apply as the CLI's, without building the zip and the clients again at every step."""

    def __init__(self, endpoint: str, tmp_path: Path, package: Any) -> None:
        self.endpoint, self.tmp_path, self.package = endpoint, tmp_path, package
        self.aws: Any = None
        self.last: Any = None  # the last PlanResult

    def setup(self, *, dry_run: bool = False, **sections: Any) -> dict[str, Any]:
        config = cfg.load(write_config(self.tmp_path, self.endpoint, **sections))
        if self.aws is None:
            self.aws = Aws.from_config(config)
        vendored = config.lambda_.powertools_layer is None
        self.last = infra_plan.run(self.aws, config, dry_run=dry_run, package=self.package if vendored else None)
        return {**self.last.plan.as_dict(), "applied": self.last.applied, "dry_run": dry_run}


def changes(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["resource"], c["name"], c["action"]) for c in result["changes"]]


def pending(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [c for c in changes(result) if c[2] != "unchanged"]


# --- the zip --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def package() -> Any:
    return build_package(cfg.loads("queue: {name: txq}\n", "t.yaml"))


def test_zip_is_deterministic(package: Any) -> None:
    from txnalert_cli.infra import package as deploy

    deploy._ZIP_CACHE.clear()  # a real second build, not the in-process cache's copy
    again = build_package(cfg.loads("queue: {name: txq}\n", "t.yaml"))
    assert again.data is not package.data
    assert hashlib.sha256(again.data).hexdigest() == hashlib.sha256(package.data).hexdigest() == package.sha256
    infos = zipfile.ZipFile(io.BytesIO(package.data)).infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) and len(names) == len(set(names))
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert not any(i.is_dir() for i in infos)


def test_the_zip_cache_is_keyed_on_every_file() -> None:
    from txnalert_cli.infra.package import build_zip

    one = build_zip({"a.py": b"x = 1\n", "b.py": b"y = 2\n"})
    assert build_zip({"a.py": b"x = 1\n", "b.py": b"y = 2\n"}) is one  # same contents: the cached bytes
    for changed in ({"a.py": b"x = 1\n", "b.py": b"y = 3\n"}, {"a.py": b"x = 1\n", "c.py": b"y = 2\n"}):
        other = build_zip(changed)
        assert other != one
        assert sorted(zipfile.ZipFile(io.BytesIO(other)).namelist()) == sorted(changed)


def test_zip_contents(package: Any) -> None:
    names = zipfile.ZipFile(io.BytesIO(package.data)).namelist()
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    tops = {n.split("/")[0] for n in names}
    assert not tops & {"typer", "click", "rich", "yaml", "moto", "txnalert_cli", "boto3", "botocore", "jmespath"}
    handler = {n for n in names if n.startswith("txnalert_handler/")}
    assert handler == set(handler_files()) and "txnalert_handler/app.py" in handler
    assert "aws_lambda_powertools/py.typed" in names
    assert "aws_lambda_powertools/utilities/batch/__init__.py" in names
    assert "typing_extensions.py" in names  # a Powertools requirement the Lambda runtime does not have
    assert {v.split()[0] for v in package.vendored} == {"aws_lambda_powertools", "typing_extensions"}
    assert package.handler == HANDLER_ENTRY == "txnalert_handler.app.lambda_handler"
    assert package.size < 5_000_000


ISOLATED = r"""
import importlib.abc, importlib.machinery, json, os, sys

ZIP, SITE = sys.argv[1], sys.argv[2]
BLOCKED = {"typer", "click", "rich", "yaml", "moto", "txnalert_cli", "pydantic"}
FROM_ZIP_ONLY = {"txnalert_handler", "aws_lambda_powertools", "typing_extensions"}


class Isolate(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in BLOCKED:
            raise ImportError(f"blocked import: {name}")
        if top in FROM_ZIP_ONLY and path is None:
            spec = importlib.machinery.PathFinder.find_spec(name, [ZIP])
            if spec is None:
                raise ImportError(f"{name} is not in the zip")
            return spec
        return None


sys.meta_path.insert(0, Isolate())
sys.path[:0] = [ZIP]
sys.path.append(SITE)  # boto3 and botocore, as the Lambda runtime has them

from txnalert_handler.app import lambda_handler

record = {"messageId": "m1", "receiptHandle": "r", "body": "not json", "attributes": {}, "messageAttributes": {},
          "md5OfBody": "x", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:txq",
          "awsRegion": "us-east-1"}
result = lambda_handler({"Records": [record]}, None)
origins = {}
for name, module in list(sys.modules.items()):
    where = getattr(module, "__file__", None) or ""
    if where.startswith(SITE):
        origins.setdefault(name.split(".")[0], "site")
    elif where.startswith(ZIP):
        origins.setdefault(name.split(".")[0], "zip")
print(json.dumps({"result": result, "origins": origins}))
"""


def test_the_handler_runs_from_the_zip_alone(package: Any, tmp_path: Path) -> None:
    """Only the zip and the runtime's boto3: Powertools must come from the zip, nothing of the CLI is there."""
    import boto3 as boto3_module

    archive = tmp_path / "function.zip"
    archive.write_bytes(package.data)
    site = str(Path(boto3_module.__file__).parent.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TXNALERT_", "POWERTOOLS_"))}
    env.update(function_environment(cfg.loads("queue: {name: txq}\n", "t.yaml")))
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL="http://127.0.0.1:9")
    done = subprocess.run(
        [sys.executable, "-S", "-c", ISOLATED, str(archive), site],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["result"] == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    origins = out["origins"]
    assert origins["txnalert_handler"] == "zip" and origins["aws_lambda_powertools"] == "zip"
    assert origins.get("typing_extensions") == "zip"
    from_site = {name for name, where in origins.items() if where == "site"}
    # The AWS SDK as the runtime has it; botocore imports certifi when present (in a try/except).
    runtime_modules = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six", "certifi"}
    assert from_site <= runtime_modules, from_site - runtime_modules
    assert {"boto3", "botocore"} <= from_site
    assert {"boto3", "botocore", "jmespath"} <= RUNTIME_PROVIDED


IMPORT_IN_LAMBDA = r"""
import sys

sys.path[:0] = [sys.argv[1]]
import txnalert_handler.app as app  # Lambda's Init phase

print("imported", app._handler is not None)
"""


def test_inside_lambda_the_settings_are_checked_at_import(package: Any, tmp_path: Path) -> None:
    """A missing TXNALERT_SENDER fails Lambda's Init phase (the import), once, with a clear message."""
    archive = tmp_path / "function.zip"
    archive.write_bytes(package.data)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TXNALERT_", "POWERTOOLS_"))}
    env.update(function_environment(cfg.loads("queue: {name: txq}\n", "t.yaml")))
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_LAMBDA_FUNCTION_NAME="fn")

    def import_handler(environment: dict[str, str]) -> Any:
        return subprocess.run(
            [sys.executable, "-c", IMPORT_IN_LAMBDA, str(archive)],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment,
            cwd=str(tmp_path),
        )

    configured = import_handler(env)
    assert configured.returncode == 0, configured.stderr
    assert configured.stdout.strip() == "imported True"  # built in Init: no invocation pays for it
    missing = import_handler({k: v for k, v in env.items() if k != "TXNALERT_SENDER"})
    assert missing.returncode == 1 and missing.stdout == ""
    message = "missing environment variable(s) TXNALERT_SENDER"
    assert missing.stderr.count(message) == 1, missing.stderr
    assert missing.stderr.strip().splitlines()[-1] == (
        f"txnalert_handler.app.ConfigurationError: txnalert handler is not configured: {message}"
    )
    # Outside Lambda (no AWS_LAMBDA_FUNCTION_NAME), importing stays cheap and builds nothing.
    outside = import_handler({k: v for k, v in env.items() if k not in ("TXNALERT_SENDER", "AWS_LAMBDA_FUNCTION_NAME")})
    assert outside.returncode == 0 and outside.stdout.strip() == "imported False"


def test_a_powertools_layer_leaves_powertools_out() -> None:
    layer = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"
    config = cfg.loads(f"queue: {{name: txq}}\nlambda: {{powertools_layer: '{layer}'}}\n", "t.yaml")
    package = build_package(config)
    assert set(package.files) == set(handler_files())
    assert package.vendored == () and package.layers == (layer,)


def test_extra_files_change_the_code_hash(package: Any) -> None:
    config = cfg.loads("queue: {name: txq}\n", "t.yaml")
    other = build_package(config, extra_files={"txnalert_build.txt": b"build 2\n"})
    assert other.code_sha256 != package.code_sha256
    assert "txnalert_build.txt" in other.files
    with pytest.raises(Exception, match="already in the zip"):
        build_package(config, extra_files={"txnalert_handler/app.py": b""})


def test_zip_only_writes_the_zip(tmp_path: Path, package: Any) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")  # no AWS call is made
    target = tmp_path / "function.zip"
    result = cli("deploy", "-c", config, "--zip-only", str(target))
    data = target.read_bytes()
    assert result.stdout.strip() == f"wrote {target}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"
    assert data == package.data
    out = cli_json("deploy", "-c", config, "--zip-only", str(target))
    assert out == {"path": str(target), **package.as_dict()}
    assert out["code_sha256"] == package.code_sha256 and out["files"] == len(package.files)
    both = cli("deploy", "-c", config, "--zip-only", str(target), "--dry-run", code=2)
    assert both.stderr.strip() == "error: --zip-only and --dry-run: --zip-only makes no AWS call; drop --dry-run"
    bad = cli("deploy", "-c", config, "--zip-only", str(tmp_path), code=2)
    assert bad.stderr.startswith(f"error: --zip-only: {tmp_path} is a directory")
    bad = cli("deploy", "-c", config, "--zip-only", str(tmp_path / "nope" / "f.zip"), code=2)
    assert bad.stderr.strip() == f"error: --zip-only: directory {tmp_path / 'nope'} does not exist"


# --- config keys ----------------------------------------------------------------------------------


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        cfg.loads(text, "t.yaml")
    return info.value.problems


def test_lambda_defaults() -> None:
    lam = cfg.loads("queue: {name: q}\n", "t.yaml").lambda_
    assert (lam.runtime, lam.architecture, lam.role_name) == ("python3.12", "x86_64", f"{FUNCTION}-role")
    assert (lam.max_concurrency, lam.batch_window, lam.powertools_layer, lam.log_level) == ("auto", 0, None, "INFO")
    lam = cfg.loads(
        "queue: {name: q}\nlambda: {function_name: f1, log_level: debug, max_concurrency: 9}\n", "t"
    ).lambda_
    assert (lam.role_name, lam.log_level, lam.max_concurrency) == ("f1-role", "DEBUG", 9)


LAYER_EU = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"
BROKEN = [
    (
        "queue: {name: q}\nlambda: {runtime: python3.9}\n",
        ['t.yaml: lambda.runtime: must be one of python3.10, python3.11, python3.12, python3.13, got "python3.9"'],
    ),
    (
        "queue: {name: q}\nlambda: {architecture: amd64}\n",
        ['t.yaml: lambda.architecture: must be one of x86_64, arm64, got "amd64"'],
    ),
    (
        "queue: {name: q}\nlambda: {role_name: 'my role'}\n",
        ["t.yaml: lambda.role_name: must be 1-64 letters, digits or '+=,.@_-' (IAM role name rules), got \"my role\""],
    ),
    (
        "queue: {name: q}\nlambda: {function_name: " + "f" * 64 + "}\n",
        [
            't.yaml: lambda.role_name: the default "' + "f" * 64 + '-role" is longer than 64 characters '
            "(IAM's limit): set lambda.role_name"
        ],
    ),
    (
        "queue: {name: q}\nlambda: {max_concurrency: 1}\n",
        ['t.yaml: lambda.max_concurrency: must be "auto" or an integer between 2 and 1000, got 1'],
    ),
    (
        "queue: {name: q}\nlambda: {max_concurrency: many}\n",
        ['t.yaml: lambda.max_concurrency: must be "auto" or an integer between 2 and 1000, got "many"'],
    ),
    (
        "queue: {name: q}\nlambda: {batch_window: 301}\n",
        ["t.yaml: lambda.batch_window: must be between 0 and 300, got 301"],
    ),
    (
        "queue: {name: q, fifo: true}\nlambda: {batch_window: 5}\n",
        [
            "t.yaml: lambda.batch_window: must be 0 for a FIFO queue (Lambda has no batching window for FIFO "
            "queues), got 5"
        ],
    ),
    (
        "queue: {name: q}\nlambda: {batch_size: 100}\n",
        [
            "t.yaml: lambda.batch_size: above 10 needs lambda.batch_window >= 1 (AWS requires a batching window "
            "for batches of more than 10), got batch_size 100 with batch_window 0"
        ],
    ),
    (
        "queue: {name: q}\nlambda: {powertools_layer: 'arn:aws:lambda:us-east-1:1:layer:x'}\n",
        [
            "t.yaml: lambda.powertools_layer: must be null or a Lambda layer version ARN "
            '(arn:aws:lambda:<region>:<account>:layer:<name>:<version>), got "arn:aws:lambda:us-east-1:1:layer:x"'
        ],
    ),
    (
        f"queue: {{name: q}}\naws: {{region: us-east-1}}\nlambda: {{powertools_layer: '{LAYER_EU}'}}\n",
        [
            "t.yaml: lambda.powertools_layer: the layer is in eu-west-1 but the function is in us-east-1 "
            "(aws.region); Lambda only attaches layers from the function's region"
        ],
    ),
    (
        "queue: {name: q}\nlambda: {log_level: TRACE}\n",
        ['t.yaml: lambda.log_level: must be one of DEBUG, INFO, WARNING, ERROR, got "TRACE"'],
    ),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_broken_lambda_keys_give_exact_messages(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_a_big_batch_with_a_window_is_fine() -> None:
    lam = cfg.loads("queue: {name: q}\nlambda: {batch_size: 100, batch_window: 1}\n", "t.yaml").lambda_
    assert (lam.batch_size, lam.batch_window) == (100, 1)


def test_layer_in_another_region_than_region_override(tmp_path: Path) -> None:
    layer = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"
    config = write_config(tmp_path, "http://127.0.0.1:9", **{"lambda": {"powertools_layer": layer}})
    result = cli("deploy", "-c", config, "--region", "eu-west-1", "--dry-run", code=2)
    assert result.stderr.strip() == (
        f"error: {config}: lambda.powertools_layer: the layer is in us-east-1 but the function is in eu-west-1 "
        "(aws.region); Lambda only attaches layers from the function's region"
    )


def test_max_concurrency_formula() -> None:
    assert [concurrency_for_send_rate(r) for r in (0, 1, 14, 19.9, 20, 50, 200, 9_999, 10_000, 1e6)] == [
        2,
        2,
        2,
        2,
        2,
        5,
        20,
        999,
        1000,
        1000,
    ]


def test_environment_is_what_the_worker_runs_with() -> None:
    config = cfg.loads(
        "queue: {name: q, fifo: true}\nses: {configuration_set: cs1, subject: Hello}\nlambda: {log_level: warning}\n",
        "t.yaml",
    )
    env = function_environment(config)
    from_env = Settings.from_env(env)
    local = handler_settings(config)
    assert from_env.sender == local.sender and from_env.subject == local.subject == "Hello"
    assert from_env.idempotency_table == local.idempotency_table
    assert from_env.idempotency_ttl_seconds == local.idempotency_ttl_seconds == 86400
    assert from_env.configuration_set == local.configuration_set == "cs1"
    assert from_env.fifo is True and from_env.log_level == "WARNING" and from_env.service == FUNCTION
    assert from_env.start_margin_ms == local.start_margin_ms == 3000


def test_policy_comparison_is_semantic() -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["sqs:B", "sqs:A"], "Resource": "arn:x"},
            {"Effect": "Allow", "Action": "logs:A", "Resource": ["arn:z", "arn:y"]},
        ],
    }
    reordered = {
        "Statement": [
            {"Resource": ["arn:y", "arn:z"], "Action": ["logs:A"], "Effect": "Allow"},
            {"Effect": "Allow", "Action": ["sqs:A", "sqs:B"], "Resource": ["arn:x"]},
        ],
        "Version": "2012-10-17",
    }
    from urllib.parse import quote

    assert normalize_policy(doc) == normalize_policy(reordered) == normalize_policy(quote(json.dumps(reordered)))
    assert normalize_policy(doc) != normalize_policy({**doc, "Statement": doc["Statement"][:1]})


# --- setup over the whole pipeline -----------------------------------------------------------------


def expected_statements(region: str = "us-east-1", ses: tuple[str, ...] = ("identity/alerts@example.com",)) -> Any:
    """The role's statements: the three SQS actions of AWSLambdaSQSQueueExecutionRole, SES on the sender's
    identity (and the configuration set) only, the table, the function's own logs."""
    logs = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/lambda/{FUNCTION}"
    return {
        (
            "ConsumeQueue",
            ("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"),
            (f"arn:aws:sqs:{region}:{ACCOUNT}:txq",),
        ),
        (
            "SendEmail",
            ("ses:SendEmail", "ses:SendRawEmail"),
            tuple(sorted(f"arn:aws:ses:{region}:{ACCOUNT}:{resource}" for resource in ses)),
        ),
        (
            "IdempotencyTable",
            ("dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
            (f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/txnalert-idempotency",),
        ),
        ("CreateLogGroup", ("logs:CreateLogGroup",), (logs, f"{logs}:*")),
        ("WriteLogs", ("logs:CreateLogStream", "logs:PutLogEvents"), (f"{logs}:log-stream:*",)),
    }


def statements_of(document: dict[str, Any]) -> set[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    def as_tuple(value: Any) -> tuple[str, ...]:
        return tuple(sorted([value] if isinstance(value, str) else value))

    return {(s["Sid"], as_tuple(s["Action"]), as_tuple(s["Resource"])) for s in document["Statement"]}


def test_setup_from_nothing_builds_and_reads_back_the_whole_pipeline(
    endpoint: str, tmp_path: Path, package: Any
) -> None:
    config = write_config(tmp_path, endpoint)
    started = time.perf_counter()
    first = cli_json("setup", "-c", config)
    elapsed = time.perf_counter() - started
    assert changes(first) == [
        ("sqs-queue", "txq-dlq", "create"),
        ("sqs-queue", "txq", "create"),
        ("dynamodb-table", "txnalert-idempotency", "create"),
        ("ses-identity", "alerts@example.com", "create"),
        ("iam-role", ROLE, "create"),
        ("lambda-function", FUNCTION, "create"),
        ("event-source-mapping", f"txq -> {FUNCTION}", "create"),
    ]
    assert first["applied"] is True and first["dry_run"] is False
    assert first["summary"] == {"create": 7, "update": 0, "unchanged": 0}
    assert elapsed < 10

    # queue
    main = client(endpoint, "sqs").get_queue_attributes(QueueUrl=queue_url(endpoint, "txq"), AttributeNames=["All"])[
        "Attributes"
    ]
    assert main["VisibilityTimeout"] == "180" and main["ReceiveMessageWaitTimeSeconds"] == "20"
    assert json.loads(main["RedrivePolicy"])["deadLetterTargetArn"] == queue_arn(endpoint, "txq-dlq")

    # role: trust, the one inline policy, nothing attached, tags
    iam = client(endpoint, "iam")
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert role["AssumeRolePolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["txnalert-function"]
    assert iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []
    document = iam.get_role_policy(RoleName=ROLE, PolicyName="txnalert-function")["PolicyDocument"]
    assert statements_of(document) == expected_statements()
    assert all(s["Effect"] == "Allow" for s in document["Statement"])
    resources = [r for s in document["Statement"] for r in s["Resource"]]
    assert "*" not in resources
    for resource in resources:  # no wildcard in service, region or account; only a log stream/group suffix
        fields = resource.split(":")
        assert fields[2] != "*" and fields[3] == "us-east-1" and fields[4] == ACCOUNT, resource
        assert "*" not in resource or resource.endswith((f"/aws/lambda/{FUNCTION}:*", ":log-stream:*")), resource
    assert {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=ROLE)["Tags"]} == TAGS

    # function
    lam = client(endpoint, "lambda")
    function = lam.get_function(FunctionName=FUNCTION)
    conf = function["Configuration"]
    assert (conf["Runtime"], conf["Handler"], conf["Timeout"], conf["MemorySize"]) == (
        "python3.12",
        "txnalert_handler.app.lambda_handler",
        30,
        256,
    )
    assert conf["Role"] == role["Arn"] and conf["Architectures"] == ["x86_64"] and conf.get("Layers", []) == []
    assert conf["CodeSha256"] == package.code_sha256 and conf["CodeSize"] == package.size
    assert conf["Environment"]["Variables"] == {
        "TXNALERT_SENDER": "alerts@example.com",
        "TXNALERT_SUBJECT": "Transaction Alert",
        "TXNALERT_IDEMPOTENCY_TABLE": "txnalert-idempotency",
        "TXNALERT_IDEMPOTENCY_TTL_SECONDS": "86400",
        "TXNALERT_FIFO": "false",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_SERVICE_NAME": FUNCTION,
        "TXNALERT_START_MARGIN_MS": "3000",
    }
    assert function["Tags"] == TAGS

    # trigger: disabled on the emulator
    [mapping] = mappings(endpoint)
    assert mapping["EventSourceArn"] == queue_arn(endpoint, "txq")
    assert mapping["FunctionArn"] == conf["FunctionArn"]
    assert mapping["BatchSize"] == 10 and mapping["MaximumBatchingWindowInSeconds"] == 0
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}  # auto: moto's send rate is 1/s
    assert mapping["State"] == "Disabled"
    created = first["changes"][-1]["details"]
    assert created["MaximumConcurrencyFrom"] == "auto: SES max send rate 1/s"
    assert created["EventSourceArn"] == queue_arn(endpoint, "txq")

    second = cli_json("setup", "-c", config)
    assert pending(second) == [] and second["applied"] is False
    assert second["summary"] == {"create": 0, "update": 0, "unchanged": 7}
    assert len(mappings(endpoint)) == 1


def test_setup_human_output_says_who_consumes_on_the_emulator(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    result = cli("setup", "-c", config)
    assert "Applied: 7 created, 0 updated, 0 unchanged." in result.stdout
    assert after_target(result.stderr).strip() == (
        "note: on the emulator the SQS trigger is created disabled (moto would not run the function's code): "
        "`txnalert worker` is the consumer there"
    )
    assert "No changes: 7 resources up to date." in cli("setup", "-c", config).stdout


def test_one_config_change_is_one_update(endpoint: str, tmp_path: Path, package: Any) -> None:
    pipeline = Pipeline(endpoint, tmp_path, package)
    pipeline.setup()
    memory = pipeline.setup(**{"lambda": {"memory": 512}})
    assert pending(memory) == [("lambda-function", FUNCTION, "update")]
    assert memory["changes"][5]["details"] == {"MemorySize": {"from": 256, "to": 512}}
    assert client(endpoint, "lambda").get_function(FunctionName=FUNCTION)["Configuration"]["MemorySize"] == 512

    retention = pipeline.setup(**{"lambda": {"memory": 512}}, queue={"message_retention": 86400})
    assert pending(retention) == [("sqs-queue", "txq", "update")]
    assert retention["changes"][1]["details"] == {"MessageRetentionPeriod": {"from": "345600", "to": "86400"}}

    # The DLQ mirrors the visibility timeout, so a visibility change updates both queues and nothing else.
    queue = {"message_retention": 86400, "visibility_timeout": 300}
    visibility = pipeline.setup(**{"lambda": {"memory": 512}}, queue=queue)
    assert pending(visibility) == [("sqs-queue", "txq-dlq", "update"), ("sqs-queue", "txq", "update")]
    assert visibility["changes"][1]["details"] == {"VisibilityTimeout": {"from": "180", "to": "300"}}

    lam = {"memory": 512, "batch_size": 50, "batch_window": 5, "max_concurrency": 7, "log_level": "DEBUG"}
    trigger = pipeline.setup(**{"lambda": lam}, queue=queue)
    assert pending(trigger) == [
        ("lambda-function", FUNCTION, "update"),
        ("event-source-mapping", f"txq -> {FUNCTION}", "update"),
    ]
    assert trigger["changes"][5]["details"] == {
        "Environment": {"from": {"POWERTOOLS_LOG_LEVEL": "INFO"}, "to": {"POWERTOOLS_LOG_LEVEL": "DEBUG"}}
    }
    assert trigger["changes"][6]["details"] == {
        "BatchSize": {"from": 10, "to": 50},
        "MaximumBatchingWindowInSeconds": {"from": 0, "to": 5},
        "ScalingConfig": {"from": {"MaximumConcurrency": 2}, "to": {"MaximumConcurrency": 7}},
    }
    [mapping] = mappings(endpoint)
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (50, 5)
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 7} and mapping["State"] == "Disabled"
    env = client(endpoint, "lambda").get_function(FunctionName=FUNCTION)["Configuration"]["Environment"]
    assert env["Variables"]["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert pending(pipeline.setup(**{"lambda": lam}, queue=queue)) == []
    # An architecture change is a code update (UpdateFunctionCode carries Architectures). moto ignores that
    # parameter, so only the plan is checked here.
    arm = pipeline.setup(dry_run=True, **{"lambda": {**lam, "architecture": "arm64"}}, queue=queue)
    assert pending(arm) == [("lambda-function", FUNCTION, "update")]
    assert arm["changes"][5]["details"] == {"Architecture": {"from": "x86_64", "to": "arm64"}}


def test_a_code_change_is_one_code_update(endpoint: str, tmp_path: Path, package: Any) -> None:
    config_path = write_config(tmp_path, endpoint)
    cli_json("setup", "-c", config_path)
    config = cfg.load(config_path)
    aws = Aws.from_config(config)
    other = build_package(config, extra_files={"txnalert_build.txt": b"build 2\n"})
    result = infra_plan.run(aws, config, dry_run=False, package=other)
    plan, applied = result.plan, result.applied
    assert applied is True
    assert [(c.resource, c.action) for c in plan.pending] == [("lambda-function", "update")]
    assert plan.pending[0].details.as_dict() == {"CodeSha256": {"from": package.code_sha256, "to": other.code_sha256}}
    assert client(endpoint, "lambda").get_function(FunctionName=FUNCTION)["Configuration"]["CodeSha256"] == (
        other.code_sha256
    )
    # `deploy` with the installed code puts it back: one code update, reported with the package.
    deployed = cli_json("deploy", "-c", config_path)
    assert pending(deployed) == [("lambda-function", FUNCTION, "update")]
    assert deployed["changes"][1]["details"] == {"CodeSha256": {"from": other.code_sha256, "to": package.code_sha256}}
    assert deployed["package"] == package.as_dict()
    assert [c["resource"] for c in deployed["changes"]] == ["iam-role", "lambda-function", "event-source-mapping"]
    human = cli("deploy", "-c", config_path).stdout.splitlines()
    assert human[-2] == "No changes: 3 resources up to date."
    assert human[-1] == (
        f"code: {package.size} bytes, sha256 {package.sha256} (CodeSha256 {package.code_sha256}), "
        f"{len(package.files)} files, vendored: {', '.join(package.vendored)}"
    )


def test_dry_run_changes_nothing(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    before = snapshot(endpoint)
    dry = cli_json("setup", "-c", config, "--dry-run")
    assert dry["dry_run"] is True and dry["applied"] is False
    assert dry["summary"] == {"create": 7, "update": 0, "unchanged": 0}
    assert dry["changes"][5]["details"]["Role"] == f"<arn of role {ROLE}>"
    assert dry["changes"][6]["details"]["EventSourceArn"] == "<arn of txq>"
    assert snapshot(endpoint) == before

    cli_json("setup", "-c", config)
    changed = write_config(
        tmp_path,
        endpoint,
        queue={"visibility_timeout": 300},
        ses={"sender": "alerts@example.org", "identities": ["alerts@example.com", "example.org"]},
        **{"lambda": {"memory": 1024, "max_concurrency": 3, "timeout": 40}},
    )
    before, raw_before = snapshot(endpoint), moto_data(endpoint)
    dry = cli_json("setup", "-c", changed, "--dry-run")
    assert [c[2] for c in changes(dry)] == ["update", "update", "unchanged", "unchanged", "create"] + ["update"] * 3
    assert [c[0] for c in pending(dry)] == [
        "sqs-queue",
        "sqs-queue",
        "ses-identity",
        "iam-role",
        "lambda-function",
        "event-source-mapping",
    ]
    assert snapshot(endpoint) == before and moto_data(endpoint) == raw_before
    deploy_dry = cli_json("deploy", "-c", changed, "--dry-run")
    assert [c[2] for c in changes(deploy_dry)] == ["update", "update", "update"]
    assert snapshot(endpoint) == before


def test_role_drift_is_put_back_and_extra_grants_removed(endpoint: str, tmp_path: Path, package: Any) -> None:
    pipeline = Pipeline(endpoint, tmp_path, package)
    pipeline.setup()
    iam = client(endpoint, "iam")
    document = iam.get_role_policy(RoleName=ROLE, PolicyName="txnalert-function")["PolicyDocument"]

    # The same policy written differently (order, single strings) is no change.
    def single(values: list[str]) -> Any:
        return values[0] if len(values) == 1 else list(reversed(values))

    rewritten = {
        "Statement": [
            {**s, "Action": single(s["Action"]), "Resource": single(s["Resource"])}
            for s in reversed(document["Statement"])
        ],
        "Version": "2012-10-17",
    }
    iam.put_role_policy(RoleName=ROLE, PolicyName="txnalert-function", PolicyDocument=json.dumps(rewritten))
    assert pending(pipeline.setup()) == []

    wide = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=ROLE, PolicyName="txnalert-function", PolicyDocument=json.dumps(wide))
    iam.put_role_policy(RoleName=ROLE, PolicyName="added-by-hand", PolicyDocument=json.dumps(wide))
    iam.update_assume_role_policy(
        RoleName=ROLE,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    fixed = pipeline.setup()
    assert pending(fixed) == [("iam-role", ROLE, "update")]
    assert set(fixed["changes"][4]["details"]) == {"AssumeRolePolicy", "InlinePolicy", "OtherPolicies"}
    assert fixed["changes"][4]["details"]["OtherPolicies"] == {"from": ["added-by-hand"], "to": []}
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["txnalert-function"]
    document = iam.get_role_policy(RoleName=ROLE, PolicyName="txnalert-function")["PolicyDocument"]
    assert statements_of(document) == expected_statements()
    trust = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert pending(pipeline.setup()) == []


def test_an_existing_mapping_is_adopted_never_duplicated(endpoint: str, tmp_path: Path, package: Any) -> None:
    pipeline = Pipeline(endpoint, tmp_path, package)
    pipeline.setup()
    lam = client(endpoint, "lambda")
    [ours] = mappings(endpoint)
    lam.delete_event_source_mapping(UUID=ours["UUID"])
    function_arn = lam.get_function(FunctionName=FUNCTION)["Configuration"]["FunctionArn"]
    # Made by hand, naming the function by ARN (moto then does not list it under the function's name).
    manual = lam.create_event_source_mapping(
        EventSourceArn=queue_arn(endpoint, "txq"), FunctionName=function_arn, BatchSize=5, Enabled=True
    )
    adopted = pipeline.setup()
    assert pending(adopted) == [("event-source-mapping", f"txq -> {FUNCTION}", "update")]
    assert adopted["changes"][6]["details"] == {
        "BatchSize": {"from": 5, "to": 10},
        "FunctionResponseTypes": {"from": [], "to": ["ReportBatchItemFailures"]},
        "ScalingConfig": {"from": {"MaximumConcurrency": None}, "to": {"MaximumConcurrency": 2}},
        "Enabled": {"from": True, "to": False},
    }
    found = lam.list_event_source_mappings(EventSourceArn=queue_arn(endpoint, "txq"))["EventSourceMappings"]
    assert [m["UUID"] for m in found] == [manual["UUID"]]
    assert found[0]["BatchSize"] == 10 and found[0]["State"] == "Disabled"
    assert pending(pipeline.setup()) == []


def test_a_deleted_functions_trigger_is_adopted_not_duplicated(endpoint: str, tmp_path: Path, package: Any) -> None:
    """Lambda's DeleteFunction keeps the function's mappings: setup must re-attach the orphan, not add a second
    trigger (AWS would refuse it with ResourceConflictException; moto accepts it)."""
    pipeline = Pipeline(endpoint, tmp_path, package)
    pipeline.setup()
    lam = client(endpoint, "lambda")
    [ours] = mappings(endpoint)
    old_arn = lam.get_function(FunctionName=FUNCTION)["Configuration"]["FunctionArn"]
    lam.delete_function(FunctionName=FUNCTION)
    by_queue = lam.list_event_source_mappings(EventSourceArn=queue_arn(endpoint, "txq"))["EventSourceMappings"]
    assert [m["UUID"] for m in by_queue] == [ours["UUID"]]  # the orphan

    dry = pipeline.setup(dry_run=True, **{"lambda": {"batch_size": 5}})
    assert pending(dry) == [
        ("lambda-function", FUNCTION, "create"),
        ("event-source-mapping", f"txq -> {FUNCTION}", "update"),
    ]
    assert dry["changes"][6]["details"] == {
        "Function": {"from": f"{old_arn} (deleted; Lambda kept its trigger)", "to": f"{FUNCTION} (created above)"},
        "BatchSize": {"from": 10, "to": 5},
    }
    assert "Function: " in pipeline.last.plan.changes[6].text()

    rebuilt = pipeline.setup(**{"lambda": {"batch_size": 5}})
    assert pending(rebuilt) == pending(dry)
    new_arn = lam.get_function(FunctionName=FUNCTION)["Configuration"]["FunctionArn"]
    by_queue = lam.list_event_source_mappings(EventSourceArn=queue_arn(endpoint, "txq"))["EventSourceMappings"]
    assert [(m["UUID"], m["FunctionArn"], m["BatchSize"]) for m in by_queue] == [(ours["UUID"], new_arn, 5)]
    assert [m["UUID"] for m in mappings(endpoint)] == [ours["UUID"]]  # listed under the new function too
    assert pending(pipeline.setup(**{"lambda": {"batch_size": 5}})) == []


ROLE_CONFLICT = (
    f"role {ROLE!r} exists and was not created by txnalert for this config (no managed-by tag): set "
    "lambda.role_name to another name, or tag it app=txnalert, managed-by=txnalert to let txnalert manage it"
)


def test_a_role_without_our_tags_is_never_modified(endpoint: str, tmp_path: Path, package: Any) -> None:
    config = write_config(tmp_path, endpoint)
    iam = client(endpoint, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    wide = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))  # someone else's, same name
    iam.put_role_policy(RoleName=ROLE, PolicyName="theirs", PolicyDocument=json.dumps(wide))
    broad = iam.create_policy(PolicyName="broad", PolicyDocument=json.dumps(wide))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=broad)
    before = snapshot(endpoint)
    for args in (("--dry-run",), ()):
        refused = cli("setup", "-c", config, *args, code=1)
        assert after_target(refused.stderr) == f"error: {ROLE_CONFLICT}\n"
    assert snapshot(endpoint) == before  # planning refused: nothing was made or changed

    pipeline = Pipeline(endpoint, tmp_path, package)
    iam.tag_role(RoleName=ROLE, Tags=[{"Key": "managed-by", "Value": "txnalert"}])  # not all the config's tags
    with pytest.raises(ResourceConflict) as info:
        pipeline.setup(dry_run=True)
    assert info.value.message == (
        f"role {ROLE!r} exists and was not created by txnalert for this config (not tagged app=txnalert): set "
        "lambda.role_name to another name, or tag it app=txnalert to let txnalert manage it"
    )

    # Tagged as the config's: ours, made least privilege (its other policies removed, as the plan says).
    iam.tag_role(RoleName=ROLE, Tags=[{"Key": "app", "Value": "txnalert"}])
    adopted = pipeline.setup()
    role_change = adopted["changes"][4]
    assert (role_change["action"], set(role_change["details"])) == ("update", {"InlinePolicy", "OtherPolicies"})
    assert role_change["details"]["OtherPolicies"] == {"from": ["theirs", broad], "to": []}
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["txnalert-function"]
    assert iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []

    iam.put_role_policy(RoleName=ROLE, PolicyName="theirs", PolicyDocument=json.dumps(wide))
    rows = [line.split(None, 3) for line in cli("setup", "-c", config, "--dry-run").stdout.splitlines()]
    assert ["iam-role", ROLE, "update", "remove policies theirs (the role keeps only txnalert's own)"] in rows


def test_a_function_without_our_tags_is_never_modified(endpoint: str, tmp_path: Path, package: Any) -> None:
    pipeline = Pipeline(endpoint, tmp_path, package)
    pipeline.setup()
    lam = client(endpoint, "lambda")
    function = lam.get_function(FunctionName=FUNCTION)["Configuration"]
    lam.untag_resource(Resource=function["FunctionArn"], TagKeys=["managed-by"])
    other = build_package(cfg.loads("queue: {name: txq}\n", "t.yaml"), extra_files={"theirs.txt": b"x"})
    with pytest.raises(ResourceConflict) as info:
        infra_plan.run(pipeline.aws, cfg.load(write_config(tmp_path, endpoint)), dry_run=False, package=other)
    assert info.value.message == (
        f"function {FUNCTION!r} exists and was not created by txnalert for this config (no managed-by tag): set "
        "lambda.function_name to another name, or tag it managed-by=txnalert to let txnalert manage it"
    )
    assert lam.get_function(FunctionName=FUNCTION)["Configuration"]["CodeSha256"] == function["CodeSha256"]


def test_untagged_queues_tables_and_identities_are_adopted(endpoint: str, tmp_path: Path, package: Any) -> None:
    """Same-name queues, table and identity without our tags are adopted (tagged, attributes set): nothing of
    theirs is deleted, and the plan says `adopt (untagged)`."""
    sqs, ddb, sesv2 = client(endpoint, "sqs"), client(endpoint, "dynamodb"), client(endpoint, "sesv2")
    sqs.create_queue(QueueName="txq-dlq", tags={"team": "payments"})
    ddb.create_table(
        TableName="txnalert-idempotency",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sesv2.create_email_identity(EmailIdentity="alerts@example.com")
    config = write_config(tmp_path, endpoint)
    dry = cli("setup", "-c", config, "--dry-run").stdout
    assert dry.count("adopt (untagged)") == 3
    result = Pipeline(endpoint, tmp_path, package).setup()
    by_name = {c["name"]: c for c in result["changes"]}
    for name in ("txq-dlq", "txnalert-idempotency", "alerts@example.com"):
        assert by_name[name]["action"] == "update"
        assert next(iter(by_name[name]["details"].items())) == ("Ownership", "adopt (untagged)"), name
    assert by_name["alerts@example.com"]["details"] == {
        "Ownership": "adopt (untagged)",
        "Tags": {"app": {"from": None, "to": "txnalert"}, "managed-by": {"from": None, "to": "txnalert"}},
    }
    dlq_url = queue_url(endpoint, "txq-dlq")
    assert sqs.list_queue_tags(QueueUrl=dlq_url)["Tags"] == {**TAGS, "team": "payments"}
    table_arn = ddb.describe_table(TableName="txnalert-idempotency")["Table"]["TableArn"]
    assert {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=table_arn)["Tags"]} == TAGS
    # SESv2 TagResource on the identity's ARN. moto returns those tags from ListTagsForResource only (not from
    # GetEmailIdentity, which shows the tags given at creation): the planner reads both.
    identity_arn = f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/alerts@example.com"
    listed = sesv2.list_tags_for_resource(ResourceArn=identity_arn)["Tags"]
    assert {t["Key"]: t["Value"] for t in listed} == TAGS
    assert pending(Pipeline(endpoint, tmp_path, package).setup()) == []
    assert find_queue_url(sqs, "txq-dlq") == dlq_url and find_queue_url(sqs, "nope") is None


def test_a_trigger_that_does_not_settle_fails_clearly(endpoint: str, tmp_path: Path, package: Any) -> None:
    assert "Enabled" in ENABLED_STATES and "Disabled" not in ENABLED_STATES and "Updating" in TRANSITIONAL_STATES
    pipeline = Pipeline(endpoint, tmp_path, package)
    pipeline.setup()
    [mapping] = mappings(endpoint)
    config = cfg.load(write_config(tmp_path, endpoint, **{"lambda": {"batch_size": 5}}))
    lam = pipeline.aws.client("lambda")
    busy = {"UUID": mapping["UUID"], "State": "Updating"}
    calls = answer_first(lam, "GetEventSourceMapping", 2, busy)  # settles after two checks
    slept: list[float] = []
    applied = infra_plan.run(pipeline.aws, config, dry_run=False, package=package, sleep=slept.append).applied
    assert applied and len(calls) == 3 and slept == [1, 1]
    assert [m["BatchSize"] for m in mappings(endpoint)] == [5]

    answer_first(lam, "GetEventSourceMapping", None, busy)  # never settles
    config = cfg.load(write_config(tmp_path, endpoint, **{"lambda": {"batch_size": 7}}))
    slept.clear()
    with pytest.raises(ApplyError) as info:
        infra_plan.run(pipeline.aws, config, dry_run=False, package=package, sleep=slept.append)
    assert sum(slept) == 60
    assert info.value.lines() == [
        f"update event-source-mapping txq -> {FUNCTION} failed: update the trigger txq -> {FUNCTION}: the trigger "
        f"{mapping['UUID']} is still Updating after 60 s (Lambda is applying an earlier change to it): run the "
        "same command again in a minute",
        f"not done: event-source-mapping txq -> {FUNCTION}",
        "run the same command again to continue",
    ]
    assert [m["BatchSize"] for m in mappings(endpoint)] == [5]


def test_fifo_trigger_has_no_batching_window(endpoint: str, tmp_path: Path, package: Any) -> None:
    pipeline = Pipeline(endpoint, tmp_path, package)
    result = pipeline.setup(queue={"fifo": True})
    assert "MaximumBatchingWindowInSeconds" not in result["changes"][6]["details"]
    [mapping] = mappings(endpoint)
    assert mapping["EventSourceArn"].endswith(":txq.fifo") and "MaximumBatchingWindowInSeconds" not in mapping
    env = client(endpoint, "lambda").get_function(FunctionName=FUNCTION)["Configuration"]["Environment"]
    assert env["Variables"]["TXNALERT_FIFO"] == "true"
    assert pending(pipeline.setup(queue={"fifo": True})) == []


def test_a_powertools_layer_is_attached(endpoint: str, tmp_path: Path, package: Any) -> None:
    lam = client(endpoint, "lambda")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/aws_lambda_powertools/__init__.py", "")
    layer = lam.publish_layer_version(LayerName="powertools", Content={"ZipFile": buffer.getvalue()})
    with_layer = {"lambda": {"powertools_layer": layer["LayerVersionArn"]}}
    pipeline = Pipeline(endpoint, tmp_path, package)
    pipeline.setup(**with_layer)
    conf = lam.get_function(FunctionName=FUNCTION)["Configuration"]
    assert [entry["Arn"] for entry in conf["Layers"]] == [layer["LayerVersionArn"]]
    slim = build_package(cfg.load(write_config(tmp_path, endpoint, **with_layer)))
    assert conf["CodeSha256"] == slim.code_sha256 and conf["CodeSize"] < 100_000
    assert pending(pipeline.setup(**with_layer)) == []
    # Back to vendored Powertools: new code and no layer, one update.
    back = pipeline.setup()
    assert pending(back) == [("lambda-function", FUNCTION, "update")]
    assert set(back["changes"][5]["details"]) == {"Layers", "CodeSha256"}
    assert lam.get_function(FunctionName=FUNCTION)["Configuration"].get("Layers", []) == []


def test_deploy_needs_the_queue(endpoint: str, tmp_path: Path) -> None:
    result = cli("deploy", "-c", write_config(tmp_path, endpoint), code=1)
    assert after_target(result.stderr).strip() == (
        f"error: queue 'txq' does not exist at {endpoint}: run `txnalert setup` (or `txnalert create-queue`) first"
    )
    assert client(endpoint, "iam").list_roles()["Roles"] == []  # planning failed: nothing was made


def test_create_queue_still_plans_only_queues(endpoint: str, tmp_path: Path) -> None:
    result = cli_json("create-queue", "-c", write_config(tmp_path, endpoint))
    assert changes(result) == [("sqs-queue", "txq-dlq", "create"), ("sqs-queue", "txq", "create")]
    assert client(endpoint, "lambda").list_functions()["Functions"] == []


# --- role propagation: CreateFunction retried while the new role cannot be assumed ----------------

NOT_ASSUMABLE = "The role defined for the function cannot be assumed by Lambda."


def test_create_function_is_retried_while_the_role_propagates(endpoint: str, tmp_path: Path) -> None:
    config = cfg.load(write_config(tmp_path, endpoint))
    aws = Aws.from_config(config)
    calls = fail_first(aws.client("lambda"), "CreateFunction", 3, "InvalidParameterValueException", NOT_ASSUMABLE)
    slept: list[float] = []
    result = infra_plan.run(aws, config, dry_run=False, sleep=slept.append)
    plan, applied = result.plan, result.applied
    assert applied and plan.counts() == {"create": 7, "update": 0, "unchanged": 0}
    assert len(calls) == 4 and slept == [1, 2, 4]
    assert client(endpoint, "lambda").get_function(FunctionName=FUNCTION)["Configuration"]["State"] == "Active"


def test_a_role_that_never_propagates_fails_clearly_and_a_rerun_continues(endpoint: str, tmp_path: Path) -> None:
    path = write_config(tmp_path, endpoint)
    config = cfg.load(path)
    aws = Aws.from_config(config)
    calls = fail_first(aws.client("lambda"), "CreateFunction", None, "InvalidParameterValueException", NOT_ASSUMABLE)
    slept: list[float] = []
    with pytest.raises(ApplyError) as info:
        infra_plan.run(aws, config, dry_run=False, sleep=slept.append)
    assert slept == [1, 2, 4, 8, 16, 16, 13] and sum(slept) == 60 and len(calls) == 8
    assert info.value.lines() == [
        f"create lambda-function {FUNCTION} failed: create function {FUNCTION}: Lambda still cannot use the role "
        "after 60 s (The role defined for the function cannot be assumed by Lambda); IAM changes can take a "
        "minute to propagate: run the same command again",
        "done: sqs-queue txq-dlq, sqs-queue txq, dynamodb-table txnalert-idempotency, "
        f"ses-identity alerts@example.com, iam-role {ROLE}",
        f"not done: lambda-function {FUNCTION}, event-source-mapping txq -> {FUNCTION}",
        "run the same command again to continue",
    ]
    rerun = cli_json("setup", "-c", path)
    assert [c[2] for c in changes(rerun)] == ["unchanged"] * 5 + ["create", "create"]
    assert len(mappings(endpoint)) == 1


def test_other_create_function_errors_are_not_retried(endpoint: str, tmp_path: Path) -> None:
    config = cfg.load(write_config(tmp_path, endpoint))
    aws = Aws.from_config(config)
    calls = fail_first(aws.client("lambda"), "CreateFunction", None, "CodeStorageExceededException", "full")
    slept: list[float] = []
    with pytest.raises(ApplyError) as info:
        infra_plan.run(aws, config, dry_run=False, sleep=slept.append)
    assert slept == [] and len(calls) == 1
    assert info.value.message == (
        f"create lambda-function {FUNCTION} failed: CreateFunction failed (CodeStorageExceededException): full"
    )


# --- a failed function is never "unchanged" (the trigger is never attached to it) ------------------

REASON = "Error while creating lambda: Docker not available"
UPDATE_REASON = "The function could not be updated: the ENI limit was reached"


def fail_function(lam: Any, *, after: str | None = None, until: str | None = None, **fields: str) -> None:
    """GetFunction and GetFunctionConfiguration on this client answer with `fields` (State: Failed, ...) over
    what moto says, through botocore's after-call event: from the first `after` call on (None: at once), until
    the first `until` call (None: for ever)."""
    seen: set[str] = set()

    def note(event_name: str, **kwargs: Any) -> None:
        seen.add(event_name.rsplit(".", 1)[-1])

    def failed(parsed: dict[str, Any], **kwargs: Any) -> None:
        if (after and after not in seen) or (until and until in seen):
            return
        configuration = parsed.get("Configuration", parsed)
        if "FunctionName" in configuration:
            configuration.update(fields)

    for operation in (after, until):
        if operation:
            lam.meta.events.register(f"before-call.lambda.{operation}", note)
    lam.meta.events.register("after-call.lambda.GetFunction", failed)
    lam.meta.events.register("after-call.lambda.GetFunctionConfiguration", failed)


def count_calls(aws_client: Any, *operations: str) -> list[str]:
    calls: list[str] = []
    service = aws_client.meta.service_model.service_name
    for operation in operations:
        aws_client.meta.events.register(
            f"before-call.{service}.{operation}", lambda operation=operation, **kwargs: calls.append(operation)
        )
    return calls


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        (
            {"State": "Failed", "StateReason": REASON},
            {"State": {"from": "Failed", "to": "Active"}, "StateReason": REASON},
        ),
        (
            {"LastUpdateStatus": "Failed", "LastUpdateStatusReason": UPDATE_REASON},
            {"LastUpdateStatus": {"from": "Failed", "to": "Successful"}, "LastUpdateStatusReason": UPDATE_REASON},
        ),
    ],
    ids=["state", "last update"],
)
def test_a_failed_function_is_updated_never_unchanged(
    endpoint: str, tmp_path: Path, package: Any, fields: dict[str, str], details: dict[str, Any]
) -> None:
    pipeline = Pipeline(endpoint, tmp_path, package)
    pipeline.setup()
    lam = pipeline.aws.client("lambda")
    fail_function(lam, until="UpdateFunctionCode", **fields)  # an upload fixes it
    uploads = count_calls(lam, "UpdateFunctionCode", "UpdateFunctionConfiguration")
    result = pipeline.setup()
    assert pending(result) == [("lambda-function", FUNCTION, "update")]
    assert result["changes"][5]["details"] == details
    assert uploads == ["UpdateFunctionCode", "UpdateFunctionConfiguration"]  # code and configuration again
    assert pending(pipeline.setup()) == []


def test_a_function_that_stays_failed_is_a_clear_error_and_gets_no_trigger(
    endpoint: str, tmp_path: Path, package: Any
) -> None:
    """What LocalStack without Docker does: the function is created, then Failed for good."""
    config = cfg.load(write_config(tmp_path, endpoint))
    aws = Aws.from_config(config)
    fail_function(aws.client("lambda"), State="Failed", StateReason=REASON)
    with pytest.raises(ApplyError) as info:
        infra_plan.run(aws, config, dry_run=False, package=package)
    assert info.value.exit_code == 1
    assert info.value.lines() == [
        f"create lambda-function {FUNCTION} failed: function {FUNCTION} is Failed: {REASON}",
        "done: sqs-queue txq-dlq, sqs-queue txq, dynamodb-table txnalert-idempotency, "
        f"ses-identity alerts@example.com, iam-role {ROLE}",
        f"not done: lambda-function {FUNCTION}, event-source-mapping txq -> {FUNCTION}",
        "run the same command again to continue",
    ]
    assert mappings(endpoint) == []

    # The second run: not "unchanged"; code and configuration go up again, and the function is still Failed.
    dry = infra_plan.run(aws, config, dry_run=True, package=package).plan
    assert [(c.resource, c.action) for c in dry.pending] == [
        ("lambda-function", "update"),
        ("event-source-mapping", "create"),
    ]
    with pytest.raises(ApplyError) as info:
        infra_plan.run(aws, config, dry_run=False, package=package)
    assert info.value.lines()[0] == (
        f"update lambda-function {FUNCTION} failed: function {FUNCTION} is still Failed after its code and "
        f"configuration were uploaded again: {REASON}"
    )
    assert "Waiter" not in info.value.message
    assert info.value.not_done == [f"lambda-function {FUNCTION}", f"event-source-mapping txq -> {FUNCTION}"]
    assert mappings(endpoint) == []


def test_a_failed_update_says_why(endpoint: str, tmp_path: Path, package: Any) -> None:
    pipeline = Pipeline(endpoint, tmp_path, package)
    pipeline.setup()
    fail_function(
        pipeline.aws.client("lambda"),
        after="UpdateFunctionConfiguration",
        LastUpdateStatus="Failed",
        LastUpdateStatusReason=UPDATE_REASON,
    )
    with pytest.raises(ApplyError) as info:
        pipeline.setup(**{"lambda": {"memory": 512}})
    assert info.value.message == (
        f"update lambda-function {FUNCTION} failed: function {FUNCTION}: its last update Failed: {UPDATE_REASON}"
    )
    assert info.value.not_done == [f"lambda-function {FUNCTION}"]


# --- the queues' policy: TLS only ----------------------------------------------------------------------


def tls_only(arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Id": "txnalert-tls-only",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def queue_policy(endpoint: str, name: str) -> Any:
    attrs = client(endpoint, "sqs").get_queue_attributes(QueueUrl=queue_url(endpoint, name), AttributeNames=["All"])
    policy = attrs["Attributes"].get("Policy")
    return json.loads(policy) if policy else None


def test_both_queues_deny_insecure_transport_and_keep_it(endpoint: str, tmp_path: Path, package: Any) -> None:
    pipeline = Pipeline(endpoint, tmp_path, package)
    first = pipeline.setup()
    arns = {name: queue_arn(endpoint, name) for name in ("txq-dlq", "txq")}
    for index, name in enumerate(arns):
        assert queue_policy(endpoint, name) == tls_only(arns[name])
        assert first["changes"][index]["details"]["Policy"] == tls_only(arns[name])

    # Another attribute changes: moto erases a queue's Policy on any SetQueueAttributes without it, and AWS
    # would keep it; txnalert sends the Policy with every SetQueueAttributes, so it survives on both.
    queue = {"visibility_timeout": 300}
    changed = pipeline.setup(queue=queue)
    assert pending(changed) == [("sqs-queue", "txq-dlq", "update"), ("sqs-queue", "txq", "update")]
    assert changed["changes"][1]["details"] == {"VisibilityTimeout": {"from": "180", "to": "300"}}
    for name, arn in arns.items():
        assert queue_policy(endpoint, name) == tls_only(arn)

    # Compared as JSON, not as text: the same policy written differently is no change.
    sqs, url = client(endpoint, "sqs"), queue_url(endpoint, "txq")
    rewritten = json.dumps(tls_only(arns["txq"]), indent=2, sort_keys=True)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": rewritten, "VisibilityTimeout": "300"})
    assert pending(pipeline.setup(queue=queue)) == []

    # Removed behind the tool's back: put back, and nothing else changes.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    fixed = pipeline.setup(queue=queue)
    assert pending(fixed) == [("sqs-queue", "txq", "update")]
    assert fixed["changes"][1]["details"] == {"Policy": {"from": None, "to": tls_only(arns["txq"])}}
    assert queue_policy(endpoint, "txq") == tls_only(arns["txq"])
    assert pending(pipeline.setup(queue=queue)) == []


# --- the sender's identity, and the configuration set -------------------------------------------------


def sender_not_covered(config_path: str) -> str:
    return (
        f"error: {config_path}: ses.sender: bob@other.com is not covered by ses.identities, and the account has "
        "neither bob@other.com nor other.com as a verified SES identity: add other.com (or bob@other.com) to "
        "ses.identities"
    )


def role_statements(endpoint: str) -> Any:
    iam = client(endpoint, "iam")
    return statements_of(iam.get_role_policy(RoleName=ROLE, PolicyName="txnalert-function")["PolicyDocument"])


def test_the_identity_that_covers_the_sender() -> None:
    assert cfg.sender_identity_in("bob@other.com", ["alerts@example.com", "other.com"]) == "other.com"
    assert cfg.sender_identity_in("bob@Other.com", ["other.com", "bob@other.com"]) == "bob@other.com"
    assert cfg.sender_identity_in("bob@other.com", ["alerts@example.com"]) is None


def test_a_sender_no_identity_covers_is_refused_before_any_change(endpoint: str, tmp_path: Path) -> None:
    """Issue 10's reproduction: ses.sender bob@other.com, the identities left at their default."""
    config = write_config(tmp_path, endpoint, ses={"sender": "bob@other.com"})
    before = snapshot(endpoint)
    for command in (("setup",), ("setup", "--dry-run"), ("deploy",)):
        result = cli(*command, "-c", config, code=2)
        assert [line for line in result.stderr.splitlines() if line.startswith("error: ")] == [
            sender_not_covered(config)
        ], command
    assert snapshot(endpoint) == before


def test_a_sender_verified_outside_the_config_is_accepted(endpoint: str, tmp_path: Path, package: Any) -> None:
    ses = client(endpoint, "ses")
    ses.verify_domain_identity(Domain="other.com")  # behind the tool's back; moto verifies at once
    pipeline = Pipeline(endpoint, tmp_path, package)
    sender = {"sender": "bob@other.com"}
    assert pipeline.setup(ses=sender)["applied"] is True
    assert role_statements(endpoint) == expected_statements(ses=("identity/other.com",))
    conf = client(endpoint, "lambda").get_function(FunctionName=FUNCTION)["Configuration"]
    assert conf["Environment"]["Variables"]["TXNALERT_SENDER"] == "bob@other.com"
    assert pending(pipeline.setup(ses=sender)) == []

    # The address itself becomes an identity: SES then authorises the sender by it, and the grant follows.
    ses.verify_email_identity(EmailAddress="bob@other.com")
    assert pending(pipeline.setup(ses=sender)) == [("iam-role", ROLE, "update")]
    assert role_statements(endpoint) == expected_statements(ses=("identity/bob@other.com",))


def test_the_grant_is_on_the_senders_identity_only(endpoint: str, tmp_path: Path, package: Any) -> None:
    pipeline = Pipeline(endpoint, tmp_path, package)
    pipeline.setup(ses={"sender": "bob@other.com", "identities": ["alerts@example.com", "other.com"]})
    assert role_statements(endpoint) == expected_statements(ses=("identity/other.com",))


CONFIG_SET_ARN = f"arn:aws:ses:us-east-1:{ACCOUNT}:configuration-set/txnalert-cs"


def test_a_configuration_set_is_created_tagged_and_granted(endpoint: str, tmp_path: Path, package: Any) -> None:
    pipeline = Pipeline(endpoint, tmp_path, package)
    ses = {"configuration_set": "txnalert-cs"}
    first = pipeline.setup(ses=ses)
    assert changes(first)[3:5] == [
        ("ses-identity", "alerts@example.com", "create"),
        ("ses-configuration-set", "txnalert-cs", "create"),
    ]
    assert first["changes"][4]["details"] == {"Tags": TAGS}
    sesv2 = client(endpoint, "sesv2")
    assert sesv2.get_configuration_set(ConfigurationSetName="txnalert-cs")["ConfigurationSetName"] == "txnalert-cs"
    assert {t["Key"]: t["Value"] for t in sesv2.list_tags_for_resource(ResourceArn=CONFIG_SET_ARN)["Tags"]} == TAGS
    assert role_statements(endpoint) == expected_statements(
        ses=("identity/alerts@example.com", "configuration-set/txnalert-cs")
    )
    conf = client(endpoint, "lambda").get_function(FunctionName=FUNCTION)["Configuration"]
    assert conf["Environment"]["Variables"]["TXNALERT_CONFIGURATION_SET"] == "txnalert-cs"
    again = pipeline.setup(ses=ses)
    assert pending(again) == [] and again["summary"] == {"create": 0, "update": 0, "unchanged": 8}

    sesv2.delete_configuration_set(ConfigurationSetName="txnalert-cs")  # behind the tool's back
    assert pending(pipeline.setup(ses=ses)) == [("ses-configuration-set", "txnalert-cs", "create")]
    assert pending(pipeline.setup(ses=ses)) == []


def test_an_untagged_configuration_set_is_adopted(endpoint: str, tmp_path: Path, package: Any) -> None:
    sesv2 = client(endpoint, "sesv2")
    sesv2.create_configuration_set(ConfigurationSetName="txnalert-cs")
    pipeline = Pipeline(endpoint, tmp_path, package)
    result = pipeline.setup(ses={"configuration_set": "txnalert-cs"})
    [change] = [c for c in result["changes"] if c["resource"] == "ses-configuration-set"]
    assert (change["action"], change["details"]) == (
        "update",
        {
            "Ownership": "adopt (untagged)",
            "Tags": {"app": {"from": None, "to": "txnalert"}, "managed-by": {"from": None, "to": "txnalert"}},
        },
    )
    assert {t["Key"]: t["Value"] for t in sesv2.list_tags_for_resource(ResourceArn=CONFIG_SET_ARN)["Tags"]} == TAGS
    assert pending(pipeline.setup(ses={"configuration_set": "txnalert-cs"})) == []
