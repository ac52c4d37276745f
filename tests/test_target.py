"""Changes land where the user means (issue 10, items 1-5): the region, the account guard, the target
header, the confirmation against AWS and `--detailed-exitcode`.

"Against AWS" without AWS: the CLI's Aws is built with no endpoint override (so it is not local and asks
before applying), and a botocore `before-send` hook registered through `txnalert_cli.aws.SESSION_HOOKS`
sends each request, signed for AWS, to the moto server instead. Nothing of boto3 is mocked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse
from typer.testing import CliRunner

from tests.conftest import untargeted
from tests.test_deploy import snapshot
from txnalert_cli import aws as aws_module
from txnalert_cli.cli import app, options

runner = CliRunner()
MOTO_ACCOUNT = "123456789012"
NOTHING = {"queues": {}, "tables": {}, "identities": {}, "configuration_sets": {}, "roles": {}, "functions": {}}
NO_REGION = "error: no AWS region: set aws.region, --region or AWS_REGION\n"


def write(tmp_path: Path, data: dict[str, Any], name: str = "txnalert.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"queue": {"name": "txq"}, **data}))
    return str(path)


def run(*args: str, code: int = 0, input: str | None = None) -> Any:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def run_json(*args: str, code: int = 0) -> Any:
    return json.loads(run(*args, "--json", code=code).stdout)


def queues_in(endpoint: str, region: str) -> list[str]:
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region)
    return sorted(url.rsplit("/", 1)[1] for url in sqs.list_queues().get("QueueUrls", []))


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HTTP request the CLI's sessions send, as its botocore event name (before-send.sqs.GetQueueUrl)."""
    sent: list[str] = []

    def count(event_name: str, **kwargs: Any) -> None:
        sent.append(event_name)

    monkeypatch.setattr(aws_module, "SESSION_HOOKS", [*aws_module.SESSION_HOOKS, ("before-send", count)])
    return sent


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No region anywhere: no $AWS_REGION / $AWS_DEFAULT_REGION, an empty AWS config file, no endpoint."""
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    empty = tmp_path / "aws-config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))


@pytest.fixture
def against_aws(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> str:
    """The CLI talks to AWS's own endpoints (no override), and each request goes to the moto server."""
    target = urlsplit(endpoint)

    def route(request: Any, **kwargs: Any) -> None:
        parts = urlsplit(request.url)
        assert parts.hostname is not None and parts.hostname.endswith(".amazonaws.com"), request.url
        request.url = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))

    monkeypatch.setattr(aws_module, "SESSION_HOOKS", [*aws_module.SESSION_HOOKS, ("before-send", route)])
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    return endpoint


def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone to ask: stdin is a terminal (CliRunner's stdin is not one)."""
    monkeypatch.setattr(options, "stdin_is_terminal", lambda: True)


# --- 1. region ------------------------------------------------------------------------------------


def test_aws_region_from_the_environment_is_where_resources_land(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, {"aws": {"endpoint_url": endpoint}})
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = run_json("create-queue", "-c", config)
    assert result["target"]["region"] == "eu-west-1"
    assert queues_in(endpoint, "eu-west-1") == ["txq", "txq-dlq"]
    assert queues_in(endpoint, "us-east-1") == []
    # The report's reproduction: inspect-queue reads the queue where it is (in us-east-1 it does not exist).
    assert [q["name"] for q in run_json("inspect-queue", "-c", config)["queues"]] == ["txq", "txq-dlq"]


REGION_STEPS = [
    # (--region, aws.region, AWS_REGION, AWS_DEFAULT_REGION, profile's region) -> the region used
    (("ap-south-1", "eu-central-1", "eu-west-1", "eu-west-2", "eu-north-1"), "ap-south-1"),
    ((None, "eu-central-1", "eu-west-1", "eu-west-2", "eu-north-1"), "eu-central-1"),
    ((None, None, "eu-west-1", "eu-west-2", "eu-north-1"), "eu-west-1"),
    ((None, None, None, "eu-west-2", "eu-north-1"), "eu-west-2"),
    ((None, None, None, None, "eu-north-1"), "eu-north-1"),
]


@pytest.mark.parametrize("override", [True, False], ids=["endpoint", "aws"])
@pytest.mark.parametrize(("given", "expected"), REGION_STEPS, ids=[s[1] for s in REGION_STEPS])
def test_region_precedence(
    given: tuple[str | None, ...],
    expected: str,
    override: bool,
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_region: None,
) -> None:
    flag, in_config, env_region, env_default, in_profile = given
    aws: dict[str, Any] = {"profile": "bank"}
    if override:
        aws["endpoint_url"] = endpoint
    else:  # against AWS, routed to moto
        target = urlsplit(endpoint)

        def route(request: Any, **kwargs: Any) -> None:
            parts = urlsplit(request.url)
            request.url = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))

        monkeypatch.setattr(aws_module, "SESSION_HOOKS", [("before-send", route)])
    if in_config:
        aws["region"] = in_config
    profile = tmp_path / "aws-profiles"
    keys = "aws_access_key_id = testing\naws_secret_access_key = testing\n"  # a named profile: its own keys
    profile.write_text("[profile bank]\n" + keys + (f"region = {in_profile}\n" if in_profile else ""))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(profile))
    for var, value in (("AWS_REGION", env_region), ("AWS_DEFAULT_REGION", env_default)):
        if value:
            monkeypatch.setenv(var, value)
    args = ["create-queue", "-c", write(tmp_path, {"aws": aws}), "--dry-run"]
    if flag:
        args += ["--region", flag]
    assert run_json(*args)["target"]["region"] == expected


def test_with_an_endpoint_and_no_region_the_emulator_default_is_us_east_1(
    endpoint: str, tmp_path: Path, no_region: None
) -> None:
    config = write(tmp_path, {"aws": {"endpoint_url": endpoint}})
    assert run_json("create-queue", "-c", config)["target"]["region"] == "us-east-1"
    assert queues_in(endpoint, "us-east-1") == ["txq", "txq-dlq"]


def test_aws_endpoint_url_in_the_environment_is_an_override_too(
    endpoint: str, tmp_path: Path, no_region: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    result = run_json("setup", "-c", write(tmp_path, {}))  # no terminal, no --yes: no prompt on an emulator
    assert result["target"] == {
        "account": "****9012",
        "region": "us-east-1",
        "endpoint": endpoint,
        "config": str(tmp_path / "txnalert.yaml"),
    }
    assert result["applied"] is True
    assert queues_in(endpoint, "us-east-1") == ["txq", "txq-dlq"]


@pytest.mark.parametrize(
    "command",
    [["inspect-queue"], ["setup", "--dry-run"], ["setup"], ["drain"], ["doctor"], ["send-test"], ["purge", "--yes"]],
)
def test_against_aws_without_a_region_is_exit_2_before_any_call(
    command: list[str], tmp_path: Path, no_region: None, requests: list[str]
) -> None:
    result = run(*command, "-c", write(tmp_path, {}), code=2)
    assert (result.stdout, result.stderr) == ("", NO_REGION)
    assert requests == []


def test_a_bad_region_in_the_environment_is_a_config_error(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, requests: list[str]
) -> None:
    monkeypatch.setenv("AWS_REGION", "Mars")
    result = run("inspect-queue", "-c", write(tmp_path, {"aws": {"endpoint_url": endpoint}}), code=2)
    assert result.stderr == 'error: $AWS_REGION: must be an AWS region such as us-east-1, got "Mars"\n'
    assert requests == []


def test_the_resolved_region_builds_the_role_policy_arns(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    config = write(tmp_path, {"aws": {"endpoint_url": endpoint}})
    run_json("setup", "-c", config)
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="eu-west-1")
    role = "transaction-email-processor-role"
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = json.dumps(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
    assert ":eu-west-1:" in document and ":us-east-1:" not in document and ":None:" not in document


# --- 2. account guard -----------------------------------------------------------------------------


def test_account_id_matching_the_credentials_lets_commands_run(
    endpoint: str, tmp_path: Path, requests: list[str]
) -> None:
    config = write(tmp_path, {"aws": {"endpoint_url": endpoint, "account_id": MOTO_ACCOUNT}})
    assert run_json("create-queue", "-c", config)["applied"] is True
    assert requests[0] == "before-send.sts.GetCallerIdentity"
    assert requests.count("before-send.sts.GetCallerIdentity") == 1  # the guard's answer feeds the header
    assert run("inspect-queue", "-c", config).exit_code == 0


@pytest.mark.parametrize(
    "command",
    [
        ["setup"],
        ["create-queue", "--dry-run"],
        ["deploy"],
        ["teardown", "--yes"],
        ["inspect-queue"],
        ["send-test"],
        ["drain", "--max", "1"],
        ["redrive"],
        ["purge", "--yes"],
        ["doctor"],
        ["worker", "--until-empty"],
        ["verify-identity"],
        ["logs"],
        ["smoke", "--timeout", "1"],
    ],
)
def test_account_id_mismatch_is_exit_2_and_no_other_call(
    command: list[str], endpoint: str, tmp_path: Path, requests: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # drain's default archive
    config = write(tmp_path, {"aws": {"endpoint_url": endpoint, "account_id": "111122223333"}})
    result = run(*command, "-c", config, code=2)
    assert result.stdout == ""
    assert result.stderr == (
        "error: the credentials are for account ****9012, but aws.account_id is ****3333: nothing was changed\n"
    )
    assert requests == ["before-send.sts.GetCallerIdentity"]
    assert snapshot(endpoint) == NOTHING


def test_account_id_is_validated(tmp_path: Path) -> None:
    from txnalert_cli import config as cfg
    from txnalert_cli.errors import ConfigError

    assert cfg.loads("queue: {name: q}\naws: {account_id: '012345678901'}\n", "t.yaml").aws.account_id == (
        "012345678901"
    )
    assert cfg.loads("queue: {name: q}\naws: {account_id: 123456789012}\n", "t.yaml").aws.account_id == ("123456789012")
    assert cfg.loads("queue: {name: q}\n", "t.yaml").aws.account_id is None
    prefix = 't.yaml: aws.account_id: must be a 12-digit AWS account id, quoted like "012345678901", got '
    for value, got in [
        ("0123456701", "a number with fewer than 12 digits: quote it, YAML drops leading zeros of an unquoted number"),
        ("'12345'", "5 digits"),
        ("'1234-5678-9012'", "a value that is not only digits"),
        ("1234567890123", "a 13-digit number"),
        ("true", "a boolean"),
        ("[1]", "a list"),
    ]:
        with pytest.raises(ConfigError) as info:
            cfg.loads(f"queue: {{name: q}}\naws: {{account_id: {value}}}\n", "t.yaml")
        assert info.value.problems == [prefix + got], value


def test_account_guard_that_cannot_read_the_account_stops_everything(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []

    def deny(event_name: str, **kwargs: Any) -> Any:
        sent.append(event_name)
        if event_name.endswith("GetCallerIdentity"):
            body = (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                b"<Message>not allowed</Message></Error></ErrorResponse>"
            )
            return AWSResponse("https://sts.amazonaws.com", 403, {}, _Raw(body))
        return None

    monkeypatch.setattr(aws_module, "SESSION_HOOKS", [("before-send", deny)])
    config = write(tmp_path, {"aws": {"endpoint_url": endpoint, "account_id": MOTO_ACCOUNT}})
    result = run("setup", "-c", config, code=1)
    assert result.stderr == "error: access denied for GetCallerIdentity (AccessDenied): not allowed\n"
    assert sent == ["before-send.sts.GetCallerIdentity"]
    assert snapshot(endpoint) == NOTHING


class _Raw:
    """A raw HTTP body for a botocore AWSResponse."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **kwargs: Any) -> Any:
        yield self.data


# --- 3. target header -----------------------------------------------------------------------------


def _archive(tmp_path: Path) -> str:
    line = {
        "message_id": "m-1",
        "body": "{}",
        "attributes": {},
        "message_attributes": {},
        "receive_count": 1,
        "queue": "txq",
    }
    path = tmp_path / "archive.jsonl"
    path.write_text(json.dumps(line) + "\n")
    return str(path)


HEADER_COMMANDS = [
    ["setup", "--dry-run"],
    ["create-queue", "--dry-run"],
    ["deploy", "--dry-run"],
    ["teardown", "--dry-run"],
    ["purge", "--yes"],
    ["drain", "--max", "1"],
    ["redrive", "--dry-run"],
    ["replay", "ARCHIVE", "--dry-run"],
]


@pytest.mark.parametrize("command", HEADER_COMMANDS, ids=[c[0] for c in HEADER_COMMANDS])
def test_every_planning_or_changing_command_names_its_target_first(
    command: list[str], endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path, {"aws": {"endpoint_url": endpoint}})
    run("create-queue", "-c", config)
    if command[0] == "replay":
        command = ["replay", _archive(tmp_path), "--dry-run"]
    human = run(*command, "-c", config)
    assert human.stderr.splitlines()[0] == (
        f"target: account ****9012, region us-east-1, endpoint {endpoint}, config {config}"
    )
    assert "target:" not in human.stdout
    result = runner.invoke(app, [*command, "-c", config, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["target"] == {
        "account": "****9012",
        "region": "us-east-1",
        "endpoint": endpoint,
        "config": config,
    }
    assert "target:" not in result.stderr


def test_target_header_against_aws_says_aws(against_aws: str, tmp_path: Path) -> None:
    config = write(tmp_path, {})
    result = run("setup", "-c", config, "--dry-run")
    assert result.stderr.splitlines()[0] == f"target: account ****9012, region us-east-1, endpoint AWS, config {config}"


def test_an_account_that_cannot_be_read_is_unknown_never_a_guess(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def deny(event_name: str, **kwargs: Any) -> Any:
        if event_name.endswith("GetCallerIdentity"):
            body = b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>"
            return AWSResponse("https://sts.amazonaws.com", 403, {}, _Raw(body))
        return None

    monkeypatch.setattr(aws_module, "SESSION_HOOKS", [("before-send", deny)])
    config = write(tmp_path, {"aws": {"endpoint_url": endpoint}})
    assert run_json("create-queue", "-c", config, "--dry-run")["target"]["account"] == "unknown"
    # Applied without a readable account, the queues still get their TLS-only policy (from the ARN SQS reports).
    assert run_json("create-queue", "-c", config)["applied"] is True
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    for name in ("txq", "txq-dlq"):
        attrs = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], AttributeNames=["All"])
        policy = json.loads(attrs["Attributes"]["Policy"])
        assert policy["Statement"][0]["Resource"] == attrs["Attributes"]["QueueArn"]


# --- 4. confirmation against AWS ------------------------------------------------------------------


def test_against_aws_setup_asks_and_no_changes_nothing(
    against_aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal(monkeypatch)
    config = write(tmp_path, {})
    result = run("setup", "-c", config, input="n\n", code=1)
    assert "Apply 7 changes to account ****9012 in us-east-1? [y/N]" in result.stderr
    assert result.stderr.endswith("aborted: nothing was changed\n")
    assert "Plan: 7 to create, 0 to update, 0 unchanged." in result.stdout  # the plan, shown before the question
    assert snapshot(against_aws) == NOTHING


def test_against_aws_setup_asks_and_yes_applies(
    against_aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal(monkeypatch)
    config = write(tmp_path, {})
    result = run("setup", "-c", config, input="y\n")
    assert "Apply 7 changes to account ****9012 in us-east-1? [y/N]" in result.stderr
    assert "Applied: 7 created, 0 updated, 0 unchanged." in result.stdout
    state = snapshot(against_aws)
    assert len(state["queues"]) == 2 and list(state["functions"]) == ["transaction-email-processor"]
    again = run("setup", "-c", config)  # nothing pending: nothing to ask
    assert "Apply" not in again.stderr and "No changes: 7 resources up to date." in again.stdout


def test_against_aws_without_a_terminal_and_without_yes_is_exit_2_before_any_change(
    against_aws: str, tmp_path: Path
) -> None:
    config = write(tmp_path, {})
    refused = "setup would apply 7 changes to account ****9012 in us-east-1: pass --yes to confirm (no terminal to ask)"
    for extra in ([], ["--json"]):
        result = run("setup", "-c", config, *extra, code=2)
        if extra:  # with --json, the failure is a JSON object on stdout too
            assert untargeted(json.loads(result.stdout)) == {"error": {"message": refused, "exit_code": 2}}
        else:
            assert result.stdout == ""
        assert result.stderr.splitlines()[-1] == f"error: {refused}"
    result = run("create-queue", "-c", config, code=2)
    assert result.stderr.splitlines()[-1] == (
        "error: create-queue would apply 2 changes to account ****9012 in us-east-1: pass --yes to confirm "
        "(no terminal to ask)"
    )
    assert snapshot(against_aws) == NOTHING
    dry = run_json("setup", "-c", config, "--dry-run")  # a dry run never asks
    assert dry["applied"] is False and snapshot(against_aws) == NOTHING


def test_against_aws_yes_applies_without_asking(against_aws: str, tmp_path: Path) -> None:
    config = write(tmp_path, {})
    assert run_json("create-queue", "-c", config, "--yes")["applied"] is True
    assert queues_in(against_aws, "us-east-1") == ["txq", "txq-dlq"]
    deployed = run_json("deploy", "-c", config, "-y")
    assert deployed["applied"] is True and deployed["summary"]["create"] == 3


def test_deploy_against_aws_asks_too(against_aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path, {})
    run("create-queue", "-c", config, "--yes")
    before = snapshot(against_aws)
    result = run("deploy", "-c", config, code=2)
    assert result.stderr.splitlines()[-1] == (
        "error: deploy would apply 3 changes to account ****9012 in us-east-1: pass --yes to confirm "
        "(no terminal to ask)"
    )
    terminal(monkeypatch)
    result = run("deploy", "-c", config, input="n\n", code=1)
    assert "Apply 3 changes to account ****9012 in us-east-1? [y/N]" in result.stderr
    assert snapshot(against_aws) == before


def test_teardown_and_purge_questions_name_the_target(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, {"aws": {"endpoint_url": endpoint}})
    run("create-queue", "-c", config)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="txq")["QueueUrl"], MessageBody="x")
    terminal(monkeypatch)
    purge = run("purge", "-c", config, input="n\n", code=1)
    assert "Purge txq in account ****9012 in us-east-1: delete its 1 messages" in purge.stderr
    teardown = run("teardown", "-c", config, "--force", input="n\n", code=1)
    assert "Delete these 2 resources from account ****9012 in us-east-1? [y/N]" in teardown.stderr
    assert queues_in(endpoint, "us-east-1") == ["txq", "txq-dlq"]


# --- 5. --detailed-exitcode -----------------------------------------------------------------------


def test_detailed_exitcode(endpoint: str, tmp_path: Path) -> None:
    config = write(tmp_path, {"aws": {"endpoint_url": endpoint}})
    pending = run("setup", "-c", config, "--dry-run", "--detailed-exitcode", code=3)
    assert "Plan: 7 to create, 0 to update, 0 unchanged. Dry run: nothing was changed." in pending.stdout
    assert run_json("setup", "-c", config, "--dry-run", "--detailed-exitcode", code=3)["applied"] is False
    assert snapshot(endpoint) == NOTHING
    run("setup", "-c", config)
    run("setup", "-c", config, "--dry-run", "--detailed-exitcode", code=0)
    run("create-queue", "-c", config, "--dry-run", "--detailed-exitcode", code=0)
    run("deploy", "-c", config, "--dry-run", "--detailed-exitcode", code=0)
    changed = write(tmp_path, {"aws": {"endpoint_url": endpoint}, "queue": {"name": "txq", "receive_wait": 5}})
    run("create-queue", "-c", changed, "--dry-run", "--detailed-exitcode", code=3)


def test_detailed_exitcode_errors_are_1_and_usage_errors_2(tmp_path: Path) -> None:
    unreachable = write(tmp_path, {"aws": {"endpoint_url": "http://127.0.0.1:9"}})
    run("setup", "-c", unreachable, "--dry-run", "--detailed-exitcode", code=1)
    refused = run("setup", "-c", unreachable, "--detailed-exitcode", code=2)
    assert refused.stderr == "error: --detailed-exitcode needs --dry-run: it tells whether the plan has changes\n"
    broken = tmp_path / "broken.yaml"
    broken.write_text("queue: {name: q, fifo: maybe}\n")
    run("setup", "-c", str(broken), "--dry-run", "--detailed-exitcode", code=2)
    run("deploy", "-c", unreachable, "--zip-only", str(tmp_path / "f.zip"), "--detailed-exitcode", code=2)


def test_on_a_real_terminal_create_queue_asks_and_no_changes_nothing(against_aws: str, tmp_path: Path) -> None:
    """The same question on a real terminal (a pseudo-terminal), nothing monkeypatched in the CLI."""
    import os
    import select
    import subprocess
    import sys

    config = write(tmp_path, {})
    script = (
        "import sys\n"
        "from urllib.parse import urlsplit, urlunsplit\n"
        "from txnalert_cli import aws\n"
        f"target = urlsplit({against_aws!r})\n"
        "def route(request, **kwargs):\n"
        "    parts = urlsplit(request.url)\n"
        "    request.url = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ''))\n"
        "aws.SESSION_HOOKS.append(('before-send', route))\n"
        "from txnalert_cli.cli import main\n"
        f"sys.argv = ['txnalert', 'create-queue', '-c', {config!r}]\n"
        "main()\n"
    )
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    seen, answered = b"", False
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, f"no output for 30 s: {seen!r}"  # a guard against a hang, not a speed check
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(master, b"n\n")
                answered = True
    finally:
        os.close(master)
        proc.wait(timeout=30)
    text = seen.decode(errors="replace")
    assert "Apply 2 changes to account ****9012 in us-east-1? [y/N]" in text, text
    assert "aborted: nothing was changed" in text and proc.returncode == 1
    assert queues_in(against_aws, "us-east-1") == []
