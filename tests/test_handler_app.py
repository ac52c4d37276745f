"""The Lambda handler (txnalert_cli/handler/app.py) against a real moto server over HTTP.

Events have the documented Lambda SQS shapes (tests/events/*.json: standard and FIFO records with attributes,
lowercase messageAttributes, md5OfBody, eventSource, eventSourceARN, awsRegion); only ids and bodies vary.
Clients are real boto3 clients with endpoint_url=moto; failures are produced without mocking boto3.
"""

from __future__ import annotations

import copy
import email
import email.policy
import hashlib
import io
import json
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from txnalert_cli.handler import app
from txnalert_cli.handler.app import (
    IDEMPOTENCY_DATA_ATTR,
    IDEMPOTENCY_EXPIRY_ATTR,
    IDEMPOTENCY_IN_PROGRESS_EXPIRY_ATTR,
    IDEMPOTENCY_KEY_ATTR,
    IDEMPOTENCY_STATUS_ATTR,
    AlertHandler,
    ConfigurationError,
    LocalContext,
    Settings,
    idempotency_key,
    is_fifo_event,
)

EVENTS = Path(__file__).parent / "events"
TABLE = "txnalert-idempotency"
SENDER = "alerts@example.com"
CUSTOMER = "customer@example.com"
ACCOUNT = "1234567890"


def moto_data(url: str) -> dict:
    """GET /moto-api/data.json (as conftest.moto_data; conftest is not importable as a module here)."""
    with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=10) as resp:
        return json.loads(resp.read())


NO_RETRIES = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10)


# --- fixtures and helpers ------------------------------------------------------------------------


class Aws:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.sesv2 = self.client("sesv2")
        self.ses = self.client("ses")
        self.dynamodb = self.client("dynamodb")

    def client(self, name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("config", NO_RETRIES)
        return boto3.client(name, endpoint_url=kwargs.pop("endpoint_url", self.endpoint), **kwargs)

    def sent(self) -> list[dict]:
        return moto_data(self.endpoint).get("ses", {}).get("RawMessage", [])

    def record_for(self, transaction_id: str) -> dict | None:
        item = self.dynamodb.get_item(
            TableName=TABLE, Key={IDEMPOTENCY_KEY_ATTR: {"S": idempotency_key(transaction_id)}}, ConsistentRead=True
        ).get("Item")
        return item

    def all_records(self) -> list[dict]:
        return self.dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]


@pytest.fixture
def aws(endpoint: str) -> Aws:
    env = Aws(endpoint)
    env.dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": IDEMPOTENCY_KEY_ATTR, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": IDEMPOTENCY_KEY_ATTR, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    env.dynamodb.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": IDEMPOTENCY_EXPIRY_ATTR}
    )
    env.ses.verify_email_identity(EmailAddress=SENDER)
    return env


class Harness:
    """An AlertHandler wired to moto, with its log lines captured."""

    def __init__(self, aws: Aws, **settings: Any) -> None:
        self.aws = aws
        self.log = io.StringIO()
        settings.setdefault("sender", f"Bank Alerts <{SENDER}>")
        settings.setdefault("idempotency_table", TABLE)
        self.settings = Settings(**settings)
        self.sesv2 = aws.client("sesv2")
        self.handler = AlertHandler(
            self.settings, sesv2_client=self.sesv2, dynamodb_client=aws.dynamodb, log_stream=self.log
        )

    def __call__(self, event: dict) -> dict:
        return self.handler(event, LocalContext(timeout_seconds=60))

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.getvalue().splitlines() if line.strip()]

    def messages(self) -> list[str]:
        return [line["message"] for line in self.lines()]


def body(transaction_id: str = "txn-0001", **overrides: Any) -> str:
    data: dict[str, Any] = {
        "schema_version": 1,
        "transaction_id": transaction_id,
        "account_id": ACCOUNT,
        "type": "deposit",
        "amount": "150.00",
        "currency": "USD",
        "email": CUSTOMER,
        "customer_name": "Ada Lovelace",
        "balance": "1024.50",
        "occurred_at": "2026-11-22T10:00:00Z",
    }
    data.update(overrides)
    return json.dumps({k: v for k, v in data.items() if v is not None})


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def make_record(template: dict, text: str, *, message_id: str | None = None, group: str | None = None) -> dict:
    record = copy.deepcopy(template)
    record["messageId"] = message_id or str(uuid.uuid4())
    record["receiptHandle"] = "AQEB" + uuid.uuid4().hex
    record["body"] = text
    record["md5OfBody"] = hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - what SQS sends
    if group is not None:
        record["attributes"]["MessageGroupId"] = group
        record["attributes"]["MessageDeduplicationId"] = hashlib.sha256(text.encode()).hexdigest()
    return record


def standard_event(*records: tuple[str, str] | str) -> dict:
    template = load_event("sqs_standard.json")["Records"][0]
    out = []
    for item in records:
        message_id, text = item if isinstance(item, tuple) else (None, item)
        out.append(make_record(template, text, message_id=message_id))
    return {"Records": out}


def fifo_event(*records: tuple[str, str, str]) -> dict:
    """records: (message_id, group, body) in delivery order."""
    template = load_event("sqs_fifo.json")["Records"][0]
    out = []
    for sequence, (message_id, group, text) in enumerate(records, start=1):
        record = make_record(template, text, message_id=message_id, group=group)
        record["attributes"]["SequenceNumber"] = str(18849496460467696128 + sequence)
        out.append(record)
    return {"Records": out}


def failures(response: dict) -> list[str]:
    assert set(response) == {"batchItemFailures"}
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def parse_sent(message: dict) -> email.message.EmailMessage:
    parsed = email.message_from_string(message["raw_data"], policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def plain_text(message: dict) -> str:
    part = parse_sent(message).get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def throttle_hook(code: str = "TooManyRequestsException", status: int = 429) -> Callable[..., Any]:
    """A before-call hook that answers SendEmail with an SES error instead of sending the request."""

    def hook(**kwargs: Any) -> tuple[AWSResponse, dict]:
        parsed = {
            "Error": {"Code": code, "Message": "Maximum sending rate exceeded."},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
        }
        return AWSResponse("https://email.us-east-1.amazonaws.com", status, {}, None), parsed

    return hook


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the documented events, end to end ------------------------------------------------------------


def test_documented_standard_event_sends_one_email_per_record(aws: Aws):
    harness = Harness(aws)
    event = load_event("sqs_standard.json")
    event["Records"][0]["body"] = body("txn-0001")
    event["Records"][1]["body"] = body("txn-0002", type="withdrawal", amount="20", customer_name=None)

    assert failures(harness(event)) == []

    sent = aws.sent()
    assert len(sent) == 2
    by_subject_line = {parse_sent(m)["To"]: m for m in sent}
    assert set(by_subject_line) == {CUSTOMER}
    texts = sorted(plain_text(m) for m in sent)
    assert texts[0].startswith("Hello Ada Lovelace,\n\nYour account ending 7890 has been credited with $150.00")
    assert texts[1].startswith("Hello,\n\nYour account ending 7890 has been debited with $20.00")
    for message in sent:
        parsed = parse_sent(message)
        assert parsed["Subject"] == "Transaction Alert"
        assert parsed["From"] == f"Bank Alerts <{SENDER}>"
        assert parsed.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
        assert message["destinations"] == [CUSTOMER]
        assert message["source"] == SENDER  # the verified identity; the display name is in the header
        assert ACCOUNT not in message["raw_data"]

    # one COMPLETED idempotency record per transaction, holding the SES message id
    ses_ids = {m["id"] for m in sent}
    for transaction_id in ("txn-0001", "txn-0002"):
        item = aws.record_for(transaction_id)
        assert item is not None
        assert item[IDEMPOTENCY_STATUS_ATTR]["S"] == "COMPLETED"
        data = json.loads(item[IDEMPOTENCY_DATA_ATTR]["S"])
        assert data["transaction_id"] == transaction_id
        assert data["ses_message_id"] in ses_ids
        expires = int(item[IDEMPOTENCY_EXPIRY_ATTR]["N"])
        assert abs(expires - (time.time() + 86400)) < 60
        assert IDEMPOTENCY_IN_PROGRESS_EXPIRY_ATTR in item  # the context's deadline was used
    assert len(aws.all_records()) == 2

    sent_lines = [line for line in harness.lines() if line["message"] == "email sent"]
    assert {line["correlation_id"] for line in sent_lines} == {"txn-0001", "txn-0002"}
    for line in sent_lines:
        assert line["email"] == "c***@example.com"
        assert line["account"] == "****7890"
        assert line["ses_message_id"] in ses_ids
        assert line["service"] == "txnalert"
        assert line["level"] == "INFO"


def test_same_transaction_twice_in_a_batch_and_a_redelivered_event_send_one_email(aws: Aws):
    harness = Harness(aws)
    event = standard_event(("m-1", body("txn-dup")), ("m-2", body("txn-dup")), ("m-3", body("txn-other")))
    assert failures(harness(event)) == []
    assert len(aws.sent()) == 2

    # SQS redelivers the whole batch (e.g. the invocation timed out after sending)
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "2"
    assert failures(harness(event)) == []
    # a producer retry: same transaction, new SQS message id
    assert failures(harness(standard_event(body("txn-dup")))) == []

    sent = aws.sent()
    assert len(sent) == 2
    assert sorted(json.loads(r[IDEMPOTENCY_DATA_ATTR]["S"])["ses_message_id"] for r in aws.all_records()) == sorted(
        m["id"] for m in sent
    )
    messages = harness.messages()
    assert messages.count("email sent") == 2
    # batch 1: m-2; batch 2: m-1, m-2, m-3; batch 3: the producer retry
    assert messages.count("duplicate transaction, email already sent") == 5


def test_invalid_records_fail_alone_without_email_or_idempotency_record(aws: Aws):
    harness = Harness(aws)
    bad = {
        "not-json": "this is not json",
        "array": "[1, 2, 3]",
        "missing": body("txn-missing", email=None),
        "amount": body("txn-amount", amount="-5"),
        "currency": body("txn-currency", currency="XYZ"),
        "type": body("txn-type", type="refund"),
        "address": body("txn-address", email="customer@@example.com"),
        "precision": body("txn-precision", amount="1.234"),
    }
    event = standard_event(("good", body("txn-good")), *bad.items())

    assert sorted(failures(harness(event))) == sorted(bad)

    assert len(aws.sent()) == 1
    assert [r[IDEMPOTENCY_KEY_ATTR]["S"] for r in aws.all_records()] == [idempotency_key("txn-good")]
    invalid = {line["message_id"]: line for line in harness.lines() if line["message"] == "invalid transaction"}
    assert set(invalid) == set(bad)
    assert invalid["amount"]["reasons"] == ['amount: must be greater than 0, got "-5"']
    assert invalid["amount"]["correlation_id"] == "txn-amount"
    assert invalid["amount"]["level"] == "WARNING"
    assert invalid["currency"]["reasons"] == ['currency: unknown currency "XYZ"']
    assert invalid["missing"]["reasons"] == ["email: missing"]
    assert invalid["not-json"]["reasons"][0].startswith("body: not valid JSON (")
    assert invalid["array"]["reasons"] == ["body: must be a JSON object"]
    assert invalid["address"]["reasons"] == ["email: not a valid email address"]


def test_a_batch_where_every_record_fails_is_still_a_partial_response(aws: Aws):
    harness = Harness(aws)
    event = standard_event(("a", "{}"), ("b", "nope"))
    assert sorted(failures(harness(event))) == ["a", "b"]
    assert aws.sent() == []


def test_fifo_failure_holds_back_the_rest_of_its_group_only(aws: Aws):
    harness = Harness(aws)  # fifo=None: detected from the ".fifo" eventSourceARN
    event = fifo_event(
        ("a1", "acct-A", body("txn-a1")),
        ("b1", "acct-B", body("txn-b1")),
        ("a2", "acct-A", body("txn-a2", amount="0")),  # invalid: blocks a3
        ("b2", "acct-B", body("txn-b2")),
        ("a3", "acct-A", body("txn-a3")),
        ("c1", "acct-C", body("txn-c1")),
    )
    assert is_fifo_event(event)

    assert failures(harness(event)) == ["a2", "a3"]

    sent_ids = sorted(json.loads(r[IDEMPOTENCY_DATA_ATTR]["S"])["transaction_id"] for r in aws.all_records())
    assert sent_ids == ["txn-a1", "txn-b1", "txn-b2", "txn-c1"]
    assert len(aws.sent()) == 4
    assert aws.record_for("txn-a3") is None  # never attempted
    skipped = [line for line in harness.lines() if line["message"].startswith("skipped")]
    assert [line["message_id"] for line in skipped] == ["a3"]


def test_fifo_send_failure_also_holds_back_its_group(aws: Aws):
    harness = Harness(aws, fifo=True)
    calls: list[str] = []

    def fail_first_send(**kwargs: Any) -> Any:
        calls.append("send")
        return throttle_hook()(**kwargs) if len(calls) == 1 else None

    harness.sesv2.meta.events.register("before-call.sesv2.SendEmail", fail_first_send)
    event = fifo_event(
        ("a1", "g1", body("txn-a1")),
        ("a2", "g1", body("txn-a2")),
        ("b1", "g2", body("txn-b1")),
    )
    assert failures(harness(event)) == ["a1", "a2"]
    assert len(aws.sent()) == 1
    assert aws.record_for("txn-a1") is None


def test_fifo_setting_can_be_forced_off(aws: Aws):
    harness = Harness(aws, fifo=False)
    event = fifo_event(("a1", "g", body("txn-a1", amount="0")), ("a2", "g", body("txn-a2")))
    assert failures(harness(event)) == ["a1"]
    assert len(aws.sent()) == 1


# --- SES trouble -----------------------------------------------------------------------------------


def test_throttled_send_fails_the_record_leaves_no_completed_record_and_a_retry_sends_once(aws: Aws):
    harness = Harness(aws)
    seen_during_send: list[dict | None] = []

    def throttled(**kwargs: Any) -> Any:
        seen_during_send.append(aws.record_for("txn-throttled"))
        return throttle_hook()(**kwargs)

    harness.sesv2.meta.events.register("before-call.sesv2.SendEmail", throttled, unique_id="throttle")
    event = standard_event(("m-throttled", body("txn-throttled")), ("m-invalid", "{}"))

    assert sorted(failures(harness(event))) == ["m-invalid", "m-throttled"]

    assert aws.sent() == []
    # the record was INPROGRESS while SES was called, and Powertools deleted it when the send raised
    assert len(seen_during_send) == 1
    during = seen_during_send[0]
    assert during is not None and during[IDEMPOTENCY_STATUS_ATTR]["S"] == "INPROGRESS"
    assert aws.record_for("txn-throttled") is None
    (line,) = [line for line in harness.lines() if line["message"] == "send failed, will retry"]
    assert line["error_code"] == "TooManyRequestsException"
    assert line["correlation_id"] == "txn-throttled"
    assert line["message_id"] == "m-throttled"

    # SQS redelivers after the visibility timeout; SES is healthy again
    harness.sesv2.meta.events.unregister("before-call.sesv2.SendEmail", unique_id="throttle")
    retry = standard_event(("m-throttled", body("txn-throttled")))
    retry["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    assert failures(harness(retry)) == []
    assert failures(harness(retry)) == []  # and once more: still one email
    assert len(aws.sent()) == 1
    item = aws.record_for("txn-throttled")
    assert item is not None and item[IDEMPOTENCY_STATUS_ATTR]["S"] == "COMPLETED"


@pytest.mark.parametrize(("code", "status"), [("Throttling", 400), ("InternalFailure", 500), ("Whatever", 503)])
def test_retryable_ses_errors(aws: Aws, code: str, status: int):
    harness = Harness(aws)
    harness.sesv2.meta.events.register("before-call.sesv2.SendEmail", throttle_hook(code, status))
    assert failures(harness(standard_event(("m", body("txn-1"))))) == ["m"]
    assert "send failed, will retry" in harness.messages()
    assert aws.all_records() == []


def test_unreachable_ses_fails_the_record_and_leaves_no_record(aws: Aws):
    settings = Settings(sender=SENDER, idempotency_table=TABLE)
    dead_ses = aws.client("sesv2", endpoint_url=f"http://127.0.0.1:{closed_port()}")
    log = io.StringIO()
    handler = AlertHandler(settings, sesv2_client=dead_ses, dynamodb_client=aws.dynamodb, log_stream=log)

    assert failures(handler(standard_event(("m", body("txn-1"))), None)) == ["m"]

    assert aws.all_records() == []
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    (line,) = [line for line in lines if line["message"] == "send failed, will retry"]
    assert line["error_code"] == "EndpointConnectionError"


def test_unverified_sender_is_a_logged_permanent_rejection(aws: Aws):
    harness = Harness(aws, sender="nobody@unverified.example")
    assert failures(harness(standard_event(("m", body("txn-1"))))) == ["m"]
    assert aws.sent() == []
    assert aws.all_records() == []
    (line,) = [line for line in harness.lines() if line["message"] == "email rejected by SES"]
    assert line["level"] == "ERROR"
    assert line["error_code"] == "MessageRejected"
    assert line["reason"] == "MessageRejected: Did not have authority to send from email n***@unverified.example"


def test_a_missing_idempotency_table_fails_records_without_sending(aws: Aws):
    harness = Harness(aws, idempotency_table="no-such-table")
    assert failures(harness(standard_event(("m", body("txn-1"))))) == ["m"]
    assert aws.sent() == []
    (line,) = [line for line in harness.lines() if line["message"] == "idempotency store failed, will retry"]
    assert "ResourceNotFoundException" in line["reason"]


def test_a_transaction_in_progress_elsewhere_is_retried_later(aws: Aws):
    now = time.time()
    aws.dynamodb.put_item(
        TableName=TABLE,
        Item={
            IDEMPOTENCY_KEY_ATTR: {"S": idempotency_key("txn-busy")},
            IDEMPOTENCY_STATUS_ATTR: {"S": "INPROGRESS"},
            IDEMPOTENCY_EXPIRY_ATTR: {"N": str(int(now + 3600))},
            IDEMPOTENCY_IN_PROGRESS_EXPIRY_ATTR: {"N": str(int((now + 60) * 1000))},
        },
    )
    harness = Harness(aws)
    assert failures(harness(standard_event(("m", body("txn-busy"))))) == ["m"]
    assert aws.sent() == []
    assert "transaction already in progress elsewhere, will retry" in harness.messages()


def test_ses_v1_client_is_the_fallback(aws: Aws):
    log = io.StringIO()
    handler = AlertHandler(
        Settings(sender=SENDER, idempotency_table=TABLE),
        ses_client=aws.ses,
        dynamodb_client=aws.dynamodb,
        log_stream=log,
    )
    assert failures(handler(standard_event(body("txn-v1")), LocalContext())) == []
    (message,) = aws.sent()
    assert parse_sent(message)["To"] == CUSTOMER


def test_configuration_set_is_passed_to_ses(aws: Aws):
    harness = Harness(aws, configuration_set="txnalert-events")
    captured: list[dict] = []
    harness.sesv2.meta.events.register(
        "provide-client-params.sesv2.SendEmail", lambda params, **kwargs: captured.append(dict(params))
    )
    assert failures(harness(standard_event(body("txn-1")))) == []
    assert captured[0]["ConfigurationSetName"] == "txnalert-events"
    assert "Destination" not in captured[0]  # recipients come from the MIME To header
    plain = Harness(aws)
    captured_plain: list[dict] = []
    plain.sesv2.meta.events.register(
        "provide-client-params.sesv2.SendEmail", lambda params, **kwargs: captured_plain.append(dict(params))
    )
    assert failures(plain(standard_event(body("txn-2")))) == []
    assert "ConfigurationSetName" not in captured_plain[0]


# --- logs ------------------------------------------------------------------------------------------


def test_logs_never_contain_a_full_address_or_account(aws: Aws):
    harness = Harness(aws)
    rejecting = Harness(aws, sender=f"{CUSTOMER}")  # unverified: SES's error names the address
    event = standard_event(
        ("ok", body("txn-ok")),
        ("bad-amount", body("txn-bad", amount="-1")),
        ("bad-email", body("txn-bad-email", email=f"{CUSTOMER} ")),
        ("bad-json", f'{{"email": "{CUSTOMER}", "account_id": "{ACCOUNT}"'),
        ("bad-account", body("txn-bad-account", account_id=ACCOUNT + "-x")),
    )
    harness(event)
    rejecting(standard_event(("rejected", body("txn-rejected"))))
    logs = harness.log.getvalue() + rejecting.log.getvalue()
    assert logs.count("\n") >= 6
    assert CUSTOMER not in logs
    assert ACCOUNT not in logs
    assert "c***@example.com" in logs and "****7890" in logs
    for line in harness.lines() + rejecting.lines():
        assert line["service"] == "txnalert"


def test_event_without_records_is_a_no_op(aws: Aws):
    harness = Harness(aws)
    assert harness({"Records": []}) == {"batchItemFailures": []}
    assert harness({}) == {"batchItemFailures": []}
    assert "no SQS records in event" in harness.messages()


# --- settings and the Lambda entry point ----------------------------------------------------------


def test_settings_from_env_defaults():
    settings = Settings.from_env({"TXNALERT_SENDER": SENDER, "TXNALERT_IDEMPOTENCY_TABLE": TABLE})
    assert settings == Settings(
        sender=SENDER,
        subject="Transaction Alert",
        idempotency_table=TABLE,
        idempotency_ttl_seconds=86400,
        configuration_set=None,
        fifo=None,
        log_level="INFO",
        service="txnalert",
    )


def test_settings_from_env_all_values():
    settings = Settings.from_env(
        {
            "TXNALERT_SENDER": SENDER,
            "TXNALERT_SUBJECT": "Your transaction",
            "TXNALERT_IDEMPOTENCY_TABLE": TABLE,
            "TXNALERT_IDEMPOTENCY_TTL_SECONDS": "3600",
            "TXNALERT_CONFIGURATION_SET": "events",
            "TXNALERT_FIFO": "TRUE",
            "LOG_LEVEL": "debug",
            "POWERTOOLS_SERVICE_NAME": "alerts",
        }
    )
    assert (settings.subject, settings.idempotency_ttl_seconds, settings.configuration_set) == (
        "Your transaction",
        3600,
        "events",
    )
    assert (settings.fifo, settings.log_level, settings.service) == (True, "DEBUG", "alerts")
    base = {"TXNALERT_SENDER": SENDER, "TXNALERT_IDEMPOTENCY_TABLE": TABLE}
    assert Settings.from_env({**base, "TXNALERT_FIFO": "false"}).fifo is False
    assert Settings.from_env({**base, "POWERTOOLS_LOG_LEVEL": "WARNING", "LOG_LEVEL": "DEBUG"}).log_level == "WARNING"
    assert Settings.from_env(base).start_margin_ms is None
    assert Settings.from_env({**base, "TXNALERT_START_MARGIN_MS": "1500"}).start_margin_ms == 1500


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "missing environment variable(s) TXNALERT_SENDER, TXNALERT_IDEMPOTENCY_TABLE"),
        ({"TXNALERT_SENDER": SENDER}, "missing environment variable(s) TXNALERT_IDEMPOTENCY_TABLE"),
        (
            {"TXNALERT_SENDER": " ", "TXNALERT_IDEMPOTENCY_TABLE": TABLE},
            "missing environment variable(s) TXNALERT_SENDER",
        ),
        (
            {"TXNALERT_SENDER": SENDER, "TXNALERT_IDEMPOTENCY_TABLE": TABLE, "TXNALERT_FIFO": "maybe"},
            'TXNALERT_FIFO must be "true" or "false", got \'maybe\'',
        ),
        (
            {"TXNALERT_SENDER": SENDER, "TXNALERT_IDEMPOTENCY_TABLE": TABLE, "TXNALERT_IDEMPOTENCY_TTL_SECONDS": "1d"},
            "TXNALERT_IDEMPOTENCY_TTL_SECONDS must be a whole number of seconds, got '1d'",
        ),
        (
            {"TXNALERT_SENDER": SENDER, "TXNALERT_IDEMPOTENCY_TABLE": TABLE, "TXNALERT_IDEMPOTENCY_TTL_SECONDS": "0"},
            "idempotency_ttl_seconds must be a positive number of seconds",
        ),
        (
            {"TXNALERT_SENDER": SENDER, "TXNALERT_IDEMPOTENCY_TABLE": TABLE, "TXNALERT_START_MARGIN_MS": "1.5"},
            "TXNALERT_START_MARGIN_MS must be a whole number of milliseconds >= 0, got '1.5'",
        ),
        (
            {"TXNALERT_SENDER": SENDER, "TXNALERT_IDEMPOTENCY_TABLE": TABLE, "TXNALERT_START_MARGIN_MS": "-5"},
            "TXNALERT_START_MARGIN_MS must be a whole number of milliseconds >= 0, got '-5'",
        ),
    ],
)
def test_settings_from_env_errors(environ: dict, message: str):
    with pytest.raises(ConfigurationError, match=None) as info:
        Settings.from_env(environ)
    assert message in str(info.value)


def test_lambda_handler_without_configuration_fails_clearly_at_first_invocation(monkeypatch: pytest.MonkeyPatch):
    for name in ("TXNALERT_SENDER", "TXNALERT_IDEMPOTENCY_TABLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(app, "_handler", None)
    with pytest.raises(ConfigurationError, match="TXNALERT_SENDER, TXNALERT_IDEMPOTENCY_TABLE"):
        app.lambda_handler(standard_event(body()), LocalContext())


def test_lambda_handler_builds_itself_from_the_environment(aws: Aws, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TXNALERT_SENDER", SENDER)
    monkeypatch.setenv("TXNALERT_IDEMPOTENCY_TABLE", TABLE)
    monkeypatch.setenv("TXNALERT_SUBJECT", "Account activity")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", f"txnalert-test-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)  # boto3 picks the endpoint from the environment
    monkeypatch.setattr(app, "_handler", None)

    event = load_event("sqs_standard.json")
    event["Records"][0]["body"] = body("txn-env-1")
    event["Records"][1]["body"] = body("txn-env-1")
    assert app.lambda_handler(event, LocalContext()) == {"batchItemFailures": []}
    assert app.get_handler() is app.get_handler()
    (message,) = aws.sent()
    assert parse_sent(message)["Subject"] == "Account activity"


def test_idempotency_key_matches_powertools():
    # "<prefix>#md5(json.dumps(transaction_id))", as Powertools' BasePersistenceLayer computes it
    expected = hashlib.md5(b'"txn-0001"').hexdigest()  # noqa: S324
    assert idempotency_key("txn-0001") == f"txnalert.send_alert#{expected}"


# --- the start margin: no record is started too close to the invocation's end ----------------------


class RunningDown(LocalContext):
    """A Lambda context whose remaining time the test sets (the rest as LocalContext)."""

    remaining_ms = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_record_is_not_started_with_less_than_the_margin_left(aws: Aws):
    harness = Harness(aws, start_margin_ms=3000)
    event = standard_event(("m1", body("txn-late")))
    context = RunningDown()
    context.remaining_ms = 1200
    assert failures(harness.handler(event, context)) == ["m1"]
    assert harness.handler.failures["m1"] == "not started: 1.2 s left of the invocation, below the 3.0 s margin"
    # Neither SES nor the idempotency table was touched.
    assert aws.sent() == [] and aws.all_records() == []
    (line,) = [line for line in harness.lines() if line["message"] == "not started"]
    assert (line["level"], line["remaining_ms"], line["margin_ms"]) == ("WARNING", 1200, 3000)
    # Retried by SQS in a fresh invocation with time enough: sent, once.
    assert failures(harness.handler(event, RunningDown())) == []
    assert len(aws.sent()) == 1


def test_the_default_margin_is_a_tenth_of_a_short_invocation(aws: Aws):
    harness = Harness(aws)  # start_margin_ms None: min(5 s, a tenth of the invocation's time)
    context = RunningDown()
    context.remaining_ms = 2000  # a 2 s timeout, as in tests and demos: margin 0.2 s

    def time_runs_out(**kwargs: Any) -> None:
        context.remaining_ms = 150

    harness.sesv2.meta.events.register("before-call.sesv2.SendEmail", time_runs_out)
    event = standard_event(("m1", body("txn-first")), ("m2", body("txn-second")))
    assert failures(harness.handler(event, context)) == ["m2"]
    assert harness.handler.failures["m2"] == "not started: 0.1 s left of the invocation, below the 0.2 s margin"
    assert len(aws.sent()) == 1 and aws.record_for("txn-second") is None
    assert app.default_start_margin_ms(2000) == 200 and app.default_start_margin_ms(900_000) == 5000


def test_local_context_counts_down():
    context = LocalContext(timeout_seconds=5)
    assert 4000 < context.get_remaining_time_in_millis() <= 5000
    assert LocalContext(timeout_seconds=0).get_remaining_time_in_millis() == 0
