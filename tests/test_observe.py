"""smoke and logs against the moto server: a healthy pipeline passes, each way of breaking it fails
with its reason; the worker's log lines land in the function's log group and filter by transaction."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from txnalert_cli.cli import app
from txnalert_cli.logs import LogEvent, filter_pattern, matches, parse_since

runner = CliRunner()


def config_file(tmp_path: Path, endpoint: str, **queue: Any) -> str:
    data = {"aws": {"endpoint_url": endpoint}, "queue": {"name": "smq", **queue}}
    path = tmp_path / "txnalert.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def setup(tmp_path: Path, endpoint: str, **queue: Any) -> str:
    config = config_file(tmp_path, endpoint, **queue)
    result = invoke("setup", "-c", config)
    assert result.exit_code == 0, result.output
    return config


def test_smoke_passes_on_a_healthy_pipeline(endpoint: str, tmp_path: Path) -> None:
    config = setup(tmp_path, endpoint)
    junit = tmp_path / "smoke.xml"
    result = invoke("smoke", "-c", config, "--timeout", "20", "--json", "--junit", str(junit))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["ok"] is True and out["transaction_id"].startswith("txn-") and out["ses_message_id"]
    assert [s["step"] for s in out["steps"]] == [
        "sent",
        "received by the function",
        "email accepted by SES",
        "record completed",
    ]
    assert all(s["ok"] for s in out["steps"]) and 0 < out["latency_s"] < 20
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("4", "0")
    # The worker wrote the handler's lines to the function's log group: logs --txn finds them.
    logs = invoke("logs", "-c", config, "--txn", out["transaction_id"], "--json")
    lines = json.loads(logs.stdout)["events"]
    assert lines and all(line["correlation_id"] == out["transaction_id"] for line in lines)
    assert any(line["message"] == "email sent" and line["ses_message_id"] == out["ses_message_id"] for line in lines)
    assert "@simulator.amazonses.com" in json.dumps(lines) and "success@" not in json.dumps(lines)


def test_smoke_fails_without_a_consumer(endpoint: str, tmp_path: Path) -> None:
    config = setup(tmp_path, endpoint)
    junit = tmp_path / "smoke.xml"
    result = invoke("smoke", "-c", config, "--timeout", "2", "--no-worker", "--junit", str(junit))
    assert result.exit_code == 1
    assert (
        "FAILED: no completed idempotency record after 2 s: nothing consumes the queue on the emulator "
        "(run `txnalert worker` or drop --no-worker)"
    ) in result.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "1" and suite.get("skipped") == "2"
    failure = suite.find("testcase[@name='received by the function']/failure")
    assert failure is not None and "nothing consumes the queue" in failure.get("message", "")


def test_smoke_fails_with_a_broken_sender_identity(endpoint: str, tmp_path: Path) -> None:
    config = setup(tmp_path, endpoint)
    boto3.client("sesv2", endpoint_url=endpoint, region_name="us-east-1").delete_email_identity(
        EmailIdentity="alerts@example.com"
    )
    result = invoke("smoke", "-c", config, "--timeout", "20", "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["ok"] is False and out["ses_message_id"] is None
    assert out["reason"].startswith("the handler logged 'email rejected by SES': ")


def test_smoke_fails_when_the_message_is_dead_lettered(endpoint: str, tmp_path: Path) -> None:
    config = config_file(tmp_path, endpoint, visibility_timeout=1, dlq={"max_receive_count": 1})
    Path(config).write_text(Path(config).read_text() + "lambda: {timeout: 1}\n")
    assert invoke("setup", "-c", config).exit_code == 0
    # The idempotency table disappears behind the tool's back: every attempt fails and is retried by SQS.
    boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1").delete_table(
        TableName="txnalert-idempotency"
    )
    result = invoke("smoke", "-c", config, "--timeout", "20", "--json")
    assert result.exit_code == 1
    reason = json.loads(result.stdout)["reason"]
    assert reason.startswith("the DLQ grew from 0 to 1 messages during the run (the handler logged: ")
    assert "idempotency store failed, will retry" in reason


def test_smoke_scenarios_and_bad_flags(endpoint: str, tmp_path: Path) -> None:
    config = setup(tmp_path, endpoint)
    out = json.loads(invoke("smoke", "-c", config, "--scenario", "bounce", "--timeout", "20", "--json").stdout)
    assert out["ok"] is True and out["recipient"] == "bounce@simulator.amazonses.com"
    result = invoke("smoke", "-c", config, "--scenario", "explode")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --scenario must be one of success, bounce, complaint, ooto, got 'explode'"


def test_logs_filters_and_errors(endpoint: str, tmp_path: Path) -> None:
    config = setup(tmp_path, endpoint)
    result = invoke("logs", "-c", config)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: log group /aws/lambda/transaction-email-processor does not exist yet: nothing has logged "
        "(deploy the function, or run `txnalert worker` on the emulator)"
    )
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="smq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    sent = json.loads(invoke("send-test", "-c", config, "-n", "2", "--json").stdout)
    assert invoke("worker", "-c", config, "--max-messages", "3").exit_code == 1  # "not json" failed
    document = invoke("logs", "-c", config, "--level", "WARNING", "--json")
    assert document.exit_code == 0 and set(json.loads(document.stdout)) == {"events"}
    errors = json.loads(document.stdout)["events"]
    assert errors and {e["level"] for e in errors} <= {"WARNING", "ERROR"}
    # --json-lines: the same events, one compact JSON object per line.
    lines = invoke("logs", "-c", config, "--level", "WARNING", "--json-lines")
    assert lines.exit_code == 0 and len(lines.stdout.splitlines()) == len(errors)
    assert [json.loads(line) for line in lines.stdout.splitlines()] == errors
    none = invoke("logs", "-c", config, "--txn", "txn-nothing-logged", "--json")
    assert (none.exit_code, json.loads(none.stdout)) == (0, {"events": []})
    # --follow does not end: one document at the end cannot be; JSON Lines can.
    follow = invoke("logs", "-c", config, "--follow", "--json")
    assert follow.exit_code == 2 and json.loads(follow.stdout)["error"]["exit_code"] == 2
    assert (
        follow.stderr == "error: --follow does not end, and --json prints one document at the end: use --json-lines\n"
    )
    assert any(e["message"] == "invalid transaction" for e in errors)
    one = sent["transaction_ids"][0]
    table = invoke("logs", "-c", config, "--txn", one).stdout
    assert one in table and "email sent" in table and sent["transaction_ids"][1] not in table
    assert invoke("logs", "-c", config, "--since", "soon").exit_code == 2
    assert invoke("logs", "-c", config, "--level", "LOUD").exit_code == 2
    result = invoke("logs", "-c", config, "--since", "99999999999d")
    assert result.exit_code == 2 and result.stderr.strip() == "error: --since 99999999999d reaches back before 1970"
    result = invoke("logs", "-c", config, "--txn", 'x" || $.level = "INFO')
    assert result.exit_code == 2 and result.stderr.startswith("error: --txn must be a transaction id")
    assert all(line["service"] == "transaction-email-processor" for line in errors)


def test_smoke_checks_the_junit_path_before_sending(endpoint: str, tmp_path: Path) -> None:
    config = setup(tmp_path, endpoint)
    result = invoke("smoke", "-c", config, "--junit", str(tmp_path / "missing" / "smoke.xml"))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: --junit {tmp_path / 'missing' / 'smoke.xml'}: directory {tmp_path / 'missing'} does not exist"
    )
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    attrs = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="smq")["QueueUrl"], AttributeNames=["All"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"  # nothing was sent


def test_client_side_filters_match_the_server_patterns() -> None:
    event = LogEvent(0, "s", "{}", {"level": "INFO", "correlation_id": "txn-1", "message": "email sent"})
    assert matches(event, txn="txn-1", min_level=None) and not matches(event, txn="txn-2", min_level=None)
    assert not matches(event, txn=None, min_level=30) and matches(event, txn=None, min_level=20)
    assert filter_pattern("txn-1", None) == '{ $.correlation_id = "txn-1" }'
    assert filter_pattern(None, 40) == '{ $.level = "ERROR" || $.level = "CRITICAL" }'
    assert parse_since("10m", now=1000.0) == 400_000 and parse_since("1d", now=100_000.0) == 13_600_000


def test_smoke_refuses_a_sender_no_identity_covers(endpoint: str, tmp_path: Path) -> None:
    config = setup(tmp_path, endpoint)
    Path(config).write_text(Path(config).read_text() + "ses: {sender: bob@other.com}\n")
    result = invoke("smoke", "-c", config, "--timeout", "5")
    assert result.exit_code == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: {config}: ses.sender: bob@other.com is not covered by ses.identities, and the account has "
        "neither bob@other.com nor other.com as a verified SES identity: add other.com (or bob@other.com) to "
        "ses.identities"
    ]
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    attrs = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="smq")["QueueUrl"], AttributeNames=["All"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"  # nothing was sent


# --- smoke names the handler's failure at once ----------------------------------------------------


def _smoke_aws(config_path: str) -> tuple[Any, Any]:
    from txnalert_cli.aws import Aws
    from txnalert_cli.config import load

    config = load(config_path)
    return Aws.from_config(config), config


def _fast_retries(tmp_path: Path, endpoint: str) -> tuple[Any, Any]:
    """A pipeline whose failed records come back after 2 s."""
    config_path = config_file(tmp_path, endpoint, visibility_timeout=2)
    Path(config_path).write_text(Path(config_path).read_text() + "lambda: {timeout: 1}\n")
    assert invoke("setup", "-c", config_path).exit_code == 0
    return _smoke_aws(config_path)


def _ses_error(code: str, status: int, message: str, times: int | None = None) -> Any:
    """A before-call hook answering SendEmail with an SES error (`times` calls, or every call)."""
    from botocore.awsrequest import AWSResponse

    calls: list[int] = []

    def hook(**kwargs: Any) -> Any:
        if times is not None and len(calls) >= times:
            return None
        calls.append(1)
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
        }
        return AWSResponse("https://email.us-east-1.amazonaws.com", status, {}, None), parsed

    hook.calls = calls  # type: ignore[attr-defined]
    return hook


DENIED: list[int] = []


def _deny_log_reads(**kwargs: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    DENIED.append(1)

    parsed = {
        "Error": {"Code": "AccessDeniedException", "Message": "not allowed"},
        "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}},
    }
    return AWSResponse("https://logs.us-east-1.amazonaws.com", 400, {}, None), parsed


def test_smoke_fails_at_once_from_the_worker_even_when_the_logs_cannot_be_read(endpoint: str, tmp_path: Path) -> None:
    from txnalert_cli.local.smoke import run_smoke

    aws, config = _smoke_aws(setup(tmp_path, endpoint))
    aws.client("sesv2").meta.events.register(
        "before-call.sesv2.SendEmail", _ses_error("MessageRejected", 400, "Email address is not verified.")
    )
    aws.client("logs").meta.events.register("before-call.cloudwatch-logs.FilterLogEvents", _deny_log_reads)
    DENIED.clear()
    result = run_smoke(aws, config, timeout=30)
    assert DENIED, "the logs were readable: the test proved nothing"
    assert result.ok is False
    assert result.reason == (
        "the handler logged 'email rejected by SES': MessageRejected: Email address is not verified."
    )
    assert result.step("email accepted by SES").ok is False


@pytest.mark.parametrize(
    ("fast", "timeout", "expected"),
    [
        (  # visibility timeout 180 s: the retry cannot come within --timeout, so waiting is pointless
            False,
            30,
            "the handler logged 'send failed, will retry': Throttling: Maximum sending rate exceeded.; SQS retries "
            "it only after the queue's visibility timeout (180 s), beyond --timeout 30 s",
        ),
        (  # visibility timeout 2 s: smoke waits for the retries, and the timeout names the last failure
            True,
            3,
            "no completed idempotency record after 3 s: the worker did not finish the transaction; the handler last "
            "logged 'send failed, will retry': Throttling: Maximum sending rate exceeded.",
        ),
    ],
)
def test_smoke_names_a_retryable_failure(
    endpoint: str, tmp_path: Path, fast: bool, timeout: int, expected: str
) -> None:
    from txnalert_cli.local.smoke import run_smoke

    aws, config = _fast_retries(tmp_path, endpoint) if fast else _smoke_aws(setup(tmp_path, endpoint))
    aws.client("sesv2").meta.events.register(
        "before-call.sesv2.SendEmail", _ses_error("Throttling", 400, "Maximum sending rate exceeded.")
    )
    result = run_smoke(aws, config, timeout=timeout)
    assert result.ok is False and result.reason == expected


def test_smoke_waits_through_a_retryable_failure_it_can_outlast_and_says_so(endpoint: str, tmp_path: Path) -> None:
    from txnalert_cli.local.smoke import run_smoke

    aws, config = _fast_retries(tmp_path, endpoint)
    throttle = _ses_error("Throttling", 400, "Maximum sending rate exceeded.", times=1)
    aws.client("sesv2").meta.events.register("before-call.sesv2.SendEmail", throttle)
    notes: list[str] = []
    result = run_smoke(aws, config, timeout=30, notify=notes.append)
    assert throttle.calls == [1]
    assert result.ok is True and result.ses_message_id
    assert notes == [
        "the handler logged 'send failed, will retry': Throttling: Maximum sending rate exceeded.; "
        "SQS retries it after the queue's visibility timeout (2 s)"
    ]


def test_no_log_line_echoes_an_account_number(endpoint: str, tmp_path: Path) -> None:
    """Issue 10 item 13, reproduced: `"amount": "22334455667788"` reached worker --verbose, `txnalert logs`
    and CloudWatch whole, through the validation reason. An older raw line is masked on display too."""
    config = setup(tmp_path, endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="smq")["QueueUrl"]
    body = {
        "schema_version": 1,
        "transaction_id": "txn-pii",
        "account_id": "1234567890",
        "type": "deposit",
        "amount": "22334455667788",
        "currency": "USD",
        "email": "customer@example.com",
        "occurred_at": "2026-11-22T10:00:00Z",
    }
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    worker = invoke("worker", "-c", config, "--verbose", "--max-messages", "1")
    assert "invalid transaction" in worker.stderr
    assert '"****7788' in worker.stderr or "****7788" in worker.stderr
    logs = boto3.client("logs", endpoint_url=endpoint, region_name="us-east-1")
    group = "/aws/lambda/transaction-email-processor"
    stored = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert stored and any("****7788" in line for line in stored)
    # An older line, written before masking existed: raw in CloudWatch, masked by `txnalert logs`.
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    raw = {
        "level": "WARNING",
        "message": "invalid transaction",
        "correlation_id": "txn-old",
        "reasons": ['amount: must be at most 1000000000000, got "22334455667788"', "email: customer@example.com"],
    }
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(raw)}],
    )
    table = invoke("logs", "-c", config)
    as_json = invoke("logs", "-c", config, "--json")
    assert table.exit_code == 0 and as_json.exit_code == 0
    assert "txn-old" in table.stdout and "****7788" in table.stdout and "c***@example.com" in table.stdout
    for text in (worker.stdout, worker.stderr, *stored[:-1], table.stdout, as_json.stdout):
        assert "22334455667788" not in text and "customer@example.com" not in text and "1234567890" not in text
