"""send-test's sending engine: batching limits, re-sends, accounting, rate cap, FIFO order, file checks.

SQS failures are injected with botocore event hooks on the client given to `Sender` (no patching of
boto3): `before-call` answers a SendMessageBatch with a chosen result, the accepted entries really sent.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from typer.testing import CliRunner

from txnalert_cli.aws import Aws
from txnalert_cli.cli import app
from txnalert_cli.config import load
from txnalert_cli.errors import EndpointUnreachable, InputError, UsageError
from txnalert_cli.handler.contract import Transaction, parse_transaction
from txnalert_cli.queue import sending, transactions
from txnalert_cli.queue.entry import using
from txnalert_cli.queue.sending import Sender
from txnalert_cli.queue.sqs import ENTRY_RETRIES, MAX_BATCH_ENTRIES, RateLimiter, entry_size
from txnalert_cli.queue.transactions import BatchBuilder, GenerateOptions, batches, generate, read_file

runner = CliRunner()
ACCOUNT = "1234567890"


def line(i: int, account: str = ACCOUNT, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "transaction_id": f"txn-{i:05d}",
        "account_id": account,
        "type": "deposit",
        "amount": "10.00",
        "currency": "USD",
        "email": "c@example.com",
        "occurred_at": "2026-11-22T10:00:00Z",
        **extra,
    }


def txn(i: int, account: str = ACCOUNT, **extra: Any) -> Transaction:
    return parse_transaction(line(i, account, **extra))


def ids(batch: list[tuple[Transaction, dict[str, Any]]]) -> list[str]:
    return [t.transaction_id for t, _ in batch]


# --- batches ----------------------------------------------------------------------------------------


def test_batches_hold_at_most_ten_entries_in_input_order() -> None:
    txns = [txn(i) for i in range(25)]
    got = list(batches(txns, fifo=False))
    assert [len(b) for b in got] == [10, 10, 5]
    assert [t for b in got for t in ids(b)] == [t.transaction_id for t in txns]
    for batch in got:
        assert [entry["Id"] for _, entry in batch] == [str(i) for i in range(len(batch))]
        assert all("MessageGroupId" not in entry for _, entry in batch)
    assert [len(b) for b in batches(txns, fifo=False, max_entries=4)] == [4] * 6 + [1]


def test_batches_stay_under_the_byte_limit() -> None:
    txns = [txn(i, customer_name="x" * (i * 7 % 150)) for i in range(40)]
    sizes = [entry_size(transactions.transaction_entry(0, t, fifo=False)) for t in txns]
    limit = max(sizes) * 3
    got = list(batches(txns, fifo=False, max_bytes=limit))
    assert [t for b in got for t in ids(b)] == [t.transaction_id for t in txns]
    for batch in got:
        assert sum(entry_size(entry) for _, entry in batch) <= limit
        assert len(batch) <= MAX_BATCH_ENTRIES
    # Full batches: the next entry would not have fitted.
    position = 0
    for batch in got[:-1]:
        position += len(batch)
        if len(batch) < MAX_BATCH_ENTRIES:
            assert sum(entry_size(e) for _, e in batch) + sizes[position] > limit
    assert len(got) > len(txns) // MAX_BATCH_ENTRIES + 1  # the byte limit, not the count, made the cut


def test_batches_never_hold_an_entry_over_the_message_size() -> None:
    big = txn(3, customer_name="\U0001f600" * 200)  # 12 bytes each in the ASCII-only JSON body
    size = entry_size(transactions.transaction_entry(0, big, fifo=False))
    assert size > 2_000
    with pytest.raises(InputError) as caught:
        list(batches([txn(1), txn(2), big, txn(4)], fifo=False, max_message_size=2_000))
    assert caught.value.lines() == [f"transaction txn-00003: message is {size} bytes, queue.max_message_size is 2000"]
    with pytest.raises(InputError, match="the batch limit is 1000"):
        list(batches([big], fifo=False, max_bytes=1_000))


def test_fifo_entries_carry_group_and_deduplication_ids() -> None:
    builder = BatchBuilder(fifo=True)
    assert builder.add(txn(1, account="5555444433")) is None
    (_, entry), *_ = builder.flush() or []
    assert entry["MessageGroupId"] == "5555444433" and entry["MessageDeduplicationId"] == "txn-00001"


# --- the rate cap -----------------------------------------------------------------------------------


def test_rate_limiter_spaces_messages_one_over_rate_apart() -> None:
    now = [100.0]
    limiter = RateLimiter(40, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    limiter.acquire(10)
    limiter.acquire(10)
    assert now[0] - 100 == pytest.approx(19 / 40)  # the 20th message goes 19/40 s after the first
    now[0] += 60  # a pause is not made up for with a burst
    before = now[0]
    limiter.acquire(1)
    limiter.acquire(1)
    assert now[0] - before == pytest.approx(1 / 40)
    RateLimiter(None).acquire(10_000)  # no cap: returns at once


def test_low_rates_send_smaller_batches() -> None:
    sender = Sender(None, "url", fifo=False, rate=3)
    assert [len(b) for _, b in sender._route([txn(i) for i in range(7)], 1)] == [3, 3, 1]
    assert Sender(None, "url", fifo=False, rate=250).max_entries == MAX_BATCH_ENTRIES


# --- against the emulator ---------------------------------------------------------------------------


def client(endpoint: str) -> Any:
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")


def make_queue(endpoint: str, fifo: bool = False) -> tuple[Any, str]:
    sqs = client(endpoint)
    if fifo:
        url = sqs.create_queue(QueueName="sendq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    else:
        url = sqs.create_queue(QueueName="sendq")["QueueUrl"]
    return sqs, url


def drain(sqs: Any, url: str) -> list[str]:
    """Transaction ids in the order the queue hands them out (each received batch deleted)."""
    got: list[str] = []
    empty = 0
    while empty < 2:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            empty += 1
            continue
        got += [json.loads(m["Body"])["transaction_id"] for m in messages]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        )
    return got


Plan = Callable[[int, list[dict[str, Any]]], "dict[str, dict[str, Any]] | None"]


class Injector:
    """Hooks on the client given to Sender: call n's entries go to plan(n, entries), which returns
    None (the real call), or {entry id: failure} (the other entries really sent, these reported as
    Failed), or raises. `calls` records each call's transaction ids."""

    def __init__(self, sqs: Any, real: Any, plan: Plan) -> None:
        self.real = real
        self.plan = plan
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()
        sqs.meta.events.register("before-parameter-build.sqs.SendMessageBatch", self._keep)
        sqs.meta.events.register("before-call.sqs.SendMessageBatch", self._answer)

    @staticmethod
    def _keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["api_params"] = params

    def _answer(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        params = context["api_params"]
        entries = params["Entries"]
        with self._lock:
            number = len(self.calls)
            self.calls.append([json.loads(e["MessageBody"])["transaction_id"] for e in entries])
        failures = self.plan(number, entries)
        if failures is None:
            return None
        accepted = [e for e in entries if e["Id"] not in failures]
        done = self.real.send_message_batch(QueueUrl=params["QueueUrl"], Entries=accepted) if accepted else {}
        failed = [{"Id": entry_id, **failure} for entry_id, failure in failures.items()]
        return AWSResponse("", 200, {}, None), {"Successful": done.get("Successful", []), "Failed": failed}


RETRYABLE = {"SenderFault": False, "Code": "InternalError", "Message": "try again"}
SENDER_FAULT = {"SenderFault": True, "Code": "InvalidParameterValue", "Message": "bad entry"}


def test_failed_entries_are_resent_but_not_sender_faults(endpoint: str) -> None:
    sqs, url = make_queue(endpoint)

    def plan(number: int, entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        return {"3": RETRYABLE, "5": SENDER_FAULT} if number == 0 else None

    injector = Injector(sqs, client(endpoint), plan)
    result = Sender(sqs, url, fifo=False, threads=1, retry_delay=0).send(iter([txn(i) for i in range(10)]), 10)
    assert injector.calls == [[f"txn-{i:05d}" for i in range(10)], ["txn-00003"]]
    assert (result.sent, result.failed, result.not_sent) == (9, 1, 0)
    assert result.errors == ["txn-00005: InvalidParameterValue: bad entry"]
    assert sorted(result.transaction_ids) == sorted(f"txn-{i:05d}" for i in range(10) if i != 5)
    assert sorted(drain(sqs, url)) == sorted(result.transaction_ids)


def test_retryable_failures_give_up_after_the_retries(endpoint: str) -> None:
    sqs, url = make_queue(endpoint)
    Injector(sqs, client(endpoint), lambda number, entries: {"0": RETRYABLE})
    result = Sender(sqs, url, fifo=False, threads=1, retry_delay=0).send(iter([txn(0), txn(1)]), 2)
    assert (result.sent, result.failed, result.api_calls) == (1, 1, ENTRY_RETRIES + 1)
    assert result.errors == ["txn-00000: InternalError: try again"]


def test_entries_accepted_before_a_resend_raises_count_as_sent(endpoint: str) -> None:
    sqs, url = make_queue(endpoint)

    def plan(number: int, entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        if number == 0:
            return {"9": RETRYABLE}
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    Injector(sqs, client(endpoint), plan)
    result = Sender(sqs, url, fifo=False, threads=1, retry_delay=0).send(iter([txn(i) for i in range(30)]), 30)
    assert (result.sent, result.failed, result.not_sent) == (9, 1, 20)
    assert isinstance(result.stopped_by, EndpointUnreachable)
    assert result.errors == [result.stopped_by.message]
    assert len(drain(sqs, url)) == 9


def test_ctrl_c_reports_what_was_not_sent(endpoint: str) -> None:
    """Ctrl-C: the batch being sent finishes, the batches queued behind it are not sent."""
    sqs, url = make_queue(endpoint)
    first_call = threading.Event()

    def plan(number: int, entries: list[dict[str, Any]]) -> None:
        first_call.set()
        time.sleep(0.3)  # the main thread takes the Ctrl-C meanwhile

    def interrupted_after(n: int) -> Iterator[Transaction]:
        for i in range(n):
            yield txn(i)
        assert first_call.wait(5)
        raise KeyboardInterrupt

    injector = Injector(sqs, client(endpoint), plan)
    result = Sender(sqs, url, fifo=False, threads=1).send(interrupted_after(25), 100)
    assert result.interrupted and (result.sent, result.failed, result.not_sent) == (10, 0, 90)
    assert result.as_dict()["not_sent"] == 90 and len(injector.calls) == 1
    assert len(drain(sqs, url)) == 10


def test_rate_cap_holds_with_real_sends(endpoint: str) -> None:
    sqs, url = make_queue(endpoint)
    started = time.monotonic()
    result = Sender(sqs, url, fifo=False, threads=4, rate=40).send(iter([txn(i) for i in range(20)]), 20)
    elapsed = time.monotonic() - started
    assert result.sent == 20
    assert elapsed >= 0.45  # 19/40 s at least: the 20th message never goes before then


# --- FIFO order -------------------------------------------------------------------------------------


def test_fifo_keeps_one_accounts_order_with_several_threads(endpoint: str) -> None:
    sqs, url = make_queue(endpoint, fifo=True)
    txns = [txn(i) for i in range(300)]
    result = Sender(sqs, url, fifo=True, threads=4).send(iter(txns), 300)
    assert (result.sent, result.failed, result.reordered) == (300, 0, 0)
    assert drain(sqs, url) == [t.transaction_id for t in txns]


def test_fifo_keeps_every_accounts_order(endpoint: str) -> None:
    sqs, url = make_queue(endpoint, fifo=True)
    accounts = [f"{1000000000 + a * 7919}" for a in range(7)]
    txns = [txn(i, account=accounts[(i * i) % 7]) for i in range(210)]
    result = Sender(sqs, url, fifo=True, threads=4).send(iter(txns), 210)
    assert result.sent == 210
    got = drain(sqs, url)
    assert sorted(got) == sorted(t.transaction_id for t in txns)
    position = {txn_id: i for i, txn_id in enumerate(got)}
    for account in accounts:
        sent_order = [t.transaction_id for t in txns if t.account_id == account]
        assert sorted(sent_order, key=position.__getitem__) == sent_order, account


def test_fifo_resend_goes_before_the_next_batch_and_a_reorder_is_reported(endpoint: str) -> None:
    sqs, url = make_queue(endpoint, fifo=True)
    injector = Injector(sqs, client(endpoint), lambda number, entries: {"2": RETRYABLE} if number == 0 else None)
    txns = [txn(i) for i in range(20)]
    result = Sender(sqs, url, fifo=True, threads=4, retry_delay=0).send(iter(txns), 20)
    assert injector.calls == [
        [f"txn-{i:05d}" for i in range(10)],
        ["txn-00002"],
        [f"txn-{i:05d}" for i in range(10, 20)],
    ]
    assert (result.sent, result.reordered) == (20, 1)
    assert result.warnings == [
        "txn-00002: re-sent after a later transaction of its account was accepted: it is out of order in the FIFO queue"
    ]
    # The residual case: SQS took 3..9 before 2 was re-sent; everything after the batch is in order.
    expected = [0, 1, 3, 4, 5, 6, 7, 8, 9, 2, *range(10, 20)]
    assert drain(sqs, url) == [f"txn-{i:05d}" for i in expected]


def test_fifo_resend_of_an_accounts_last_entry_keeps_the_order(endpoint: str) -> None:
    sqs, url = make_queue(endpoint, fifo=True)
    other = "5555444433"
    txns = [txn(i, account=other if i == 9 else ACCOUNT) for i in range(12)]
    Injector(sqs, client(endpoint), lambda number, entries: {"8": RETRYABLE, "9": RETRYABLE} if number == 0 else None)
    result = Sender(sqs, url, fifo=True, threads=1, retry_delay=0).send(iter(txns), 12)
    assert (result.sent, result.reordered, result.warnings) == (12, 0, [])
    got = drain(sqs, url)
    assert [t for t in got if t != "txn-00009"] == [f"txn-{i:05d}" for i in range(12) if i != 9]


# --- generated transactions and files ---------------------------------------------------------------


def test_generate_checks_count_and_message_size_up_front() -> None:
    with pytest.raises(UsageError, match=r"^--count must be between 1 and 1000000, got 1000001$"):
        generate(GenerateOptions(count=1_000_001))
    with pytest.raises(UsageError, match="got 0"):
        generate(GenerateOptions(count=0))
    email = "a" * 60 + "@" + "b" * 60 + ".example.com"
    widest = {**line(0), "transaction_id": "txn-" + "0" * 32, "amount": "5000.00", "email": email}
    size = transactions.message_size(parse_transaction({**widest, "type": "withdrawal"}))
    with pytest.raises(InputError) as caught:
        generate(GenerateOptions(count=5, type="mixed", email=email), max_message_size=size - 1)
    assert caught.value.lines() == [
        f"--email: a generated message is {size} bytes, queue.max_message_size is {size - 1}"
    ]
    assert len(list(generate(GenerateOptions(count=5, type="mixed", email=email), max_message_size=size))) == 5
    deposits = transactions.message_size(parse_transaction(widest))
    assert len(list(generate(GenerateOptions(count=5, email=email), max_message_size=deposits))) == 5


def test_read_file_parses_amounts_as_the_handler_does(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(line(1))[:-1] + ', "amount": 1e2, "currency": "JPY"}\n')
    assert '"amount": 1e2' in path.read_text()
    count, stream = read_file(str(path))
    assert count == 1
    (got,) = list(stream())
    assert got.amount == Decimal("100") and got.currency == "JPY"


def test_read_file_reports_messages_over_the_queue_limit(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    big = line(2, customer_name="\U0001f600" * 200)
    path.write_text("\n".join(json.dumps(x) for x in (line(1), big, line(3))) + "\n")
    size = transactions.message_size(parse_transaction(big))
    with pytest.raises(InputError) as caught:
        read_file(str(path), max_message_size=1024)
    assert caught.value.lines() == [
        f"{path}: line 2: message is {size} bytes, queue.max_message_size is 1024",
        f"{path}: nothing was sent",
    ]
    assert read_file(str(path), max_message_size=size)[0] == 3


def test_a_file_that_changes_after_its_check_is_a_line_numbered_error(endpoint: str, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(line(i)) for i in range(3)) + "\n")
    _, stream = read_file(str(path))
    path.write_text("\n".join(json.dumps(line(i, amount="-1" if i == 1 else "1.00")) for i in range(3)) + "\n")
    got = stream()
    assert next(got).transaction_id == "txn-00000"
    with pytest.raises(InputError) as caught:
        next(got)
    assert caught.value.lines() == [
        f'{path}: line 2: amount: must be greater than 0, got "-1"',
        f"{path}: the file changed while it was being sent",
    ]
    # While sending: what went before the bad line is counted as sent, the rest as not sent.
    path.write_text("\n".join(json.dumps(line(i)) for i in range(15)) + "\n")
    total, stream = read_file(str(path))
    path.write_text("\n".join(json.dumps(line(i, amount="-1" if i == 12 else "1.00")) for i in range(15)) + "\n")
    sqs, url = make_queue(endpoint)
    result = Sender(sqs, url, fifo=False, threads=2).send(stream(), total)
    assert (result.sent, result.failed, result.not_sent) == (10, 0, 5)
    assert isinstance(result.stopped_by, InputError) and result.errors[0].startswith(f"{path}: line 13: amount:")


def test_a_file_that_grows_or_shrinks_after_its_check_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(line(i)) for i in range(3)) + "\n")
    _, stream = read_file(str(path))
    path.write_text("\n".join(json.dumps(line(i)) for i in range(4)) + "\n")
    with pytest.raises(InputError, match="line 4: more transactions than the 3 checked"):
        list(stream())
    path.write_text(json.dumps(line(0)) + "\n")
    with pytest.raises(InputError, match="changed while it was being sent: 1 transactions, not 3"):
        list(stream())


# --- through the CLI ------------------------------------------------------------------------------------


def write_config(tmp_path: Path, endpoint: str, **queue: Any) -> str:
    path = tmp_path / "txnalert.yaml"
    path.write_text(yaml.safe_dump({"aws": {"endpoint_url": endpoint}, "queue": {"name": "txq", **queue}}))
    return str(path)


def created(tmp_path: Path, endpoint: str, **queue: Any) -> str:
    config = write_config(tmp_path, endpoint, **queue)
    result = runner.invoke(app, ["create-queue", "-c", config])
    assert result.exit_code == 0, result.output
    return config


def queue_of(endpoint: str, name: str) -> tuple[Any, str]:
    sqs = client(endpoint)
    return sqs, sqs.get_queue_url(QueueName=name)["QueueUrl"]


def hook_senders(monkeypatch: pytest.MonkeyPatch, endpoint: str, plan: Plan) -> list[Injector]:
    """The Sender the CLI's send-test uses is injected (`send_test(sender=...)`): an Injector on its client."""
    made: list[Injector] = []

    def make(sqs: Any, url: str, **kwargs: Any) -> Sender:
        made.append(Injector(sqs, client(endpoint), plan))
        return Sender(sqs, url, **kwargs, retry_delay=0)

    monkeypatch.setattr(sending, "send_test", functools.partial(sending.send_test, sender=make))
    return made


def test_send_test_applies_the_defaults_sizes_the_pool_and_uses_the_injected_sender(
    endpoint: str, tmp_path: Path
) -> None:
    """The library call does what the command needs: defaults, pool sizing, queue lookup and the exit code."""
    config = load(created(tmp_path, endpoint))
    aws = Aws.from_config(config)
    made: list[dict[str, Any]] = []

    def make(sqs: Any, url: str, **kwargs: Any) -> Sender:
        made.append(kwargs)
        return Sender(sqs, url, **kwargs)

    result = sending.send_test(using(aws), config, sending.SendOptions(count=3, threads=12), sender=make)
    assert made == [
        {
            "fifo": False,
            "threads": 12,
            "rate": None,
            "keep_ids": False,
            "max_message_size": config.queue.max_message_size,
        }
    ]
    assert aws.max_pool_connections == 14  # a connection per thread, and two more
    assert (result.sent, result.failed, result.queue, result.exit_code) == (3, 0, "txq", 0)
    sent = [json.loads(m["Body"]) for m in receive_bodies(*queue_of(endpoint, "txq"))]
    assert {(t["type"], t["currency"], t["email"]) for t in sent} == {("deposit", "USD", config.send_test.recipient)}

    def refusing(sqs: Any, url: str, **kwargs: Any) -> Sender:
        Injector(sqs, client(endpoint), lambda number, entries: {"0": SENDER_FAULT})
        return Sender(sqs, url, **kwargs)

    failed = sending.send_test(
        using(Aws.from_config(config)), config, sending.SendOptions(count=2, keep_ids=True), sender=refusing
    )
    assert (failed.sent, failed.failed, failed.exit_code, len(failed.transaction_ids)) == (1, 1, 1, 1)
    with pytest.raises(UsageError, match=r"^--from-file cannot be combined with --count$"):
        sending.send_test(using(aws), config, sending.SendOptions(count=2, from_file="t.jsonl"), sender=make)
    assert len(made) == 1  # a usage error comes before any sender is made


def receive_bodies(sqs: Any, url: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        got += batch
    return got


def test_cli_keeps_fifo_order_for_one_account(endpoint: str, tmp_path: Path) -> None:
    config = created(tmp_path, endpoint, fifo=True)
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(line(i)) for i in range(300)) + "\n")
    result = runner.invoke(app, ["send-test", "-c", config, "--from-file", str(path), "--threads", "8"])
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.splitlines()[1]
        == "FIFO queue: each account's transactions went through one of 8 threads, in order"
    )
    assert drain(*queue_of(endpoint, "txq.fifo")) == [f"txn-{i:05d}" for i in range(300)]


def test_cli_rejects_messages_over_the_configured_size_and_sends_nothing(endpoint: str, tmp_path: Path) -> None:
    config = created(tmp_path, endpoint, max_message_size=1024)
    path = tmp_path / "t.jsonl"
    big = line(2, customer_name="\U0001f600" * 200)
    path.write_text("\n".join(json.dumps(x) for x in (line(1), big)) + "\n")
    result = runner.invoke(app, ["send-test", "-c", config, "--from-file", str(path)])
    assert result.exit_code == 2
    size = transactions.message_size(parse_transaction(big))
    assert result.stderr.splitlines() == [
        f"error: {path}: line 2: message is {size} bytes, queue.max_message_size is 1024",
        f"error: {path}: nothing was sent",
    ]
    assert drain(*queue_of(endpoint, "txq")) == []


def test_cli_rejects_generation_flags_with_a_file_and_bad_counts(endpoint: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, endpoint)
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(line(1)) + "\n")
    result = runner.invoke(app, ["send-test", "-c", config, "--from-file", str(path), "--type", "deposit"])
    assert (result.exit_code, result.stderr) == (2, "error: --from-file cannot be combined with --type\n")
    result = runner.invoke(app, ["send-test", "-c", config, "--from-file", str(path), "--currency", "usd", "-n", "2"])
    assert result.stderr == "error: --from-file cannot be combined with --count, --currency\n"
    for count in ("0", "1000001"):
        result = runner.invoke(app, ["send-test", "-c", config, "--count", count])
        assert result.exit_code == 2
        assert result.stderr == f"error: --count must be between 1 and 1000000, got {count}\n"


def test_cli_json_mode_still_prints_failure_reasons(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = created(tmp_path, endpoint)
    hook_senders(monkeypatch, endpoint, lambda number, entries: {"1": SENDER_FAULT} if number == 0 else None)
    result = runner.invoke(app, ["send-test", "-c", config, "--count", "5", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) == {"sent", "failed", "not_sent", "transaction_ids", "elapsed_s"}
    assert (data["sent"], data["failed"], data["not_sent"], len(data["transaction_ids"])) == (4, 1, 0, 4)
    (error,) = result.stderr.splitlines()
    assert error.startswith("error: txn-") and error.endswith(": InvalidParameterValue: bad entry")


def test_cli_ctrl_c_shows_the_counts_and_exits_130(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = created(tmp_path, endpoint)

    def interrupt(number: int, entries: list[dict[str, Any]]) -> None:
        if number == 0:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the first batch is being sent
            time.sleep(0.3)

    hook_senders(monkeypatch, endpoint, interrupt)
    result = runner.invoke(app, ["send-test", "-c", config, "--count", "100", "--threads", "1", "--json"])
    assert result.exit_code == 130, result.output
    data = json.loads(result.stdout)
    assert data["sent"] >= 10 and data["failed"] == 0 and data["not_sent"] > 0
    assert data["sent"] + data["not_sent"] == 100
    assert result.stderr == f"error: interrupted: {data['not_sent']} transactions were not sent\n"
    assert len(drain(*queue_of(endpoint, "txq"))) == data["sent"]


def test_peeking_the_dlq_does_not_warn_about_max_receive_count(endpoint: str, tmp_path: Path) -> None:
    config = created(tmp_path, endpoint)
    sqs, url = queue_of(endpoint, "txq-dlq")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(line(1)))
    result = runner.invoke(app, ["inspect-queue", "-c", config, "--peek", "1", "--dlq", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "warning: peeking is a receive: each peeked message's receive count went up by one "
        "(the DLQ has no redrive policy: this does not move its messages anywhere)\n"
    )
