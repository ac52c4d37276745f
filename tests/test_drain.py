"""drain and purge against the moto server: through the CLI, the library, and killed subprocesses."""

from __future__ import annotations

import functools
import json
import os
import random
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import after_target, untargeted
from txnalert_cli.cli import app
from txnalert_cli.queue.archive import ARCHIVE_FIELDS

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


# --- helpers (also used by test_redrive.py) ------------------------------------------------------


def write_config(tmp_path: Path, endpoint: str, **queue: Any) -> str:
    data = {"aws": {"endpoint_url": endpoint}, "queue": {"name": "txq", **queue}}
    path = tmp_path / "txnalert.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def new_client(endpoint: str) -> Any:
    """A client of its own, for a test that registers event hooks on it."""
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")


@functools.cache
def client(endpoint: str) -> Any:
    """The shared client of the helpers below (no hooks on it)."""
    return new_client(endpoint)


def create_queues(tmp_path: Path, endpoint: str, **queue: Any) -> str:
    config = write_config(tmp_path, endpoint, **queue)
    result = runner.invoke(app, ["create-queue", "-c", config, "--json"])
    assert result.exit_code == 0, result.output
    return config


def url_of(endpoint: str, name: str) -> str:
    return client(endpoint).get_queue_url(QueueName=name)["QueueUrl"]


def body(n: int, **extra: Any) -> str:
    return json.dumps({"transaction_id": f"txn-{n:04d}", "amount": "10.00", **extra})


def seed(endpoint: str, name: str, count: int, *, start: int = 0, group: bool = False, **extra: Any) -> list[str]:
    """Send `count` messages (with message attributes, one binary) to a queue; returns their bodies."""
    sqs = client(endpoint)
    url = url_of(endpoint, name)
    bodies = [body(n, **extra) for n in range(start, start + count)]
    for first in range(0, count, 10):
        entries = []
        for i, text in enumerate(bodies[first : first + 10]):
            entry: dict[str, Any] = {
                "Id": str(i),
                "MessageBody": text,
                "MessageAttributes": {
                    "event_type": {"DataType": "String", "StringValue": "deposit"},
                    "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff" + text[-6:].encode()},
                },
            }
            if group:
                entry["MessageGroupId"] = f"acct-{(start + first + i) % 2}"
                entry["MessageDeduplicationId"] = json.loads(text)["transaction_id"]
            entries.append(entry)
        response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not response.get("Failed"), response
    return bodies


def counts(endpoint: str, name: str) -> tuple[int, int]:
    attrs = client(endpoint).get_queue_attributes(QueueUrl=url_of(endpoint, name), AttributeNames=["All"])
    a = attrs["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def receive_all(endpoint: str, name: str) -> list[dict[str, Any]]:
    """Every visible message of a (shallow) queue, left in flight."""
    sqs = client(endpoint)
    url = url_of(endpoint, name)
    got: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return got
        got.extend(batch)


def archive_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def invoke(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def invoke_json(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


# --- drain ---------------------------------------------------------------------------------------


def test_drain_archives_every_message_then_empties_the_queue(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    bodies = seed(endpoint, "txq", 25)
    archive = tmp_path / "out.jsonl"
    result = untargeted(invoke_json("drain", "-c", config, "--to", str(archive)))
    assert result == {
        "drained": 25,
        "archive": str(archive),
        "queue": "txq",
        "skipped": 0,
        "skipped_near_dlq": 0,
        "not_released": 0,
        "delete_failed": [],
        "stopped": None,
        "elapsed_s": result["elapsed_s"],
        "left": 0,
        "in_flight": 0,
        "verified": True,
        "mismatch": [],
    }
    lines = archive_lines(archive)
    assert len(lines) == 25
    assert sorted(line["body"] for line in lines) == sorted(bodies)
    assert len({line["message_id"] for line in lines}) == 25
    first = lines[0]
    assert set(first) == {*ARCHIVE_FIELDS, "drained_at"}
    assert first["queue"] == "txq" and first["receive_count"] == 1
    assert first["attributes"]["ApproximateReceiveCount"] == "1" and "SentTimestamp" in first["attributes"]
    tail = first["body"][-6:].encode()
    assert first["message_attributes"] == {
        "event_type": {"DataType": "String", "StringValue": "deposit"},
        "raw": {"DataType": "Binary", "BinaryValue": __import__("base64").b64encode(b"\x00\xff" + tail).decode()},
    }
    assert counts(endpoint, "txq") == (0, 0)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # the archive holds personal data


def test_drain_human_output_and_default_archive_name(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 12)
    monkeypatch.chdir(tmp_path)
    result = invoke("drain", "-c", config)
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert re.fullmatch(r"drained 12 messages from txq in \d+\.\d\d s \(\d+ msgs/s\)", out[0]), out
    match = re.fullmatch(r"archive: (drained-txq-\d{8}T\d{6}Z\.jsonl)", out[1])
    assert match, out
    assert out[2] == "0 left, 0 in flight on txq"
    assert after_target(result.stderr) == f"archiving to {match.group(1)}\n"
    assert len(archive_lines(tmp_path / match.group(1))) == 12


def test_drain_match_takes_only_matching_messages(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    euros = seed(endpoint, "txq", 10, currency="EUR")
    seed(endpoint, "txq", 10, start=100, currency="USD")
    archive = tmp_path / "eur.jsonl"
    result = invoke("drain", "-c", config, "--to", str(archive), "--match", '"EUR"', "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["drained"] == 10 and data["skipped"] == 10 and data["stopped"] is None
    assert sorted(line["body"] for line in archive_lines(archive)) == sorted(euros)
    assert counts(endpoint, "txq") == (10, 0)  # the others were made visible again when the scan ended
    assert (
        "warning: 10 messages did not match --match: each was received once (its receive count went up by 1), "
        "held in flight until the scan ended, then made visible again"
    ) in result.stderr
    left = receive_all(endpoint, "txq")
    assert all('"USD"' in m["Body"] for m in left) and len(left) == 10


def test_match_on_a_deep_queue_receives_each_other_message_once(endpoint: str, tmp_path: Path) -> None:
    """60 messages that do not match, then the 3 that do: the scan must get past the first ten."""
    config = create_queues(tmp_path, endpoint)  # max_receive_count 5
    others = seed(endpoint, "txq", 60, currency="USD")
    euros = seed(endpoint, "txq", 3, start=100, currency="EUR")
    archive = tmp_path / "eur.jsonl"
    result = invoke("drain", "-c", config, "--to", str(archive), "--match", '"EUR"', "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["drained"], data["skipped"], data["stopped"]) == (3, 60, None)
    assert (data["skipped_near_dlq"], data["not_released"]) == (0, 0)
    assert sorted(line["body"] for line in archive_lines(archive)) == sorted(euros)
    assert counts(endpoint, "txq") == (60, 0) and counts(endpoint, "txq-dlq") == (0, 0)
    left = receive_all(endpoint, "txq")
    assert sorted(m["Body"] for m in left) == sorted(others)  # none of them was deleted
    # This receive is their second: the drain received each of them exactly once.
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in left] == ["2"] * 60


def test_match_extends_the_hold_while_a_long_scan_runs(endpoint: str, tmp_path: Path) -> None:
    """A scan longer than the visibility timeout: held messages must not come back and be received again."""
    from txnalert_cli.queue.consumer import Consumer, Outcome

    create_queues(tmp_path, endpoint)
    others: list[str] = []
    for start in (0, 100, 200):
        others += seed(endpoint, "txq", 10, start=start, currency="USD")
        seed(endpoint, "txq", 1, start=start + 50, currency="EUR")
    handled: list[str] = []

    def slow(messages: list[dict[str, Any]]) -> Outcome:
        time.sleep(0.8)
        handled.extend(m["Body"] for m in messages)
        return Outcome(done=messages)

    url = url_of(endpoint, "txq")
    consumer = Consumer(
        client(endpoint), url, slow, threads=1, match='"EUR"', max_receive_count=5, visibility_timeout=2
    )
    result = consumer.run()
    assert result.elapsed_s > 2.3  # longer than the 2-second visibility timeout
    assert (result.deleted, result.skipped, result.received_again, result.stopped) == (3, 30, 0, "")
    assert result.error is None
    assert all('"EUR"' in b for b in handled)
    left = receive_all(endpoint, "txq")
    assert sorted(m["Body"] for m in left) == sorted(others)
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in left} == {"2"}


def test_match_stops_at_the_first_message_whose_hold_lapsed(endpoint: str, tmp_path: Path) -> None:
    """If holds cannot be extended, a skipped message comes back: stop before it is received yet again.

    Its receive count went up by 2 in this drain, never more; with the default max_receive_count of 5 it
    stays 2 receives short of the margin (5 - 1) that the scan must never cross."""
    from botocore.awsrequest import AWSResponse

    from txnalert_cli.queue.consumer import Consumer, Outcome

    create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 10, currency="USD")
    seed(endpoint, "txq", 1, start=50, currency="EUR")
    seed(endpoint, "txq", 10, start=100, currency="EUR")
    sqs = new_client(endpoint)
    extensions: list[int] = []

    def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["api_params"] = params

    def refuse_extensions(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        entries = context["api_params"]["Entries"]
        if entries[0]["VisibilityTimeout"] == 0:
            return None  # releases go through
        extensions.append(len(entries))
        return AWSResponse("", 200, {}, None), {"Successful": [{"Id": e["Id"]} for e in entries], "Failed": []}

    sqs.meta.events.register("before-parameter-build.sqs.ChangeMessageVisibilityBatch", keep_params)
    sqs.meta.events.register("before-call.sqs.ChangeMessageVisibilityBatch", refuse_extensions)

    def slow(messages: list[dict[str, Any]]) -> Outcome:
        time.sleep(1.2)
        return Outcome(done=messages)

    url = url_of(endpoint, "txq")
    consumer = Consumer(sqs, url, slow, threads=1, match='"EUR"', max_receive_count=5, visibility_timeout=1)
    result = consumer.run()
    assert extensions  # the keeper tried
    assert result.stopped == "hold-lapsed:2" and result.received_again >= 1 and result.error is None
    assert counts(endpoint, "txq-dlq") == (0, 0)
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in receive_all(endpoint, "txq") if "USD" in m["Body"]} == {
        "3"
    }


def test_drain_max_stops_exactly_there(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 40)
    archive = tmp_path / "some.jsonl"
    data = invoke_json("drain", "-c", config, "--to", str(archive), "--max", "15", "--threads", "3")
    assert data["drained"] == 15 and data["stopped"] == "max"
    assert len(archive_lines(archive)) == 15
    assert counts(endpoint, "txq") == (25, 0)


def test_drain_dlq_leaves_the_main_queue_alone(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 5)
    dead = seed(endpoint, "txq-dlq", 7, start=50)
    archive = tmp_path / "dead.jsonl"
    data = invoke_json("drain", "-c", config, "--dlq", "--to", str(archive))
    assert data["drained"] == 7 and data["queue"] == "txq-dlq"
    lines = archive_lines(archive)
    assert sorted(line["body"] for line in lines) == sorted(dead)
    assert {line["queue"] for line in lines} == {"txq-dlq"}
    assert counts(endpoint, "txq-dlq") == (0, 0) and counts(endpoint, "txq") == (5, 0)


def test_drain_appends_after_a_torn_last_line(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 3)
    archive = tmp_path / "old.jsonl"
    archive.write_text('{"message_id": "m-1", "body": "x"}\n{"message_id": "cut-sh')
    invoke_json("drain", "-c", config, "--to", str(archive))
    text = archive.read_text().splitlines()
    assert text[:2] == ['{"message_id": "m-1", "body": "x"}', '{"message_id": "cut-sh']
    assert len(text) == 5 and all(json.loads(line)["queue"] == "txq" for line in text[2:])


def test_drain_bad_input_is_refused_before_any_receive(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 3)
    cases = [
        (["--to", str(tmp_path / "nope" / "a.jsonl")], f"error: --to {tmp_path / 'nope' / 'a.jsonl'}: directory "),
        (["--to", str(tmp_path)], f"error: --to {tmp_path}: is a directory"),
        (["--no-archive"], "error: --no-archive deletes messages without keeping a copy: add --yes to confirm"),
        (["--no-archive", "--yes", "--to", "x.jsonl"], "error: --no-archive cannot be combined with --to"),
        (["--max", "0"], "error: --max must be at least 1, got 0"),
        (["--threads", "40"], "error: --threads must be between 1 and 16, got 40"),
        (["--match", ""], "error: --match must not be empty"),
    ]
    for args, message in cases:
        result = invoke("drain", "-c", config, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith(message), (args, result.stderr)
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        if not os.access(readonly, os.W_OK):  # root can write anywhere
            result = invoke("drain", "-c", config, "--to", str(readonly / "a.jsonl"))
            assert result.exit_code == 2 and "permission denied" in result.stderr
    finally:
        readonly.chmod(0o700)
    # Nothing was received: each message's first receive is this one.
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in receive_all(endpoint, "txq")} == {"1"}


def test_drain_of_a_missing_queue_is_queue_not_found(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    result = invoke("drain", "-c", config, "--to", str(tmp_path / "a.jsonl"))
    assert result.exit_code == 1
    assert after_target(result.stderr) == (
        f"error: queue 'txq' does not exist at {endpoint}: run `txnalert create-queue`\n"
    )
    assert not (tmp_path / "a.jsonl").exists()


def test_no_archive_needs_yes_and_warns(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 4)
    result = invoke("drain", "-c", config, "--no-archive", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["drained"] == 4 and json.loads(result.stdout)["archive"] is None
    assert "warning: --no-archive: messages drained from txq are deleted without a copy" in result.stderr
    assert counts(endpoint, "txq") == (0, 0)


def test_delete_failures_are_reported_and_stay_on_the_queue(endpoint: str, tmp_path: Path) -> None:
    """A DeleteMessageBatch that reports one entry Failed: that message is archived AND still queued."""
    from botocore.awsrequest import AWSResponse

    from txnalert_cli.queue.archive import Archive
    from txnalert_cli.queue.drain import drain

    create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 10)
    sqs = new_client(endpoint)
    real = client(endpoint)

    def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["api_params"] = params

    def fail_first(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = context["api_params"]
        entries = params["Entries"]
        done = real.delete_message_batch(QueueUrl=params["QueueUrl"], Entries=entries[1:])
        failed = [{"Id": entries[0]["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}]
        return AWSResponse("", 200, {}, None), {"Successful": done["Successful"], "Failed": failed}

    sqs.meta.events.register("before-parameter-build.sqs.DeleteMessageBatch", keep_params)
    sqs.meta.events.register("before-call.sqs.DeleteMessageBatch", fail_first)
    archive = Archive.open(tmp_path / "a.jsonl")
    try:
        result = drain(sqs, url_of(endpoint, "txq"), "txq", archive, threads=1)
    finally:
        archive.close()
    consumed = result.consumed
    assert consumed.handled == 10 and consumed.deleted == 9
    assert len(consumed.delete_failed) == 1 and consumed.delete_failed[0].endswith(": InternalError: try again")
    assert len(archive_lines(tmp_path / "a.jsonl")) == 10
    assert counts(endpoint, "txq") == (0, 1)  # in flight until its visibility timeout ends, not lost


def hook_every_session(monkeypatch: pytest.MonkeyPatch, register: Any) -> None:
    """Register botocore event hooks on every client the CLI builds (via its botocore sessions)."""
    from txnalert_cli import aws as aws_module

    original = aws_module._botocore_session

    def session() -> Any:
        core = original()
        register(core)
        return core

    monkeypatch.setattr(aws_module, "_botocore_session", session)


def lose_deletes(core: Any, count: int = 1) -> None:
    """DeleteMessageBatch answers Successful for every entry of its first `count` calls but deletes nothing:
    what moto's SQS did under concurrent deletes (issue 10 item 10)."""
    from botocore.awsrequest import AWSResponse

    calls = [0]

    def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["api_params"] = params

    def lose(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        calls[0] += 1
        if calls[0] > count:
            return None
        entries = context["api_params"]["Entries"]
        return AWSResponse("", 200, {}, None), {"Successful": [{"Id": e["Id"]} for e in entries], "Failed": []}

    core.register("before-parameter-build.sqs.DeleteMessageBatch", keep_params)
    core.register("before-call.sqs.DeleteMessageBatch", lose)


def test_drain_rereads_the_counts_and_exits_1_when_deleted_messages_are_still_in_flight(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 25)
    hook_every_session(monkeypatch, lose_deletes)
    result = invoke("drain", "-c", config, "--to", str(tmp_path / "a.jsonl"), "--threads", "1")
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0].startswith("drained 25 messages from txq")  # what SQS answered
    assert result.stdout.splitlines()[2] == (
        "0 left, 10 still in flight on txq (they come back after the visibility timeout): run drain again"
    )
    assert result.stderr.splitlines()[-1] == (
        "error: the counts do not add up: 10 messages are in flight on txq that this drain did not leave in "
        "flight: it may not have deleted them, though SQS said it had (they come back after the visibility timeout)"
    )
    data = invoke_json("drain", "-c", config, "--to", str(tmp_path / "b.jsonl"), code=0)
    assert (data["drained"], data["left"], data["in_flight"], data["verified"]) == (0, 0, 10, True)


def test_a_consumer_already_at_work_makes_the_drain_check_unconfirmed(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages in flight before the drain started are someone else's (the function, a worker): messages
    in flight afterwards may be theirs, so the check cannot tell, and says so instead of failing."""
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 15)
    client(endpoint).receive_message(QueueUrl=url_of(endpoint, "txq"), MaxNumberOfMessages=1, VisibilityTimeout=60)
    hook_every_session(monkeypatch, lose_deletes)
    result = invoke("drain", "-c", config, "--to", str(tmp_path / "a.jsonl"), "--threads", "1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["drained"], data["in_flight"], data["verified"]) == (14, 11, None)
    assert data["mismatch"][0].startswith("could not confirm the deletes: 10 messages are in flight on txq")
    assert "warning: could not confirm the deletes" in result.stderr


def test_the_check_rereads_until_the_counts_settle(endpoint: str, tmp_path: Path) -> None:
    """On AWS the counts are eventually consistent: a check that does not add up is read again after each
    pause, and passes as soon as it adds up."""
    from txnalert_cli.queue.inspect import SETTLE_DELAYS, check_move, queue_stats, settle_delays

    create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 3)
    sqs = client(endpoint)
    before = queue_stats(sqs, "main", "txq")
    url = url_of(endpoint, "txq")
    stuck = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=60)["Messages"]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:  # the "late" deletes land while the check waits
        pauses.append(seconds)
        if len(pauses) == 2:
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(stuck)]
            )

    check = check_move(sqs, source=before, what="drain", delays=(1.0, 2.0, 4.0), sleep=sleep)
    assert (check.verified, pauses, check.source.in_flight if check.source else None) == (True, [1.0, 2.0], 0)
    failing = check_move(sqs, source=before, destination=before, moved=5, delays=(1.0, 2.0), sleep=pauses.append)
    assert failing.verified is False and failing.grew == -3 and pauses[2:] == [1.0, 2.0]

    class Endpoint:
        def __init__(self, url: str | None) -> None:
            self.url = url

        def effective_endpoint(self) -> str | None:
            return self.url

    assert settle_delays(Endpoint(endpoint)) == () and settle_delays(Endpoint(None)) == SETTLE_DELAYS


def test_the_early_stop_reasons_of_a_drain_are_named() -> None:
    from txnalert_cli.queue.consumer import ConsumeResult
    from txnalert_cli.queue.drain import DrainResult, early_stop
    from txnalert_cli.queue.inspect import QueueStats

    stats = QueueStats("main", "txq", "url", False, 0, 0, 0, 30, 345600, 5, "arn")

    def reason(stopped: str) -> str | None:
        return early_stop(DrainResult("txq", None, ConsumeResult(stopped=stopped)), stats)

    assert reason("") is None and reason("max") is None
    assert reason("hold-lapsed:2") == (
        "drain stopped early: a message that does not match --match came back after its hold lapsed (the scan "
        "outran the extensions of its visibility timeout) and has now been received 2 times (txq moves messages "
        "to its DLQ after 5 receives); matching messages may be left on the queue"
    )
    assert (reason("idle") or "").startswith("drain stopped early: txq still reports visible messages")
    assert (reason("held:10000") or "").startswith("drain stopped early: it held 10000 messages")


def test_match_releases_what_it_holds_on_ctrl_c_and_on_errors(endpoint: str, tmp_path: Path) -> None:
    from txnalert_cli.queue.consumer import Consumer, Outcome

    create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 20, currency="USD")
    seed(endpoint, "txq", 1, start=50, currency="EUR")
    seed(endpoint, "txq", 10, start=100, currency="USD")
    seed(endpoint, "txq", 1, start=150, currency="EUR")
    url = url_of(endpoint, "txq")

    def interrupt(messages: list[dict[str, Any]]) -> Outcome:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while this batch is in hand
        time.sleep(0.2)
        return Outcome(done=messages)

    result = Consumer(client(endpoint), url, interrupt, threads=1, match='"EUR"').run()
    assert (result.interrupted, result.stopped, result.deleted, result.skipped) == (True, "interrupted", 1, 29)
    assert counts(endpoint, "txq") == (31, 0)  # nothing left in flight

    def broken(messages: list[dict[str, Any]]) -> Outcome:
        raise OSError("disk full")

    result = Consumer(client(endpoint), url, broken, threads=2, match='"EUR"').run()
    assert result.error is not None and result.stopped == "error" and result.deleted == 0
    assert counts(endpoint, "txq") == (31, 0)


def test_match_reports_other_messages_it_brought_near_the_dlq(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)  # max_receive_count 5
    seed(endpoint, "txq", 5, currency="USD")
    sqs, url = client(endpoint), url_of(endpoint, "txq")
    for _ in range(3):  # as if the Lambda had failed on them three times
        handles = [m["ReceiptHandle"] for m in receive_all(endpoint, "txq")]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(handles)],
        )
    result = invoke("drain", "-c", config, "--to", str(tmp_path / "a.jsonl"), "--match", "EUR", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["drained"], data["skipped"], data["skipped_near_dlq"], data["stopped"]) == (0, 5, 5, None)
    assert (
        "warning: 5 of them have now been received 4 times or more, and txq moves a message to its DLQ after "
        "5 receives: let the function process them before another --match drain"
    ) in result.stderr
    assert counts(endpoint, "txq") == (5, 0) and counts(endpoint, "txq-dlq") == (0, 0)
    # Received once by the drain (3 + 1), once more here: the function still has its last receive.
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in receive_all(endpoint, "txq")] == ["5"] * 5
    assert counts(endpoint, "txq-dlq") == (0, 0)


def test_match_stops_at_the_most_it_holds_and_exits_1(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from txnalert_cli.queue import drain as drain_module

    monkeypatch.setattr(drain_module, "MAX_HELD", 15)
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 60, currency="USD")
    seed(endpoint, "txq", 2, start=100, currency="EUR")
    archive = tmp_path / "eur.jsonl"
    result = invoke("drain", "-c", config, "--to", str(archive), "--match", '"EUR"', "--threads", "2", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert (data["drained"], data["stopped"], data["archive"]) == (0, "held:15", None)
    assert 15 <= data["skipped"] <= 40  # each thread stops after the receive in hand
    assert result.stderr.splitlines()[-1] == (
        "error: drain stopped early: it held 15 messages that do not match --match, the most one scan holds; "
        "they are visible again, and matching messages may be left behind them: drain without --match to an "
        "archive, then replay what should go back"
    )
    assert counts(endpoint, "txq") == (62, 0)  # every held message released
    assert not archive.exists()  # drain created it and wrote nothing


def test_drain_that_stops_early_with_messages_left_exits_1(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FIFO: the function has a message of one group in flight; the rest of that group cannot be received."""
    from txnalert_cli.queue import consumer

    monkeypatch.setattr(consumer, "EMPTY_WAIT", 0)  # idle receives without long polls: a fast test
    config = create_queues(tmp_path, endpoint, fifo=True)
    seed(endpoint, "txq.fifo", 6, group=True)  # groups acct-0 and acct-1, three each
    url = url_of(endpoint, "txq.fifo")
    taken = client(endpoint).receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)
    assert len(taken["Messages"]) == 1
    archive = tmp_path / "f.jsonl"
    result = invoke("drain", "-c", config, "--to", str(archive), "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert (data["drained"], data["stopped"]) == (3, "idle")
    assert len(archive_lines(archive)) == 3
    assert result.stderr.splitlines()[-1] == (
        "error: drain stopped early: txq.fifo still reports visible messages, but 5 receives in a row brought "
        "none to drain (on a FIFO queue: messages behind one in flight in the same group, such as one the "
        "function is processing or one --match skipped); they are still on the queue"
    )
    assert counts(endpoint, "txq.fifo") == (2, 1)


def test_draining_an_empty_queue_leaves_no_empty_archive(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = create_queues(tmp_path, endpoint)
    new = tmp_path / "new.jsonl"
    data = invoke_json("drain", "-c", config, "--to", str(new))
    assert (data["drained"], data["archive"]) == (0, None)
    assert not new.exists()
    monkeypatch.chdir(tmp_path)
    result = invoke("drain", "-c", config)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].startswith("archive: none (nothing was drained: the empty drained-txq-")
    assert not list(tmp_path.glob("drained-*"))
    # A --to file that was there before is never deleted, empty or not.
    for before in ("", '{"message_id": "m-1"}\n'):
        kept = tmp_path / "kept.jsonl"
        kept.write_text(before)
        data = invoke_json("drain", "-c", config, "--to", str(kept))
        assert data["archive"] == str(kept) and kept.read_text() == before


# --- killed drains -------------------------------------------------------------------------------


def queue_bodies(name: str) -> set[str]:
    """Bodies of every message a queue of the in-process moto server holds, in flight or not."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues[name]
    return {m.body for m in list(queue._messages)}


def readable_bodies(path: Path) -> set[str]:
    """Bodies in an archive; a torn line (a kill mid-write) is skipped: its messages were never deleted."""
    if not path.exists():
        return set()
    found = set()
    for line in path.read_text().splitlines():
        try:
            found.add(json.loads(line)["body"])
        except ValueError:
            continue
    return found


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_at_random_points_loses_nothing(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    sent = set(seed(endpoint, "txq", 200))
    archive = tmp_path / "killed.jsonl"
    seed_value = random.randrange(1_000_000)
    rng = random.Random(seed_value)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "txnalert_cli", "drain", "-c", config, "--to", str(archive), "--json"]
    killed_mid_drain = 0
    for round_ in range(4):
        before = line_count(archive)
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while line_count(archive) == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.12))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_mid_drain += 1
        proc.wait(timeout=10)
        held, archived = queue_bodies("txq"), readable_bodies(archive)
        lost = sent - held - archived
        assert not lost, f"round {round_} (seed {seed_value}): {len(lost)} messages in neither archive nor queue"
        assert (held | archived) <= sent
    assert killed_mid_drain >= 2, "the drains finished before they could be killed: the test proved nothing"
    assert len(readable_bodies(archive)) >= 10


def test_ctrl_c_stops_after_the_batches_in_hand(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    sent = set(seed(endpoint, "txq", 150))
    archive = tmp_path / "interrupted.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "txnalert_cli", "drain", "-c", config, "--to", str(archive), "--threads", "2"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while line_count(archive) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    if proc.returncode == 0:
        pytest.skip("the drain finished before Ctrl-C arrived")
    assert proc.returncode == 130, stderr
    assert stderr.endswith("interrupted: stopped after the batches in hand\n"), stderr
    drained = int(re.match(r"drained (\d+) messages", stdout).group(1))  # type: ignore[union-attr]
    archived = readable_bodies(archive)
    held = queue_bodies("txq")
    assert 0 < drained < 150
    # Every batch in hand was finished: archived and deleted, nothing left in flight by us.
    assert len(archived) == drained and not (archived & held) and archived | held == sent
    assert counts(endpoint, "txq")[1] == 0


# --- purge ---------------------------------------------------------------------------------------


def test_purge_with_yes(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 6)
    seed(endpoint, "txq-dlq", 2)
    assert untargeted(invoke_json("purge", "-c", config, "--yes")) == {"queue": "txq", "purged": 6}
    assert counts(endpoint, "txq") == (0, 0) and counts(endpoint, "txq-dlq") == (2, 0)
    result = invoke("purge", "-c", config, "--dlq", "-y")
    assert result.exit_code == 0
    assert result.stdout == "purged txq-dlq: 2 messages (SQS finishes deleting them within 60 seconds)\n"
    assert counts(endpoint, "txq-dlq") == (0, 0)


def test_purge_without_yes_and_without_a_terminal_refuses(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 3)
    result = invoke("purge", "-c", config)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: purge deletes every message of txq for good: pass --yes to confirm (no terminal to ask on)\n"
    )
    assert counts(endpoint, "txq") == (3, 0)


def test_purge_asks_on_a_terminal(endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from txnalert_cli.cli import options

    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 3)
    monkeypatch.setattr(options, "stdin_is_terminal", lambda: True)
    result = invoke("purge", "-c", config, input="n\n")
    assert result.exit_code == 1
    assert (
        "Purge txq in account ****9012 in us-east-1: delete its 3 messages (3 visible, 0 in flight, 0 delayed) "
        "for good?"
    ) in result.stderr
    assert result.stderr.endswith("nothing was purged\n")
    assert counts(endpoint, "txq") == (3, 0)
    result = invoke("purge", "-c", config, input="y\n")
    assert result.exit_code == 0 and "purged txq: 3 messages (" in result.stdout
    assert counts(endpoint, "txq") == (0, 0)


def test_purge_of_an_empty_queue_does_not_purge_and_a_purge_in_progress_is_one_line(
    endpoint: str, tmp_path: Path
) -> None:
    config = create_queues(tmp_path, endpoint)
    result = invoke("purge", "-c", config, "--yes")
    assert (result.exit_code, result.stdout) == (0, "txq has no messages: nothing to purge\n")
    assert untargeted(invoke_json("purge", "-c", config, "--yes")) == {"queue": "txq", "purged": 0}
    # moto, like SQS, allows one PurgeQueue per queue every 60 s: had the empty purges called it, this fails.
    seed(endpoint, "txq", 3)
    assert untargeted(invoke_json("purge", "-c", config, "--yes")) == {"queue": "txq", "purged": 3}
    assert counts(endpoint, "txq") == (0, 0)
    seed(endpoint, "txq", 2, start=10)
    result = invoke("purge", "-c", config, "--yes")
    assert (result.exit_code, result.stdout) == (1, "")
    assert after_target(result.stderr) == (
        "error: a purge of txq is already running (SQS allows one every 60 seconds): nothing more was purged; "
        "retry in up to 60 s\n"
    )
    assert counts(endpoint, "txq") == (2, 0)


def test_help_shows_examples_without_importing_boto3() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from txnalert_cli.cli import app\n"
        "helps = {}\n"
        "for name in ('drain', 'redrive', 'replay', 'purge'):\n"
        "    r = CliRunner().invoke(app, [name, '--help'])\n"
        "    assert r.exit_code == 0, r.output\n"
        "    helps[name] = ' '.join(r.output.split())\n"
        "    assert 'Example: txnalert ' + name in helps[name], r.output\n"
        "from txnalert_cli.queue.drain import MAX_HELD\n"
        "assert f'holds at most {MAX_HELD} ' in helps['drain'], helps['drain']\n"
        "assert 'one per archive line' in helps['replay'], helps['replay']\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'moto')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
