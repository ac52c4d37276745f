"""The local worker (Lambda's SQS trigger semantics), the outbox, verify-identity and the demo,
against the moto server over HTTP."""

from __future__ import annotations

import http.server
import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import moto_data
from txnalert_cli.aws import Aws
from txnalert_cli.config import parse
from txnalert_cli.local.lambda_runtime import LogSink, lambda_record
from txnalert_cli.local.worker import Worker, build_worker

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def make_config(tmp_path: Path, endpoint: str, **sections: Any) -> str:
    data: dict[str, Any] = {"aws": {"endpoint_url": endpoint}, "queue": {"name": "wq", "visibility_timeout": 180}}
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    path = tmp_path / "txnalert.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def cli(*args: str, code: int = 0) -> Any:
    from txnalert_cli.cli import app

    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


def cli_json(*args: str, code: int = 0) -> Any:
    return json.loads(cli(*args, "--json", code=code).stdout)


def txn(tid: str, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "transaction_id": tid,
        "account_id": "1234567890",
        "type": "deposit",
        "amount": "150.00",
        "currency": "USD",
        "email": "success@simulator.amazonses.com",
        "occurred_at": "2026-11-22T10:00:00Z",
        **extra,
    }


def sqs_client(endpoint: str) -> Any:
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")


def depth(endpoint: str, name: str) -> tuple[int, int]:
    client = sqs_client(endpoint)
    url = client.get_queue_url(QueueName=name)["QueueUrl"]
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def emails(endpoint: str) -> list[dict[str, Any]]:
    return moto_data(endpoint).get("ses", {}).get("RawMessage", [])


# --- the event shape -------------------------------------------------------------------------------


@pytest.mark.parametrize("fifo", [False, True])
def test_records_have_lambdas_exact_shape(endpoint: str, fifo: bool) -> None:
    client = sqs_client(endpoint)
    name = "shape.fifo" if fifo else "shape"
    attributes = {"FifoQueue": "true"} if fifo else {}
    url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    extra = {"MessageGroupId": "g1", "MessageDeduplicationId": "d1"} if fifo else {}
    client.send_message(
        QueueUrl=url,
        MessageBody='{"a": 1}',
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "deposit"}},
        **extra,
    )
    message = client.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])[
        "Messages"
    ][0]
    record = lambda_record(message, arn, "us-east-1")
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn and record["awsRegion"] == "us-east-1"
    assert record["body"] == '{"a": 1}' and record["md5OfBody"] == message["MD5OfBody"]
    assert record["messageAttributes"] == {
        "event_type": {"stringValue": "deposit", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    for key in ("SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"):
        assert record["attributes"][key]
    if fifo:
        assert record["attributes"]["MessageGroupId"] == "g1"
        assert record["attributes"]["MessageDeduplicationId"] == "d1"
        assert record["attributes"]["SequenceNumber"]
    else:
        assert "MessageGroupId" not in record["attributes"]


# --- batch semantics with a plain handler ----------------------------------------------------------


class ScriptedHandler:
    """A handler whose answer is decided per call by the test (no AWS mocking involved)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer(event) if callable(self.answer) else self.answer


def _queue_with(endpoint: str, bodies: list[str]) -> tuple[Any, str, str]:
    client = sqs_client(endpoint)
    url = client.create_queue(QueueName="sem", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for body in bodies:
        client.send_message(QueueUrl=url, MessageBody=body)
    return client, url, arn


def _worker(client: Any, url: str, arn: str, handler: Any, **kw: Any) -> Worker:
    return Worker(
        client,
        url,
        arn,
        handler,
        region="us-east-1",
        function_name="fn",
        timeout_seconds=kw.pop("timeout_seconds", 30),
        batch_size=kw.pop("batch_size", 10),
        wait_seconds=kw.pop("wait_seconds", 0),
        **kw,
    )


def test_failed_items_stay_and_the_rest_are_deleted(endpoint: str) -> None:
    client, url, arn = _queue_with(endpoint, ["ok1", "bad", "ok2"])

    def answer(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"]
        }

    handler = ScriptedHandler(answer)
    stats = _worker(client, url, arn, handler).run(max_messages=3)
    assert (stats.received, stats.succeeded, stats.failed) == (3, 2, 1)
    assert depth(endpoint, "sem") == (0, 1)  # the failed one waits out its visibility timeout, as on Lambda
    context = handler.contexts[0]
    assert context.function_name == "fn" and 0 < context.get_remaining_time_in_millis() <= 30_000
    assert context.aws_request_id


def test_a_handler_exception_fails_the_whole_batch(endpoint: str) -> None:
    client, url, arn = _queue_with(endpoint, ["a", "b"])
    stats = _worker(client, url, arn, ScriptedHandler(RuntimeError("boom")), retry_delay=0).run(max_messages=2)
    assert (stats.succeeded, stats.failed, stats.batch_errors) == (0, 2, 1)
    assert stats.errors == ["batch of 2 failed: RuntimeError: boom"]
    assert depth(endpoint, "sem") == (2, 0)  # nothing deleted; retry_delay 0 made them visible again


def test_an_unknown_item_identifier_fails_the_whole_batch(endpoint: str) -> None:
    client, url, arn = _queue_with(endpoint, ["a"])
    handler = ScriptedHandler({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]})
    stats = _worker(client, url, arn, handler).run(max_messages=1)
    assert stats.batch_errors == 1 and stats.succeeded == 0
    assert depth(endpoint, "sem") == (0, 1)


def test_a_null_failure_list_means_success(endpoint: str) -> None:
    client, url, arn = _queue_with(endpoint, ["a", "b"])
    stats = _worker(client, url, arn, ScriptedHandler({"batchItemFailures": None})).run(max_messages=2)
    assert (stats.succeeded, stats.failed, stats.batch_errors) == (2, 0, 0)
    assert depth(endpoint, "sem") == (0, 0)


def test_a_handler_past_its_timeout_fails_the_batch(endpoint: str) -> None:
    import time

    client, url, arn = _queue_with(endpoint, ["slow"])

    def slow(event: dict[str, Any]) -> dict[str, Any]:
        time.sleep(1.2)
        return {"batchItemFailures": []}

    stats = _worker(client, url, arn, ScriptedHandler(slow), timeout_seconds=1, retry_delay=0).run(max_messages=1)
    assert stats.batch_errors == 1 and stats.errors == [
        "batch of 1 failed: TimeoutError: Task timed out after 1 seconds"
    ]
    assert depth(endpoint, "sem") == (1, 0)  # not deleted: Lambda would have retried it


def test_counts_do_not_depend_on_the_log_level(endpoint: str, tmp_path: Path) -> None:
    config = _setup(tmp_path, endpoint, **{"lambda": {"log_level": "ERROR"}})
    _send_raw(endpoint, "wq", [json.dumps(txn("txn-l1")), json.dumps(txn("txn-l2")), "nope"])
    out = cli_json("worker", "-c", config, "--max-messages", "3", code=1)  # exit 1: "nope" failed
    assert out["emails_sent"] == 2 and out["succeeded"] == 2 and out["failed"] == 1


def test_batches_follow_batch_size(endpoint: str) -> None:
    client, url, arn = _queue_with(endpoint, [f"m{i}" for i in range(7)])
    handler = ScriptedHandler({"batchItemFailures": []})
    stats = _worker(client, url, arn, handler, batch_size=3).run(until_empty=True)
    assert [len(e["Records"]) for e in handler.events] == [3, 3, 1]
    assert stats.succeeded == 7 and depth(endpoint, "sem") == (0, 0)


def test_until_empty_long_polls_only_while_messages_are_in_flight(endpoint: str) -> None:
    client, url, arn = _queue_with(endpoint, ["ok", "again"])
    waits: list[int] = []
    client.meta.events.register(
        "provide-client-params.sqs.ReceiveMessage", lambda params, **_: waits.append(params["WaitTimeSeconds"])
    )
    failed_once: set[str] = set()

    def answer(event: dict[str, Any]) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            if record["body"] == "again" and not failed_once:
                failed_once.add(record["messageId"])
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    worker = _worker(client, url, arn, ScriptedHandler(answer), wait_seconds=1, retry_delay=1)
    stats = worker.run(until_empty=True)
    assert (stats.received, stats.succeeded, stats.failed) == (3, 2, 1)
    assert depth(endpoint, "sem") == (0, 0)
    # Short receives while messages come; a long poll only while the failed one was in flight; none at the end.
    assert waits[0] == 0 and waits[-1] == 0 and 1 in waits
    waits.clear()
    assert worker.run(until_empty=True).received == 0
    assert waits == [0]  # an empty queue: one short receive, then done


# --- the real handler, end to end ------------------------------------------------------------------


def _setup(tmp_path: Path, endpoint: str, **sections: Any) -> str:
    config = make_config(tmp_path, endpoint, **sections)
    cli_json("setup", "-c", config)
    return config


def _send_raw(endpoint: str, queue: str, bodies: list[str], fifo: bool = False) -> None:
    client = sqs_client(endpoint)
    url = client.get_queue_url(QueueName=queue)["QueueUrl"]
    for index, body in enumerate(bodies):
        extra = {"MessageGroupId": "g", "MessageDeduplicationId": str(index)} if fifo else {}
        client.send_message(QueueUrl=url, MessageBody=body, **extra)


def test_worker_end_to_end_valid_duplicate_malformed(endpoint: str, tmp_path: Path) -> None:
    config = _setup(tmp_path, endpoint)
    bodies = [json.dumps(txn(f"txn-{i}")) for i in range(6)]
    bodies += [json.dumps(txn("txn-0")), json.dumps(txn("txn-1"))]  # producer retries: same transactions
    bodies += ["{broken", json.dumps(txn("txn-neg", amount="-1.00"))]
    _send_raw(endpoint, "wq", bodies)
    out = cli_json("worker", "-c", config, "--until-empty", "--retry-delay", "0", code=1)
    assert out["emails_sent"] == 6
    assert out["succeeded"] == 8  # 6 emails + 2 duplicates answered from the idempotency record
    assert out["failed"] == 2 * 5  # each malformed message: 5 receives, then SQS moves it to the DLQ
    assert out["dead_lettered"] == 2 and out["still_failing"] == 2 and out["interrupted"] is False
    by_reason = out["failures_by_reason"]
    assert sorted(by_reason.values()) == [5, 5] and all(r.startswith("invalid transaction: ") for r in by_reason)
    assert any("body: not valid JSON" in r for r in by_reason) and any("amount: " in r for r in by_reason)
    sent = emails(endpoint)
    assert len(sent) == 6
    ids = sorted(r["raw_data"].split("transaction ")[-1].split(".")[0] for r in sent)
    assert ids == [f"txn-{i}" for i in range(6)]
    assert depth(endpoint, "wq") == (0, 0)
    assert depth(endpoint, "wq-dlq") == (2, 0)


def test_throttled_sends_are_retried_and_send_once(endpoint: str, tmp_path: Path) -> None:
    config_path = _setup(tmp_path, endpoint)
    from txnalert_cli.config import load

    config = load(config_path)
    aws = Aws.from_config(config)
    throttled: list[int] = []

    def throttle(**kwargs: Any) -> Any:
        if len(throttled) < 2:
            throttled.append(1)
            return (
                type("R", (), {"status_code": 400, "headers": {}})(),
                {
                    "Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
            )
        return None

    aws.client("sesv2").meta.events.register("before-call.sesv2.SendEmail", throttle)
    _send_raw(endpoint, "wq", [json.dumps(txn("txn-a")), json.dumps(txn("txn-b"))])
    sink = LogSink()
    sink.keep_lines = True
    stats = build_worker(aws, config, sink=sink, retry_delay=0, wait_seconds=0).run(until_empty=True)
    assert throttled == [1, 1]
    assert stats.emails_sent == 2 and stats.failed == 2
    # Both failed once and then succeeded: nothing is left failing, nothing was dead-lettered.
    assert stats.still_failing == 0 and stats.dead_lettered == 0
    assert stats.failures_by_reason == {
        "send failed, will retry: TooManyRequestsException: Maximum sending rate exceeded": 2
    }
    assert len(emails(endpoint)) == 2
    assert [line["message"] for line in sink.lines].count("send failed, will retry") == 2
    assert depth(endpoint, "wq-dlq") == (0, 0)


# --- a failing record: what the worker says, and its exit code ------------------------------------

FAST_RETRIES = {"queue": {"visibility_timeout": 2, "dlq": {"max_receive_count": 2}}, "lambda": {"timeout": 1}}


def test_a_failing_record_is_explained_and_exits_1(endpoint: str, tmp_path: Path) -> None:
    config = _setup(tmp_path, endpoint, **FAST_RETRIES)
    _send_raw(endpoint, "wq", [json.dumps(txn("txn-ok")), "{broken"])
    result = cli("worker", "-c", config, "--until-empty", code=1)
    out = result.stdout.splitlines()
    assert out[0].startswith("received 3, succeeded 1, failed 2, emails sent 1 in ")
    assert "failures by reason:" in out
    assert "  2 × invalid transaction: body: not valid JSON (Expecting property name enclosed in double quotes: " in (
        result.stdout
    )
    assert "dead-lettered: 1 record (received 2 of 2 times; SQS moved it to wq-dlq)" in out
    # While the failed record was invisible, the worker said what it was waiting for, with real numbers.
    assert re.search(
        r"^waiting [12] s for 1 failed record to become visible again "
        r"\(receive 2 of 2; --retry-delay 0 retries at once\)$",
        result.stderr,
        re.M,
    ), result.stderr
    assert re.search(r"^waiting [12] s for 1 failed record to come back and move to wq-dlq", result.stderr, re.M)
    assert "in flight" not in result.stderr  # no live status line when stderr is not a terminal
    assert depth(endpoint, "wq") == (0, 0) and depth(endpoint, "wq-dlq") == (1, 0)


def test_a_record_on_its_last_receive_is_not_counted_dead_lettered_before_sqs_moved_it(
    endpoint: str, tmp_path: Path
) -> None:
    config = _setup(tmp_path, endpoint, queue={"visibility_timeout": 30, "dlq": {"max_receive_count": 1}})
    _send_raw(endpoint, "wq", ["{broken"])
    out = cli_json("worker", "-c", config, "--max-messages", "1", code=1)
    assert (out["received"], out["failed"], out["still_failing"], out["dead_lettered"]) == (1, 1, 1, 0)
    # Still in flight on the main queue: SQS moves it at its next receive, after the visibility timeout.
    assert depth(endpoint, "wq") == (0, 1) and depth(endpoint, "wq-dlq") == (0, 0)


def test_exit_0_when_every_record_received_was_processed(endpoint: str, tmp_path: Path) -> None:
    config = _setup(tmp_path, endpoint)
    _send_raw(endpoint, "wq", [json.dumps(txn("txn-e1"))])
    out = cli_json("worker", "-c", config, "--until-empty")
    assert (out["failed"], out["still_failing"], out["dead_lettered"], out["failures_by_reason"]) == (0, 0, 0, {})
    assert cli("worker", "-c", config, "--until-empty").stdout.startswith("received 0, succeeded 0, failed 0")


def _worker_process(config: str, *args: str, stderr: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "250"}  # a wide terminal: the live line is not cut
    command = [sys.executable, "-m", "txnalert_cli", "worker", "-c", config, *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)


def _read_until(stream: Any, text: str) -> str:
    seen = ""
    for line in iter(stream.readline, ""):
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never appeared in: {seen}")


def test_an_idle_ctrl_c_stops_at_once_with_exit_130(endpoint: str, tmp_path: Path) -> None:
    config = _setup(tmp_path, endpoint)  # receive_wait 20: long polls
    proc = _worker_process(config)
    _read_until(proc.stderr, "worker polling wq")
    time.sleep(1)  # into its long poll
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 130, stderr
    assert stdout.startswith("received 0, succeeded 0, failed 0")
    assert stderr.endswith("interrupted: stopped after the batch in hand\n"), stderr


def test_ctrl_c_settles_the_batch_in_hand_and_a_second_one_quits(endpoint: str, tmp_path: Path) -> None:
    config = _setup(tmp_path, endpoint, **{"lambda": {"batch_size": 2}})
    client = sqs_client(endpoint)
    url = client.get_queue_url(QueueName="wq")["QueueUrl"]
    for start in range(0, 300, 10):
        entries = [{"Id": str(i), "MessageBody": json.dumps(txn(f"txn-c{start + i}"))} for i in range(10)]
        assert not client.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")
    proc = _worker_process(config, "--until-empty", "--verbose")
    _read_until(proc.stderr, '"email sent"')
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    if stdout.startswith("received 300,"):
        pytest.skip("the worker finished before Ctrl-C arrived")
    assert proc.returncode == 130, stderr
    received = int(re.match(r"received (\d+), succeeded \1, failed 0, emails sent \1 ", stdout).group(1))  # type: ignore[union-attr]
    assert 0 < received < 300
    # The batch in hand was finished and settled: nothing this worker received is left in flight.
    assert depth(endpoint, "wq") == (300 - received, 0)
    assert len(emails(endpoint)) == received

    proc = _worker_process(config, "--until-empty", "--verbose")
    _read_until(proc.stderr, '"email sent"')
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr


def test_a_live_status_line_on_a_terminal_only(endpoint: str, tmp_path: Path) -> None:
    config = _setup(tmp_path, endpoint, **FAST_RETRIES)
    _send_raw(endpoint, "wq", [json.dumps(txn("txn-t1")), "{broken"])
    master, slave = pty.openpty()
    proc = _worker_process(config, "--until-empty", stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []

    def drain_terminal() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain_terminal, daemon=True)
    reader.start()
    stdout, _ = proc.communicate(timeout=30)
    reader.join(timeout=5)
    os.close(master)
    terminal = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))
    assert proc.returncode == 1, terminal
    assert re.search(
        r"received \d+ · succeeded \d+ · failed \d+ · emails \d+ · [\d.]+ emails/s · in flight \d+", terminal
    )
    assert "waiting" in terminal and "to become visible again" in terminal
    assert "in flight" not in stdout and stdout.startswith("received 3, succeeded 1, failed 2")


def test_fifo_worker(endpoint: str, tmp_path: Path) -> None:
    config = _setup(tmp_path, endpoint, queue={"fifo": True})
    _send_raw(endpoint, "wq.fifo", [json.dumps(txn(f"txn-f{i}")) for i in range(4)], fifo=True)
    out = cli_json("worker", "-c", config, "--until-empty")
    assert out["emails_sent"] == 4 and out["failed"] == 0
    assert len(emails(endpoint)) == 4


def test_worker_on_a_missing_queue(endpoint: str, tmp_path: Path) -> None:
    result = cli("worker", "-c", make_config(tmp_path, endpoint), "--until-empty", code=1)
    assert result.stderr.strip() == f"error: queue 'wq' does not exist at {endpoint}: run `txnalert create-queue`"


# --- outbox ----------------------------------------------------------------------------------------


def test_outbox_lists_both_parts(endpoint: str, tmp_path: Path) -> None:
    config = _setup(tmp_path, endpoint)
    _send_raw(endpoint, "wq", [json.dumps(txn("txn-o1", customer_name="Ada <b>")), json.dumps(txn("txn-o2"))])
    cli_json("worker", "-c", config, "--until-empty")
    listed = cli_json("outbox", "-c", config)["emails"]
    assert len(listed) == 2
    first = listed[0]
    assert first["to"] == ["success@simulator.amazonses.com"] and first["subject"] == "Transaction Alert"
    assert "Hello Ada <b>," in first["text"] and "Ada &lt;b&gt;" in first["html"]
    assert len(cli_json("outbox", "-c", config, "--limit", "1")["emails"]) == 1
    table = cli("outbox", "-c", config).stdout
    assert "Your account ending 7890 has been credited with $150.00" in table and "2 emails" in table


@pytest.fixture
def fake_server() -> Iterator[Any]:
    """A loopback HTTP server that is not moto: answers with a status per path."""
    statuses: dict[str, int] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses.get(self.path, 404))
            self.end_headers()
            self.wfile.write(b"<html>nope</html>")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.statuses = statuses  # type: ignore[attr-defined]
    yield server
    server.shutdown()


def test_outbox_elsewhere_says_why(tmp_path: Path, fake_server: Any) -> None:
    url = f"http://127.0.0.1:{fake_server.server_address[1]}"
    result = cli("outbox", "-c", make_config(tmp_path, url), code=1)
    assert result.stderr.strip() == (
        f"error: {url} is not a moto server (HTTP 404 for /moto-api/data.json): the outbox exists only on the emulator"
    )
    fake_server.statuses["/moto-api/data.json"] = 500
    result = cli("outbox", "-c", make_config(tmp_path, url), code=1)
    assert "answers HTTP 500 for /moto-api/data.json" in result.stderr and "txnalert local up" in result.stderr
    real = tmp_path / "aws.yaml"
    real.write_text("queue: {name: q}\n")
    result = cli("outbox", "-c", str(real), code=1)
    assert result.stderr.strip() == ("error: the outbox exists only on the emulator; this config points at real AWS")


# --- verify-identity -------------------------------------------------------------------------------


def test_verify_identity_email_and_domain(endpoint: str, tmp_path: Path) -> None:
    config = make_config(tmp_path, endpoint, send_test={"recipient": "someone@example.org"})
    out = cli_json("verify-identity", "-c", config, "alerts@example.com", "example.net")
    assert [c["action"] for c in out["changes"]] == ["create", "create"]
    by_name = {i["identity"]: i for i in out["identities"]}
    assert by_name["alerts@example.com"]["status"] == "Success"
    records = by_name["example.net"]["dkim_records"]
    assert records and all(r["type"] == "CNAME" and r["name"].endswith("._domainkey.example.net") for r in records)
    assert all(r["value"].endswith(".dkim.amazonses.com") for r in records)
    assert out["account"]["sandbox"] is None and out["account"]["source"] == "ses GetSendQuota"
    assert out["account"]["max_send_rate"] > 0
    assert out["warnings"] == [
        "sandbox status is unknown here; if the account is in the SES sandbox, send_test.recipient "
        "someone@example.org must be verified (or use a mailbox simulator address)"
    ]
    again = cli_json("verify-identity", "-c", config, "alerts@example.com", "example.net")
    assert [c["action"] for c in again["changes"]] == ["unchanged", "unchanged"]
    text = cli("verify-identity", "-c", config, "example.net", "--wait", "--timeout", "5").stdout
    assert "DNS records to add for example.net (Easy DKIM):" in text
    assert "SES sandbox: unknown" in text and "send quota: max send rate" in text


def test_verify_identity_rejects_garbage(endpoint: str, tmp_path: Path) -> None:
    result = cli("verify-identity", "-c", make_config(tmp_path, endpoint), "not an identity", code=2)
    assert result.stderr.strip() == "error: 'not an identity' is neither an email address nor a domain"


def test_simulator_recipient_needs_no_warning(endpoint: str, tmp_path: Path) -> None:
    out = cli_json("verify-identity", "-c", make_config(tmp_path, endpoint))
    assert out["warnings"] == []


# --- demo ------------------------------------------------------------------------------------------


def test_demo_counts_add_up() -> None:
    out = cli_json("demo", "--count", "8")
    assert out["ok"] is True
    assert out["emails"] == 8 and out["sent"] == {"valid": 8, "duplicates": 3, "malformed": 3}
    assert len(out["dlq"]) == 3 and all(m["reason"] != "unknown" for m in out["dlq"])
    assert {c["check"] for c in out["checks"] if c["ok"]} == {
        "emails = valid unique transactions",
        "exactly one email per transaction",
        "DLQ = malformed messages",
        "every email to the test recipient",
        "queue empty",
    }


def test_demo_with_a_fifo_config(tmp_path: Path) -> None:
    path = tmp_path / "fifo.yaml"
    path.write_text("queue: {name: demo-fifo, fifo: true}\n")
    out = cli_json("demo", "--count", "5", "-c", str(path))
    assert out["ok"] is True and out["emails"] == 5 and len(out["dlq"]) == 3


def test_handler_settings_mirror_the_config() -> None:
    from txnalert_cli.infra.kinds.function import handler_settings

    config = parse(
        {
            "queue": {"name": "q", "fifo": True},
            "ses": {"subject": "Hi", "configuration_set": "cs"},
            "idempotency": {"ttl_hours": 2},
        },
        "t",
    )
    settings = handler_settings(config)
    assert (settings.subject, settings.configuration_set, settings.fifo) == ("Hi", "cs", True)
    assert settings.idempotency_ttl_seconds == 7200 and settings.idempotency_table == "txnalert-idempotency"


def test_demo_needs_no_aws_config_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_PROFILE", "a-profile-that-does-not-exist")
    out = cli_json("demo", "--count", "2")
    assert out["ok"] is True and out["emails"] == 2
