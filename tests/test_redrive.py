"""redrive (both paths) and replay against the moto server. No mock.patch: the move-task path is driven
through botocore event hooks on a client the test builds, and moto's real answers everywhere else."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tests.conftest import untargeted
from txnalert_cli.aws import MAX_ATTEMPTS
from txnalert_cli.errors import Interrupted, TxnalertError
from txnalert_cli.queue.inspect import queue_stats
from txnalert_cli.queue.redrive import (
    MANUAL,
    MOVE_TASK,
    probe_move_tasks,
    redrive,
    single_attempt_client,
)

from .test_drain import (
    archive_lines,
    counts,
    create_queues,
    invoke,
    invoke_json,
    new_client,
    receive_all,
    seed,
)


@pytest.fixture(autouse=True)
def quiet_moto_500s() -> Iterator[None]:
    """moto logs a traceback for each action it does not implement (its 500); it is expected here."""
    loggers = [logging.getLogger(name) for name in ("werkzeug", "moto")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def aws_for(config: str) -> Any:
    from txnalert_cli.aws import Aws
    from txnalert_cli.config import load

    return Aws.from_config(load(config))


def count_attempts(sqs: Any, operation: str) -> list[float]:
    """Times of the HTTP requests a client sends for one operation (retries included)."""
    attempts: list[float] = []
    sqs.meta.events.register(f"before-send.sqs.{operation}", lambda **_: attempts.append(time.monotonic()))
    return attempts


def fake(parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    """A before-call hook's answer: the call returns `parsed` without reaching the endpoint."""
    return AWSResponse("", 200, {}, None), parsed


# --- the manual path, through the CLI --------------------------------------------------------------


def test_redrive_moves_dlq_messages_back_by_hand_on_moto(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    bodies = seed(endpoint, "txq-dlq", 23)
    result = untargeted(invoke_json("redrive", "-c", config))
    assert result == {
        "moved": 23,
        "path": "manual",
        "task_handle": None,
        "reason": "the endpoint has no message move tasks (ListMessageMoveTasks answered HTTP 500)",
        "dry_run": False,
        "would_move": 23,
        "status": None,
        "failed": [],
        "left": 0,
        "in_flight": 0,
        "destination_grew": 23,
        "destination_in_flight": 0,
        "verified": True,
        "mismatch": [],
    }
    assert counts(endpoint, "txq-dlq") == (0, 0)
    back = receive_all(endpoint, "txq")
    assert sorted(m["Body"] for m in back) == sorted(bodies)
    one = next(m for m in back if m["Body"] == bodies[0])
    assert one["MessageAttributes"]["event_type"] == {"StringValue": "deposit", "DataType": "String"}
    assert one["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\xff" + bodies[0][-6:].encode()


def test_redrive_max_dry_run_and_rate_checks(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq-dlq", 12)
    dry = invoke("redrive", "-c", config, "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout == (
        "would move 12 messages from txq-dlq to txq by manual "
        "(the endpoint has no message move tasks (ListMessageMoveTasks answered HTTP 500))\n"
        "dry run: nothing was moved\n"
    )
    assert counts(endpoint, "txq-dlq") == (12, 0) and counts(endpoint, "txq") == (0, 0)
    some = invoke_json("redrive", "-c", config, "--max", "5", "--rate", "200")
    assert some["moved"] == 5 and some["path"] == "manual" and some["reason"].startswith("--max: ")
    assert counts(endpoint, "txq-dlq") == (7, 0) and counts(endpoint, "txq") == (5, 0)
    for args, message in (
        (["--rate", "0"], "error: --rate must be between 1 and 500, got 0\n"),
        (["--rate", "501"], "error: --rate must be between 1 and 500, got 501\n"),
        (["--max", "0"], "error: --max must be at least 1, got 0\n"),
    ):
        bad = invoke("redrive", "-c", config, *args)
        assert (bad.exit_code, bad.stderr) == (2, message), args
    assert counts(endpoint, "txq-dlq") == (7, 0)


def test_redrive_fifo_keeps_group_ids_with_fresh_dedup_ids(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint, fifo=True)
    bodies = seed(endpoint, "txq-dlq.fifo", 8, group=True)
    assert invoke_json("redrive", "-c", config)["moved"] == 8
    back = receive_all(endpoint, "txq.fifo")
    assert sorted(m["Body"] for m in back) == sorted(bodies)
    for message in back:
        txn = json.loads(message["Body"])["transaction_id"]
        assert message["Attributes"]["MessageGroupId"] == f"acct-{int(txn[-4:]) % 2}"
        assert message["Attributes"]["MessageDeduplicationId"] != txn
    assert len({m["Attributes"]["MessageDeduplicationId"] for m in back}) == 8
    # Order within a group is kept.
    for group in ("acct-0", "acct-1"):
        ids = [json.loads(m["Body"])["transaction_id"] for m in back if m["Attributes"]["MessageGroupId"] == group]
        assert ids == sorted(ids)


# --- detecting an endpoint without move tasks -------------------------------------------------------


def test_moto_500_is_detected_with_one_attempt_in_well_under_a_second(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    aws = aws_for(config)
    dlq = queue_stats(aws.client("sqs"), "dlq", "txq-dlq")

    # What the shared client does with moto's 500: the standard retry mode tries 4 times.
    shared = aws.client("sqs")
    shared_attempts = count_attempts(shared, "ListMessageMoveTasks")
    with pytest.raises(Exception, match=r"\(500\)"):
        shared.list_message_move_tasks(SourceArn=dlq.arn)
    assert len(shared_attempts) == MAX_ATTEMPTS + 1  # botocore's max_attempts counts retries

    probe = single_attempt_client(aws)
    attempts = count_attempts(probe, "ListMessageMoveTasks")
    started = time.monotonic()
    support = probe_move_tasks(probe, dlq.arn)
    elapsed = time.monotonic() - started
    assert support.supported is False
    assert support.reason == "ListMessageMoveTasks answered HTTP 500"
    assert len(attempts) == 1 and elapsed < 0.5, (attempts, elapsed)


def test_start_refused_with_500_falls_back_after_one_attempt(endpoint: str, tmp_path: Path) -> None:
    """An endpoint that lists move tasks but answers StartMessageMoveTask with a 500 (moto's real answer)."""
    config = create_queues(tmp_path, endpoint)
    bodies = seed(endpoint, "txq-dlq", 6)
    aws = aws_for(config)
    sqs = aws.client("sqs")
    main, dlq = queue_stats(sqs, "main", "txq"), queue_stats(sqs, "dlq", "txq-dlq")
    probe = single_attempt_client(aws)
    probe.meta.events.register("before-call.sqs.ListMessageMoveTasks", lambda **_: fake({"Results": []}))
    starts = count_attempts(probe, "StartMessageMoveTask")
    answered: list[float] = []
    probe.meta.events.register("needs-retry.sqs.StartMessageMoveTask", lambda **_: answered.append(time.monotonic()))
    notes: list[str] = []
    result = redrive(sqs, probe, main=main, dlq=dlq, notify=notes.append)
    assert len(starts) == 1 and len(answered) == 1  # one HTTP attempt, no retry
    assert answered[0] - starts[0] < 0.5
    assert result.path == MANUAL and result.moved == 6 and result.task_handle is None
    assert result.reason == "the endpoint refused the message move task (StartMessageMoveTask answered HTTP 500)"
    assert notes == [f"{result.reason}: moving messages in batches instead"]
    assert sorted(m["Body"] for m in receive_all(endpoint, "txq")) == sorted(bodies)


# --- the move-task path, through event hooks ------------------------------------------------------


class FakeMoveTasks:
    """Answers ListMessageMoveTasks / StartMessageMoveTask on one client, as SQS documents them."""

    def __init__(self, sqs: Any, *, listings: list[list[dict[str, Any]]]) -> None:
        self.listings = listings
        self.started: list[dict[str, Any]] = []
        sqs.meta.events.register("before-parameter-build.sqs.StartMessageMoveTask", self._record)
        sqs.meta.events.register("before-call.sqs.StartMessageMoveTask", lambda **_: fake({"TaskHandle": "task-1"}))
        sqs.meta.events.register("before-call.sqs.ListMessageMoveTasks", self._list)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.started.append(dict(params))

    def _list(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        results = self.listings.pop(0) if len(self.listings) > 1 else self.listings[0]
        return fake({"Results": results})


def running(moved: int) -> dict[str, Any]:
    return {"TaskHandle": "task-1", "Status": "RUNNING", "ApproximateNumberOfMessagesMoved": moved}


def test_redrive_uses_a_move_task_where_the_endpoint_has_them(endpoint: str, tmp_path: Path) -> None:
    create_queues(tmp_path, endpoint)
    seed(endpoint, "txq-dlq", 12)
    sqs = new_client(endpoint)
    main, dlq = queue_stats(sqs, "main", "txq"), queue_stats(sqs, "dlq", "txq-dlq")
    done = {"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 12, "ApproximateNumberOfMessagesToMove": 12}
    tasks = FakeMoveTasks(sqs, listings=[[], [running(0)], [running(5)], [done]])
    advanced: list[int] = []
    result = redrive(sqs, sqs, main=main, dlq=dlq, rate=50, progress=advanced.append, interval=0.01)
    assert (result.path, result.task_handle, result.status, result.moved) == (MOVE_TASK, "task-1", "COMPLETED", 12)
    assert tasks.started == [{"SourceArn": dlq.arn, "DestinationArn": main.arn, "MaxNumberOfMessagesPerSecond": 50}]
    assert advanced == [5, 7]
    assert result.as_dict()["task_handle"] == "task-1" and result.as_dict()["path"] == "move-task"
    assert counts(endpoint, "txq-dlq") == (12, 0)  # the fake task moved nothing, and nor did a manual path


def test_move_task_dry_run_running_task_and_failure(endpoint: str, tmp_path: Path) -> None:
    create_queues(tmp_path, endpoint)
    seed(endpoint, "txq-dlq", 3)
    sqs = new_client(endpoint)
    main, dlq = queue_stats(sqs, "main", "txq"), queue_stats(sqs, "dlq", "txq-dlq")

    tasks = FakeMoveTasks(sqs, listings=[[]])
    dry = redrive(sqs, sqs, main=main, dlq=dlq, dry_run=True)
    assert (dry.path, dry.would_move, dry.moved, tasks.started) == (MOVE_TASK, 3, 0, [])

    other = new_client(endpoint)
    FakeMoveTasks(other, listings=[[running(1)]])
    with pytest.raises(TxnalertError, match=r"already running for txq-dlq \(task handle task-1\)"):
        redrive(other, other, main=main, dlq=dlq)

    failing = new_client(endpoint)
    failed = {"Status": "FAILED", "ApproximateNumberOfMessagesMoved": 1, "FailureReason": "AccessDenied"}
    FakeMoveTasks(failing, listings=[[], [failed]])
    with pytest.raises(TxnalertError, match="the message move task failed after moving 1 messages: AccessDenied"):
        redrive(failing, failing, main=main, dlq=dlq, interval=0.01)
    assert counts(endpoint, "txq-dlq") == (3, 0)


# --- the counts after a move --------------------------------------------------------------------------


def move_task_hooks(endpoint: str, *, really_move: bool) -> Any:
    """Session hooks for the CLI's clients: an endpoint with message move tasks. StartMessageMoveTask takes
    every message off the DLQ and, with `really_move`, sends it to the main queue (else it vanishes, as a
    FIFO redrive on LocalStack did); the task is then listed COMPLETED with the number it took."""
    moved: list[int] = []

    def start(params: dict[str, Any], **_: Any) -> None:
        helper = new_client(endpoint)
        dlq = helper.get_queue_url(QueueName=params["SourceArn"].rsplit(":", 1)[1])["QueueUrl"]
        main = helper.get_queue_url(QueueName=params["DestinationArn"].rsplit(":", 1)[1])["QueueUrl"]
        fifo = dlq.endswith(".fifo")
        while batch := helper.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        ):
            for message in batch:
                if really_move:
                    extra = {"MessageGroupId": "g", "MessageDeduplicationId": message["MessageId"]} if fifo else {}
                    helper.send_message(QueueUrl=main, MessageBody=message["Body"], **extra)
                helper.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                moved.append(1)

    def listing(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        if not moved:
            return fake({"Results": []})
        done = {"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": len(moved)}
        return fake({"Results": [{**done, "ApproximateNumberOfMessagesToMove": len(moved)}]})

    def register(core: Any) -> None:
        core.register("before-parameter-build.sqs.StartMessageMoveTask", start)
        core.register("before-call.sqs.StartMessageMoveTask", lambda **_: fake({"TaskHandle": "task-1"}))
        core.register("before-call.sqs.ListMessageMoveTasks", listing)

    return register


def test_a_move_task_whose_messages_vanished_exits_1(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reported on LocalStack: a FIFO redrive said `moved 50 ... COMPLETED` while all 50 messages vanished."""
    from .test_drain import hook_every_session

    config = create_queues(tmp_path, endpoint, fifo=True)
    seed(endpoint, "txq-dlq.fifo", 50, group=True)
    hook_every_session(monkeypatch, move_task_hooks(endpoint, really_move=False))
    result = invoke("redrive", "-c", config)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0] == (
        "moved 50 messages from txq-dlq.fifo to txq.fifo by move-task (StartMessageMoveTask)"
    )
    assert result.stdout.splitlines()[2] == "0 left, 0 in flight on txq-dlq.fifo; txq.fifo grew by 0"
    assert result.stderr.splitlines()[-1] == (
        "error: the counts do not add up: txq.fifo grew by 0, not by the 50 messages this message move task "
        "reports moved there: 50 are not on it"
    )


def test_a_move_task_that_moved_everything_is_verified(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .test_drain import hook_every_session

    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq-dlq", 12)
    hook_every_session(monkeypatch, move_task_hooks(endpoint, really_move=True))
    data = invoke_json("redrive", "-c", config)
    assert (data["path"], data["moved"], data["destination_grew"], data["verified"]) == ("move-task", 12, 12, True)
    assert counts(endpoint, "txq") == (12, 0)


def test_a_consumer_of_the_destination_makes_the_move_check_unconfirmed(endpoint: str, tmp_path: Path) -> None:
    """The function consumes the main queue on AWS: moved messages may be processed (deleted) before the
    counts are re-read. With messages in flight there, the check says it could not confirm, not failed."""
    create_queues(tmp_path, endpoint)
    seed(endpoint, "txq-dlq", 5)
    seed(endpoint, "txq", 1)
    sqs = new_client(endpoint)
    sqs.receive_message(QueueUrl=sqs.get_queue_url(QueueName="txq")["QueueUrl"], VisibilityTimeout=60)
    main, dlq = queue_stats(sqs, "main", "txq"), queue_stats(sqs, "dlq", "txq-dlq")
    done = {"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 5}
    FakeMoveTasks(sqs, listings=[[], [done]])
    result = redrive(sqs, sqs, main=main, dlq=dlq, interval=0.01)
    assert result.check is not None and result.check.verified is None and result.check.grew == 0
    assert result.check.unconfirmed == [
        "could not confirm the move: txq grew by 0, not by the 5 messages this message move task reports moved "
        "there: 5 are not on it, unless the consumer that has messages in flight there (the function, a worker) "
        "already processed them"
    ]


def test_manual_redrive_with_lost_deletes_exits_1(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .test_drain import hook_every_session, lose_deletes

    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq-dlq", 20)
    hook_every_session(monkeypatch, lose_deletes)
    result = invoke("redrive", "-c", config, "--threads", "1", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert (data["moved"], data["in_flight"], data["destination_grew"], data["verified"]) == (20, 10, 20, False)
    assert data["mismatch"] == [
        "10 messages are in flight on txq-dlq that this redrive did not leave in flight: it may not have deleted "
        "them, though SQS said it had (they come back after the visibility timeout)"
    ]


def test_replay_whose_messages_did_not_arrive_exits_1(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .test_drain import hook_every_session

    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 12)
    archive = tmp_path / "a.jsonl"
    invoke_json("drain", "-c", config, "--to", str(archive))

    def swallow_first_send(core: Any) -> None:
        calls: list[int] = []

        def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["entries"] = params["Entries"]

        def answer(context: dict[str, Any], **_: Any) -> Any:
            calls.append(1)
            if len(calls) > 1:
                return None
            return fake(
                {"Successful": [{"Id": e["Id"], "MessageId": "x", "MD5OfMessageBody": "x"} for e in context["entries"]]}
            )

        core.register("before-parameter-build.sqs.SendMessageBatch", keep)
        core.register("before-call.sqs.SendMessageBatch", answer)

    hook_every_session(monkeypatch, swallow_first_send)
    result = invoke("replay", str(archive), "-c", config)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[1] == "txq grew by 2"
    assert result.stderr.splitlines()[-1] == (
        "error: the counts do not add up: txq grew by 2, not by the 12 messages this replay reports moved there: "
        "10 are not on it"
    )


def test_ctrl_c_during_a_replay_or_a_move_task_is_interrupted_with_exit_130(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both raise the one named exception, errors.Interrupted (exit 130), saying what was done."""
    from .test_drain import hook_every_session

    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 3)
    archive = tmp_path / "a.jsonl"
    invoke_json("drain", "-c", config, "--to", str(archive))

    def ctrl_c(**_: Any) -> None:
        raise KeyboardInterrupt

    hook_every_session(monkeypatch, lambda core: core.register("before-call.sqs.SendMessageBatch", ctrl_c))
    result = invoke("replay", str(archive), "-c", config)
    assert result.exit_code == 130, result.output
    assert result.stderr.splitlines()[-1] == (
        "error: interrupted after sending 0 messages: replaying the archive again sends them again"
    )

    seed(endpoint, "txq-dlq", 2)
    sqs = new_client(endpoint)
    main, dlq = queue_stats(sqs, "main", "txq"), queue_stats(sqs, "dlq", "txq-dlq")

    def ctrl_c_once_started(**_: Any) -> None:  # Ctrl-C while the started task is followed
        if tasks.started:
            raise KeyboardInterrupt

    sqs.meta.events.register("before-call.sqs.ListMessageMoveTasks", ctrl_c_once_started)  # before the fake's
    tasks = FakeMoveTasks(sqs, listings=[[]])
    with pytest.raises(Interrupted) as caught:
        redrive(sqs, sqs, main=main, dlq=dlq, interval=0.01)
    assert caught.value.exit_code == 130
    assert caught.value.message == "interrupted: the message move task keeps running in SQS (task handle task-1)"


# --- replay ---------------------------------------------------------------------------------------


def test_drain_then_replay_round_trip(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    bodies = seed(endpoint, "txq", 15)
    archive = tmp_path / "a.jsonl"
    assert invoke_json("drain", "-c", config, "--to", str(archive))["drained"] == 15
    assert counts(endpoint, "txq") == (0, 0)
    result = untargeted(invoke_json("replay", str(archive), "-c", config))
    assert result == {
        "sent": 15,
        "duplicates": 0,
        "failed": [],
        "queue": "txq",
        "elapsed_s": result["elapsed_s"],
        "skipped_invalid": 0,
        "skipped_invalid_lines": [],
        "destination_grew": 15,
        "destination_in_flight": 0,
        "verified": True,
        "mismatch": [],
    }
    back = receive_all(endpoint, "txq")
    assert sorted(m["Body"] for m in back) == sorted(bodies)
    one = next(m for m in back if m["Body"] == bodies[3])
    assert one["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\xff" + bodies[3][-6:].encode()
    assert one["MessageAttributes"]["event_type"]["StringValue"] == "deposit"


def test_fifo_replay_keeps_groups_and_needs_fresh_dedup_ids(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint, fifo=True)
    bodies = seed(endpoint, "txq.fifo", 6, group=True)
    archive = tmp_path / "f.jsonl"
    assert invoke_json("drain", "-c", config, "--to", str(archive))["drained"] == 6
    # Still inside the 5-minute deduplication window: re-using the original ids would drop every message.
    assert invoke_json("replay", str(archive), "-c", config)["sent"] == 6
    back = receive_all(endpoint, "txq.fifo")
    assert sorted(m["Body"] for m in back) == sorted(bodies)
    groups = {
        json.loads(line["body"])["transaction_id"]: line["attributes"]["MessageGroupId"]
        for line in archive_lines(archive)
    }
    for message in back:
        txn = json.loads(message["Body"])["transaction_id"]
        assert message["Attributes"]["MessageGroupId"] == groups[txn]
        assert message["Attributes"]["MessageDeduplicationId"] != txn


def test_replay_sends_a_repeated_message_id_once(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 4)
    archive = tmp_path / "dup.jsonl"
    invoke_json("drain", "-c", config, "--to", str(archive))
    lines = archive.read_text().splitlines()
    archive.write_text("\n".join([*lines, lines[1], lines[1]]) + "\n")  # as after a drain killed before deleting
    dry = untargeted(invoke_json("replay", str(archive), "-c", config, "--dry-run"))
    assert dry == {
        "sent": 0,
        "would_send": 4,
        "duplicates": 2,
        "queue": "txq",
        "dry_run": True,
        "skipped_invalid": 0,
        "skipped_invalid_lines": [],
    }
    assert counts(endpoint, "txq") == (0, 0)
    result = invoke("replay", str(archive), "-c", config)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1] == "skipped 2 repeated message ids (each message is sent once)"
    assert counts(endpoint, "txq") == (4, 0)


def test_replay_to_the_dlq(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq-dlq", 3)
    archive = tmp_path / "d.jsonl"
    invoke_json("drain", "-c", config, "--dlq", "--to", str(archive))
    assert invoke_json("replay", str(archive), "-c", config, "--dlq")["queue"] == "txq-dlq"
    assert counts(endpoint, "txq-dlq") == (3, 0) and counts(endpoint, "txq") == (0, 0)


def test_replay_rejects_a_bad_archive_and_sends_nothing(endpoint: str, tmp_path: Path) -> None:
    config = create_queues(tmp_path, endpoint)
    seed(endpoint, "txq", 3)
    archive = tmp_path / "a.jsonl"
    invoke_json("drain", "-c", config, "--to", str(archive))
    good = archive.read_text().splitlines()
    record = json.loads(good[0])
    no_body = {k: v for k, v in record.items() if k != "body"}
    bad_binary = {**record, "message_attributes": {"raw": {"DataType": "Binary", "BinaryValue": "%%%"}}}
    archive.write_text(
        "\n".join([good[0], json.dumps(no_body), good[1], json.dumps(bad_binary), good[2], '{"message_id": "m-'])
    )
    result = invoke("replay", str(archive), "-c", config)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {archive}: line 2: missing body",
        f"error: {archive}: line 4: message_attributes.raw.BinaryValue: not valid base64",
        f"error: {archive}: line 6: {TORN_LINE}",
        f"error: {archive}: nothing was sent; --skip-invalid sends the valid lines and skips the bad ones "
        "(their messages are not sent)",
    ]
    assert counts(endpoint, "txq") == (0, 0)
    missing = invoke("replay", str(tmp_path / "nope.jsonl"), "-c", config)
    assert (missing.exit_code, missing.stderr) == (2, f"error: {tmp_path / 'nope.jsonl'}: file not found\n")
    # A standard queue's archive has no group ids: a FIFO queue cannot take it.
    fifo_config = tmp_path / "fifo.yaml"
    fifo_config.write_text(Path(config).read_text().replace("name: txq", "name: txq\n  fifo: true"))
    archive.write_text("\n".join(good) + "\n")
    result = invoke("replay", str(archive), "-c", str(fifo_config))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {archive}: line 1: attributes.MessageGroupId: missing, and txq.fifo is a FIFO queue"
    )


TORN_LINE = (
    "a torn line (a write cut off when a drain was killed); its message was not deleted from the queue, "
    "so dropping it loses nothing: pass --skip-invalid to replay the other lines"
)


def test_a_torn_line_is_recognised_wherever_it_stands(tmp_path: Path) -> None:
    """A drain killed mid-write leaves a cut-off record; the next drain to the same file starts a new line
    after it, so it can be first, in the middle or last, with or without its newline."""
    from txnalert_cli.errors import InputError
    from txnalert_cli.queue.archive import read_archive

    record = {
        "message_id": "m-1",
        "body": '{"transaction_id": "txn-1", "note": "caf\u00e9"}',
        "attributes": {},
        "message_attributes": {},
        "receive_count": 1,
        "queue": "txq",
    }
    good = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    archive = tmp_path / "a.jsonl"

    def problems(data: bytes) -> list[str]:
        archive.write_bytes(data)
        with pytest.raises(InputError) as caught:
            read_archive(str(archive), fifo=False, queue="txq")
        return caught.value.lines()

    g = good.encode()
    for torn in (g[:25], g[:5], g[: g.index("é".encode()) + 1], b'{"message_id": "m-2", "bo'):
        for data, line in (
            (torn + b"\n" + g + b"\n", 1),
            (g + b"\n" + torn + b"\n" + g + b"\n", 2),
            (g + b"\n" + torn, 2),
            (g + b"\n\n" + torn + b"\n\n", 3),
        ):
            assert problems(data) == [f"{archive}: line {line}: {TORN_LINE}", f"{archive}: nothing was sent"], data
    # Not a cut-off record: an invalid line keeps its own reason, and no torn-line hint.
    lines = problems(g + b"\nnot json\n" + g[:-1] + b',"body":1}\n' + b"\xff\xfe\n")
    assert lines[0].startswith(f"{archive}: line 2: not valid JSON")
    assert lines[1] == f"{archive}: line 3: body: must be a non-empty string"
    assert lines[2] == f"{archive}: line 4: not UTF-8 text"
    assert not any("a torn line" in line for line in lines)
    # --skip-invalid: every bad line skipped and listed, the valid ones streamed.
    archive.write_bytes(g + b"\n" + g[:30] + b"\nnot json\n" + g.replace(b"m-1", b"m-3") + b"\n")
    summary = read_archive(str(archive), fifo=False, queue="txq", skip_invalid=True)
    assert (summary.messages, summary.skipped_count, summary.skipped_lines) == (2, 2, [2, 3])
    assert [m.message_id for m in summary.stream()] == ["m-1", "m-3"]


# A drain whose second archive write is cut in half by a SIGKILL, as a kill between the pages of a large
# write does (a moment no test can hit on purpose): a real drain, killed for real, mid-write.
KILLED_MID_WRITE = """
import os, signal, sys
from txnalert_cli.queue import archive
from txnalert_cli.cli import main

original = archive.Archive._write_all
batches = []


def cut_short(self, data):
    batches.append(data)
    if len(batches) == 2:
        original(self, data[: len(data) * 11 // 20])  # five and a half lines of ten
        os.kill(os.getpid(), signal.SIGKILL)
    original(self, data)


archive.Archive._write_all = cut_short
sys.argv = ["txnalert", *sys.argv[1:]]
main()
"""


def test_replay_after_a_killed_drain_and_a_second_drain_to_the_same_file(endpoint: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from .test_drain import REPO, queue_bodies, readable_bodies

    config = create_queues(tmp_path, endpoint)
    sent = set(seed(endpoint, "txq", 30))
    archive = tmp_path / "drained.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    drain_args = ["drain", "-c", config, "--to", str(archive), "--threads", "1"]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_WRITE, *drain_args], env=env, capture_output=True, timeout=60
    )
    assert killed.returncode == -9, killed.stderr
    text = archive.read_text()
    assert not text.endswith("\n")
    torn_at = text.count("\n") + 1
    assert 10 < torn_at <= 20  # batch 1 whole (archived and deleted), batch 2 cut inside a line
    second = invoke_json("drain", "-c", config, "--to", str(archive))
    assert second["drained"] == 10  # the rest; batch 2 is still in flight on the queue, not deleted
    lines = archive.read_text().splitlines()
    assert len(lines) == torn_at + 10 and not lines[torn_at - 1].endswith("}")
    # Nothing is lost: what the torn write held is still on the queue.
    assert readable_bodies(archive) | queue_bodies("txq") == sent

    refused = invoke("replay", str(archive), "-c", config)
    assert refused.exit_code == 2
    assert refused.stderr.splitlines() == [
        f"error: {archive}: line {torn_at}: {TORN_LINE}",
        f"error: {archive}: nothing was sent",
    ]
    assert counts(endpoint, "txq") == (0, 10)

    dry = invoke_json("replay", str(archive), "-c", config, "--skip-invalid", "--dry-run")
    assert (dry["would_send"], dry["skipped_invalid"], dry["skipped_invalid_lines"]) == (len(lines) - 1, 1, [torn_at])
    result = invoke("replay", str(archive), "-c", config, "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert f"skipped 1 invalid line (--skip-invalid): line {torn_at}" in result.stdout
    as_json = invoke_json("replay", str(archive), "-c", config, "--skip-invalid")
    assert (as_json["sent"], as_json["skipped_invalid"], as_json["skipped_invalid_lines"]) == (
        len(lines) - 1,
        1,
        [torn_at],
    )
