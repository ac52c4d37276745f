"""create-queue, send-test and inspect-queue against a real moto server over HTTP, through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import after_target
from txnalert_cli.cli import app

runner = CliRunner()


def write_config(tmp_path: Path, endpoint: str, **queue: Any) -> str:
    data = {"aws": {"endpoint_url": endpoint}, "queue": {"name": "txq", **queue}}
    path = tmp_path / "txnalert.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    return result


def run_json(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def sqs(endpoint: str) -> Any:
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")


def attributes(endpoint: str, name: str) -> dict[str, str]:
    client = sqs(endpoint)
    url = client.get_queue_url(QueueName=name)["QueueUrl"]
    return client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_create_queue_then_zero_changes(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    first = run_json("create-queue", "-c", config)
    assert [(c["name"], c["action"]) for c in first["changes"]] == [("txq-dlq", "create"), ("txq", "create")]
    assert first["applied"] is True and first["summary"] == {"create": 2, "update": 0, "unchanged": 0}
    second = run_json("create-queue", "-c", config)
    assert [c["action"] for c in second["changes"]] == ["unchanged", "unchanged"]
    assert second["applied"] is False

    main, dlq = attributes(endpoint, "txq"), attributes(endpoint, "txq-dlq")
    assert main["VisibilityTimeout"] == "180" and main["MessageRetentionPeriod"] == "345600"
    assert main["ReceiveMessageWaitTimeSeconds"] == "20" and main["MaximumMessageSize"] == "262144"
    assert main["SqsManagedSseEnabled"] == "true" and dlq["SqsManagedSseEnabled"] == "true"
    assert json.loads(main["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 5}
    assert dlq["MessageRetentionPeriod"] == "1209600"
    client = sqs(endpoint)
    tags = client.list_queue_tags(QueueUrl=client.get_queue_url(QueueName="txq")["QueueUrl"])["Tags"]
    assert tags == {"app": "txnalert", "managed-by": "txnalert"}


def test_a_changed_attribute_is_an_update(endpoint: str, tmp_path: Path) -> None:
    run_json("create-queue", "-c", write_config(tmp_path, endpoint))
    config = write_config(tmp_path, endpoint, visibility_timeout=300, dlq={"max_receive_count": 7})
    dry = run_json("create-queue", "-c", config, "--dry-run")
    assert dry["applied"] is False and dry["dry_run"] is True
    assert [c["action"] for c in dry["changes"]] == ["update", "update"]
    assert attributes(endpoint, "txq")["VisibilityTimeout"] == "180"  # dry run changed nothing
    applied = run_json("create-queue", "-c", config)
    main = applied["changes"][1]
    assert main["details"]["VisibilityTimeout"] == {"from": "180", "to": "300"}
    assert main["details"]["RedrivePolicy"]["to"]["maxReceiveCount"] == 7
    assert attributes(endpoint, "txq")["VisibilityTimeout"] == "300"
    assert json.loads(attributes(endpoint, "txq")["RedrivePolicy"])["maxReceiveCount"] == 7
    setup = run_json("setup", "-c", config)
    assert [(c["resource"], c["action"]) for c in setup["changes"]] == [
        ("sqs-queue", "unchanged"),
        ("sqs-queue", "unchanged"),
        ("dynamodb-table", "create"),
        ("ses-identity", "create"),
        ("iam-role", "create"),
        ("lambda-function", "create"),
        ("event-source-mapping", "create"),
    ]
    assert {c["action"] for c in run_json("setup", "-c", config)["changes"]} == {"unchanged"}


def test_dry_run_on_nothing_plans_creates_and_creates_nothing(endpoint: str, tmp_path: Path) -> None:
    result = run("create-queue", "-c", write_config(tmp_path, endpoint), "--dry-run")
    assert result.exit_code == 0
    assert "Plan: 2 to create, 0 to update, 0 unchanged. Dry run: nothing was changed." in result.stdout
    assert sqs(endpoint).list_queues().get("QueueUrls", []) == []


def test_fifo_queue_and_dlq_attributes(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint, fifo=True)
    run_json("create-queue", "-c", config)
    for name in ("txq.fifo", "txq-dlq.fifo"):
        attrs = attributes(endpoint, name)
        assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "true"
    assert json.loads(attributes(endpoint, "txq.fifo")["RedrivePolicy"])["deadLetterTargetArn"].endswith(
        ":txq-dlq.fifo"
    )
    assert [c["action"] for c in run_json("create-queue", "-c", config)["changes"]] == ["unchanged", "unchanged"]


def test_queue_type_mismatch_is_an_error_not_a_new_queue(endpoint: str, tmp_path: Path) -> None:
    run_json("create-queue", "-c", write_config(tmp_path, endpoint))
    result = run("create-queue", "-c", write_config(tmp_path, endpoint, fifo=True))
    assert result.exit_code == 1
    assert after_target(result.stderr).strip() == (
        "error: queue.fifo asks for a FIFO queue 'txq-dlq.fifo' but a standard queue 'txq-dlq' exists; "
        "a queue's type cannot change: delete it or set queue.fifo back"
    )
    assert len(sqs(endpoint).list_queues()["QueueUrls"]) == 2


def test_send_test_counts_and_json_shape(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    run_json("create-queue", "-c", config)
    sent = run_json("send-test", "-c", config, "--count", "25", "--type", "mixed")
    assert sent["sent"] == 25 and sent["failed"] == 0 and sent["not_sent"] == 0
    assert len(set(sent["transaction_ids"])) == 25
    assert set(sent) == {"sent", "failed", "not_sent", "transaction_ids", "elapsed_s"}
    inspected = run_json("inspect-queue", "-c", config)
    main = inspected["queues"][0]
    assert main == {
        "role": "main",
        "name": "txq",
        "url": main["url"],
        "fifo": False,
        "visible": 25,
        "in_flight": 0,
        "delayed": 0,
        "visibility_timeout": 180,
        "retention": 345600,
        "max_receive_count": 5,
    }
    assert inspected["queues"][1]["role"] == "dlq" and inspected["queues"][1]["visible"] == 0
    assert inspected["messages"] == []


def test_sent_messages_follow_the_contract(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    run_json("create-queue", "-c", config)
    run_json(
        "send-test",
        "-c",
        config,
        "--count",
        "3",
        "--amount",
        "1500",
        "--currency",
        "JPY",
        "--type",
        "withdrawal",
        "--account",
        "9876543210",
        "--email",
        "ada@example.com",
    )
    client = sqs(endpoint)
    url = client.get_queue_url(QueueName="txq")["QueueUrl"]
    messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert len(messages) == 3
    body = json.loads(messages[0]["Body"])
    assert body["amount"] == "1500" and body["currency"] == "JPY" and body["type"] == "withdrawal"
    assert body["account_id"] == "9876543210" and body["email"] == "ada@example.com"
    assert body["schema_version"] == 1 and body["transaction_id"].startswith("txn-")
    assert messages[0]["MessageAttributes"]["event_type"] == {"StringValue": "withdrawal", "DataType": "String"}
    assert messages[0]["MessageAttributes"]["schema_version"]["StringValue"] == "1"


def test_fifo_send_dedups_on_transaction_id(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint, fifo=True)
    run_json("create-queue", "-c", config)
    line = {
        "schema_version": 1,
        "transaction_id": "txn-dup-1",
        "account_id": "1234567890",
        "type": "deposit",
        "amount": "10.00",
        "currency": "USD",
        "email": "c@example.com",
        "occurred_at": "2026-11-22T10:00:00Z",
    }
    other = {**line, "transaction_id": "txn-2", "account_id": "5555444433"}
    path = tmp_path / "txns.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in (line, line, other, line)) + "\n")
    sent = run_json("send-test", "-c", config, "--from-file", str(path))
    assert sent["sent"] == 4  # SQS accepts each send...
    client = sqs(endpoint)
    url = client.get_queue_url(QueueName="txq.fifo")["QueueUrl"]
    got = client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], WaitTimeSeconds=0
    )["Messages"]
    got += client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    ids = sorted(json.loads(m["Body"])["transaction_id"] for m in got)
    assert ids == ["txn-2", "txn-dup-1"]  # ...but delivers each transaction once
    groups = {json.loads(m["Body"])["transaction_id"]: m["Attributes"]["MessageGroupId"] for m in got}
    assert groups == {"txn-dup-1": "1234567890", "txn-2": "5555444433"}
    assert all(m["Attributes"]["MessageDeduplicationId"] == json.loads(m["Body"])["transaction_id"] for m in got)


def test_from_file_rejects_bad_lines_and_sends_nothing(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    run_json("create-queue", "-c", config)
    good = {
        "schema_version": 1,
        "transaction_id": "txn-1",
        "account_id": "1234567890",
        "type": "deposit",
        "amount": "10.00",
        "currency": "USD",
        "email": "c@example.com",
        "occurred_at": "2026-11-22T10:00:00Z",
    }
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({**good, "amount": "-5"}) + "\n")
    result = run("send-test", "-c", config, "--from-file", str(path))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"error: {path}: line 2: not valid JSON")
    assert lines[1].startswith(f"error: {path}: line 3: amount:")
    assert lines[-1] == f"error: {path}: nothing was sent"
    assert run_json("inspect-queue", "-c", config)["queues"][0]["visible"] == 0


def test_bad_flags_are_usage_errors(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    result = run("send-test", "-c", config, "--currency", "XYZ")
    assert result.exit_code == 2
    assert result.stderr.strip() == 'error: --currency: unknown currency "XYZ"'
    result = run("send-test", "-c", config, "--type", "refund")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --type must be one of deposit, withdrawal, mixed, got 'refund'"
    result = run("send-test", "-c", config, "--amount", "1.234")
    assert result.exit_code == 2 and result.stderr.startswith("error: --amount: ")
    result = run("inspect-queue", "-c", config, "--watch", "--json")
    assert result.exit_code == 2


def test_peek_shows_messages_and_leaves_the_count_unchanged(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    run_json("create-queue", "-c", config)
    run_json("send-test", "-c", config, "--count", "5")
    result = runner.invoke(app, ["inspect-queue", "-c", config, "--peek", "3", "--json"])
    assert result.exit_code == 0
    peeked = json.loads(result.stdout)
    assert len(peeked["messages"]) == 3
    assert all(m["receive_count"] == 1 for m in peeked["messages"])
    assert peeked["messages"][0]["body"]["schema_version"] == 1  # parsed as JSON
    assert "counts toward max_receive_count = 5" in result.stderr
    after = run_json("inspect-queue", "-c", config)["queues"][0]
    assert (after["visible"], after["in_flight"]) == (5, 0)
    again = run_json("inspect-queue", "-c", config, "--peek", "10")
    assert len(again["messages"]) == 5
    assert {m["receive_count"] for m in again["messages"]} <= {1, 2}


def test_peek_masks_addresses_and_account_numbers_unless_show_pii(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    run_json("create-queue", "-c", config)
    client = sqs(endpoint)
    url = client.get_queue_url(QueueName="txq")["QueueUrl"]
    body = {
        "transaction_id": "txn-1",
        "account_id": "1234567890",
        "email": "customer@example.com",
        "amount": "22334455667788",
        "note": "call 5551234567 or write to other.person@example.org",
    }
    client.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    client.send_message(QueueUrl=url, MessageBody="not json: 1234567890 customer@example.com")
    raw_values = ("1234567890", "customer@example.com", "22334455667788", "5551234567", "other.person@example.org")

    masked = run_json("inspect-queue", "-c", config, "--peek", "5")["messages"]
    by_kind = {isinstance(m["body"], dict): m["body"] for m in masked}
    assert by_kind[True] == {
        "transaction_id": "txn-1",
        "account_id": "****7890",
        "email": "c***@example.com",
        "amount": "****7788",
        "note": "call ****4567 or write to o***@example.org",
    }
    assert by_kind[False] == "not json: ****7890 c***@example.com"
    table = run("inspect-queue", "-c", config, "--peek", "5")
    assert table.exit_code == 0 and "c***@example.com" in table.stdout
    assert not any(value in table.stdout + table.stderr for value in raw_values)

    shown = runner.invoke(app, ["inspect-queue", "-c", config, "--peek", "5", "--show-pii", "--json"])
    assert shown.exit_code == 0
    raw = {isinstance(m["body"], dict): m["body"] for m in json.loads(shown.stdout)["messages"]}
    assert raw[True] == body and raw[False] == "not json: 1234567890 customer@example.com"
    warnings = [line for line in shown.stderr.splitlines() if "--show-pii" in line]
    assert warnings == [
        "warning: --show-pii: message bodies are shown raw, with full email addresses and account numbers"
    ]
    result = run("inspect-queue", "-c", config, "--show-pii")
    assert (result.exit_code, result.stderr) == (2, "error: --show-pii needs --peek\n")


def test_missing_queue_says_how_to_fix(endpoint: str, tmp_path: Path) -> None:
    result = run("inspect-queue", "-c", write_config(tmp_path, endpoint))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: queue 'txq' does not exist at {endpoint}: run `txnalert create-queue`"
    result = run("send-test", "-c", write_config(tmp_path, endpoint))
    assert result.exit_code == 1 and "run `txnalert create-queue`" in result.stderr


def test_unreachable_endpoint_fails_fast_with_one_line(tmp_path: Path) -> None:
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    result = run("inspect-queue", "-c", write_config(tmp_path, f"http://127.0.0.1:{port}"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot reach http://127.0.0.1:{port}: connection failed; "
        "is the emulator running? (`txnalert local up`)\n"
    )
    assert time.monotonic() - started < 10


def test_missing_credentials_and_access_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    path = tmp_path / "real.yaml"
    path.write_text("queue: {name: q}\naws: {endpoint_url: 'https://sqs.invalid.example'}\n")
    result = run("inspect-queue", "-c", str(path))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: no AWS credentials found in the standard chain (environment, ~/.aws, SSO, instance role): "
        "configure one, or pass --profile"
    )
    result = run("inspect-queue", "-c", str(path), "--profile", "nope")
    assert result.exit_code == 2
    assert (
        result.stderr.strip() == "error: The config profile (nope) could not be found: check aws.profile or --profile"
    )


def test_access_denied_is_one_line(endpoint: str, tmp_path: Path) -> None:
    from botocore.exceptions import ClientError

    from txnalert_cli.errors import AccessDenied, from_botocore

    err = ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "GetQueueUrl")
    translated = from_botocore(err)
    assert isinstance(translated, AccessDenied)
    assert translated.message == "access denied for GetQueueUrl (AccessDenied): not allowed"


def test_console_script_in_a_subprocess(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    script = Path(sys.executable).parent / "txnalert"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "txnalert_cli"]
    env = {**os.environ}
    done = subprocess.run([*command, "create-queue", "-c", config], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Applied: 2 created, 0 updated, 0 unchanged." in done.stdout
    sent = subprocess.run(
        [*command, "send-test", "-c", config, "-n", "12", "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert sent.returncode == 0 and json.loads(sent.stdout)["sent"] == 12
    version = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == "txnalert 0.1.0"


# Every command, as `txnalert COMMAND --help` names it.
COMMANDS = [
    "create-queue",
    "setup",
    "deploy",
    "teardown",
    "send-test",
    "inspect-queue",
    "drain",
    "redrive",
    "replay",
    "purge",
    "verify-identity",
    "worker",
    "outbox",
    "demo",
    "doctor",
    "smoke",
    "logs",
    "local up",
    "local status",
    "local down",
]
GLOBAL_FLAGS = ["--config", "--region", "--profile", "--endpoint-url", "--json"]


def test_help_does_not_import_boto3_botocore_moto_or_yaml() -> None:
    """Every --help, in one fresh interpreter: the commands register without importing their implementations."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from txnalert_cli.cli import app\n"
        f"commands = {COMMANDS!r}\n"
        "for args in [['--help'], ['local', '--help'], *([*c.split(), '--help'] for c in commands)]:\n"
        "    r = CliRunner().invoke(app, args)\n"
        "    assert r.exit_code == 0, r.output\n"
        "    shown = ' '.join(r.output.split())\n"
        "    assert 'Example: txnalert' in shown or args in (['--help'], ['local', '--help']), args\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'moto', 'yaml'))\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_lists_the_global_options(command: str) -> None:
    result = run(*command.split(), "--help")
    assert result.exit_code == 0, result.output
    flags = {word.strip(",") for word in result.stdout.split()}
    # demo runs its own emulator (no --region/--profile/--endpoint-url); `local` takes none of the config's.
    expected = {"demo": ["--config", "--json"]}.get(
        command, ["--json"] if command.startswith("local") else GLOBAL_FLAGS
    )
    assert [flag for flag in GLOBAL_FLAGS if flag in flags] == expected, result.stdout
    if "--config" in expected:
        assert "-c" in flags


def seed_queues(tmp_path: Path, endpoint: str) -> str:
    config = write_config(tmp_path, endpoint, visibility_timeout=1200)
    assert run("create-queue", "-c", config).exit_code == 0
    assert run("send-test", "-c", config, "-n", "3").exit_code == 0
    return config


def test_global_options_work_before_or_after_the_command(endpoint: str, tmp_path: Path) -> None:
    config = seed_queues(tmp_path, endpoint)
    forms = [
        ["--json", "-c", config, "inspect-queue"],
        ["inspect-queue", "--json", "-c", config],
        ["--json", "inspect-queue", "-c", config],
        ["-c", config, "inspect-queue", "--json"],
    ]
    results = [runner.invoke(app, args) for args in forms]
    assert [r.exit_code for r in results] == [0, 0, 0, 0], [r.output for r in results]
    shown = [[(q["name"], q["visible"]) for q in json.loads(r.stdout)["queues"]] for r in results]
    assert shown == [[("txq", 3), ("txq-dlq", 0)]] * 4
    # The value after the command wins over the one before it.
    missing = str(tmp_path / "missing.yaml")
    assert runner.invoke(app, ["-c", missing, "inspect-queue", "-c", config]).exit_code == 0
    result = runner.invoke(app, ["-c", config, "inspect-queue", "-c", missing])
    assert result.exit_code == 2 and "missing.yaml" in result.stderr
    # --region before the command applies (the queues are in us-east-1, not in eu-west-1) unless overridden.
    result = runner.invoke(app, ["--region", "eu-west-1", "inspect-queue", "-c", config])
    assert result.exit_code == 1 and "does not exist" in result.stderr
    result = runner.invoke(app, ["--region", "eu-west-1", "inspect-queue", "-c", config, "--region", "us-east-1"])
    assert result.exit_code == 0, result.output
    # The command's own options stay after it; a global option before `local` or `demo` that they do not take
    # is refused, not ignored.
    status = runner.invoke(app, ["--json", "local", "status"])
    assert status.exit_code in (0, 1) and "running" in json.loads(status.stdout)
    result = runner.invoke(app, ["-c", config, "local", "status"])
    assert (result.exit_code, result.stderr) == (2, "error: --config does not apply to `txnalert local status`\n")
    result = runner.invoke(app, ["--region", "eu-west-1", "demo"])
    assert (result.exit_code, result.stderr) == (2, "error: --region does not apply to `txnalert demo`\n")
    # demo's --config (default: the built-in example) takes the value given before the command too.
    result = runner.invoke(app, ["-c", missing, "demo"])
    assert result.exit_code == 2 and "missing.yaml" in result.stderr


def json_error(result: Any, code: int) -> str:
    """The JSON error object a failed command writes to stdout with --json; its message (also on stderr)."""
    assert result.exit_code == code, result.output
    data = json.loads(result.stdout)
    assert set(data) <= {"error", "target"} and set(data["error"]) == {"message", "exit_code"}, data
    assert data["error"]["exit_code"] == code
    return data["error"]["message"]


def test_a_failure_with_json_still_writes_a_json_object(endpoint: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    # A config error, before or after the command; the one line on stderr stays.
    for args in (["doctor", "-c", missing, "--json"], ["--json", "doctor", "-c", missing]):
        result = runner.invoke(app, args)
        message = json_error(result, 2)
        assert "missing.yaml" in message and result.stderr == f"error: {message}\n"
    # An AWS error (no such queue) and a botocore error (nothing listens there).
    config = write_config(tmp_path, endpoint)
    result = runner.invoke(app, ["inspect-queue", "-c", config, "--json"])
    assert json_error(result, 1) == f"queue 'txq' does not exist at {endpoint}: run `txnalert create-queue`"
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = runner.invoke(app, ["inspect-queue", "-c", write_config(tmp_path, f"http://127.0.0.1:{port}"), "--json"])
    assert json_error(result, 1).startswith(f"cannot reach http://127.0.0.1:{port}: connection failed")
    # A usage error Click finds: a bad flag after --json, a bad flag before the command, no such command.
    result = runner.invoke(app, ["inspect-queue", "--json", "--bogus"])
    assert json_error(result, 2) == "No such option: --bogus" and "No such option: --bogus" in result.stderr
    result = runner.invoke(app, ["--json", "--bogus", "inspect-queue"])
    assert json_error(result, 2) == "No such option: --bogus"
    result = runner.invoke(app, ["--json", "no-such-command"])
    assert "no-such-command" in json_error(result, 2)
    result = runner.invoke(app, ["inspect-queue", "--json", "--peek", "-1"])
    assert "--peek" in json_error(result, 2)
    # A usage error of txnalert's own.
    result = runner.invoke(app, ["inspect-queue", "-c", config, "--json", "--watch"])
    assert json_error(result, 2) == "--watch cannot be combined with --json or --peek"
    # Without --json: nothing on stdout.
    result = runner.invoke(app, ["inspect-queue", "--bogus"])
    assert (result.exit_code, result.stdout) == (2, "")


def test_ctrl_c_exits_130_one_way_with_a_json_object(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from txnalert_cli.queue import inspect

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    config = seed_queues(tmp_path, endpoint)
    monkeypatch.setattr(inspect, "inspect", interrupted)
    result = runner.invoke(app, ["inspect-queue", "-c", config])
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", "error: interrupted\n")
    result = runner.invoke(app, ["inspect-queue", "-c", config, "--json"])
    assert json_error(result, 130) == "interrupted" and result.stderr == "error: interrupted\n"


def test_inspect_queue_json_carries_every_column_of_its_table(endpoint: str, tmp_path: Path) -> None:
    config = seed_queues(tmp_path, endpoint)
    table = run("inspect-queue", "-c", config)
    assert table.exit_code == 0, table.output
    header, *rows = [line.split() for line in table.stdout.splitlines() if line.strip()]
    assert " ".join(header) == "QUEUE ROLE TYPE VISIBLE IN FLIGHT DELAYED VISIBILITY RETENTION MAX RECEIVES"
    queues = run_json("inspect-queue", "-c", config)["queues"]
    shown = [
        [
            q["name"],
            q["role"],
            "fifo" if q["fifo"] else "standard",
            str(q["visible"]),
            str(q["in_flight"]),
            str(q["delayed"]),
            f"{q['visibility_timeout']}s",
            f"{q['retention']}s",
            "-" if q["max_receive_count"] is None else str(q["max_receive_count"]),
        ]
        for q in queues
    ]
    assert rows == shown
    assert queues[0]["visibility_timeout"] == 1200  # the config's, not a default
