"""`txnalert smoke`: prove that a deployed pipeline delivers, for CI after a deploy.

Sends one transaction with a fresh id, then watches until its idempotency record says COMPLETED (it
carries the SES message id), or until the timeout. On the emulator, where no Lambda runs, the worker runs
in-process for the duration. Fails when the message ends in the DLQ, the DLQ grows, or the handler fails the
transaction (as it logs it, or as the in-process worker reports it, whichever comes first), naming the reason:
- a permanent failure (invalid transaction, rejected by SES) fails at once;
- a retryable one (throttling, a record not started for lack of time, ...) fails at once when SQS's retry, one
  visibility timeout after the receive, cannot come before the timeout: waiting could only end in a timeout.
  Otherwise smoke says so and keeps waiting for the retry; a timeout then names the last failure.
A sender that no identity covers (and the account does not hold verified) is a config error before anything
is sent.
"""

from __future__ import annotations

import os
import random
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..aws import Aws
from ..config import Config
from ..errors import TxnalertError, UsageError, error_code
from ..handler import layout
from ..handler.app import PERMANENT_FAILURES
from ..handler.contract import Transaction, mask_email, message_attributes
from ..infra.ses import sender_identity
from ..logs import LogGroupMissing, log_group, read_events
from ..queue import sqs as engine
from ..queue.inspect import DLQ, MAIN, QueueStats, queue_stats
from ..queue.transactions import GenerateOptions, build_transaction
from .worker import Worker, build_worker

SIMULATOR = {
    "success": "success@simulator.amazonses.com",
    "bounce": "bounce@simulator.amazonses.com",
    "complaint": "complaint@simulator.amazonses.com",
    "ooto": "ooto@simulator.amazonses.com",
}
STEPS = ("sent", "received by the function", "email accepted by SES", "record completed")


@dataclass
class Step:
    name: str
    ok: bool | None = None  # None: not reached
    at_s: float | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "ok": self.ok,
            "at_s": None if self.at_s is None else round(self.at_s, 3),
            "detail": self.detail,
        }


@dataclass
class SmokeResult:
    transaction_id: str
    recipient: str
    steps: list[Step] = field(default_factory=lambda: [Step(name) for name in STEPS])
    ses_message_id: str | None = None
    reason: str = ""
    worker: bool = False

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps) and not self.reason

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def shown_recipient(self) -> str:
        """CI output is a log: a real address is masked; SES's simulator addresses are nobody's."""
        return self.recipient if self.recipient.endswith("@simulator.amazonses.com") else mask_email(self.recipient)

    @property
    def latency_s(self) -> float | None:
        return self.steps[-1].at_s if self.ok else None

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def reach(self, name: str, at_s: float, detail: str = "") -> None:
        step = self.step(name)
        if step.ok is None:
            step.ok, step.at_s, step.detail = True, at_s, detail
        for earlier in self.steps[: self.steps.index(step)]:  # a later step implies the earlier ones
            if earlier.ok is None:
                earlier.ok, earlier.at_s = True, at_s

    def fail(self, reason: str, at_s: float) -> None:
        self.reason = reason
        pending = next((s for s in self.steps if s.ok is None), None)
        if pending is not None:
            pending.ok, pending.at_s, pending.detail = False, at_s, reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "transaction_id": self.transaction_id,
            "ses_message_id": self.ses_message_id,
            "latency_s": None if self.latency_s is None else round(self.latency_s, 3),
            "recipient": self.shown_recipient,
            "worker": self.worker,
            "reason": self.reason,
            "steps": [s.as_dict() for s in self.steps],
        }


def junit_xml(result: SmokeResult) -> bytes:
    """A JUnit report: one test case per step, the failure carrying the reason."""
    failures = sum(1 for s in result.steps if s.ok is False)
    skipped = sum(1 for s in result.steps if s.ok is None)
    total = result.steps[-1].at_s or max((s.at_s or 0.0) for s in result.steps)
    suite = ET.Element(
        "testsuite",
        name="txnalert smoke",
        tests=str(len(result.steps)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{total:.3f}",
    )
    properties = ET.SubElement(suite, "properties")  # before the test cases, as the JUnit schema wants
    ET.SubElement(properties, "property", name="transaction_id", value=result.transaction_id)
    if result.ses_message_id:
        ET.SubElement(properties, "property", name="ses_message_id", value=result.ses_message_id)
    previous = 0.0
    for step in result.steps:
        elapsed = max(0.0, (step.at_s or previous) - previous)
        case = ET.SubElement(suite, "testcase", classname="txnalert.smoke", name=step.name, time=f"{elapsed:.3f}")
        if step.ok is False:
            failure = ET.SubElement(case, "failure", message=step.detail or result.reason)
            failure.text = f"transaction {result.transaction_id}: {step.detail or result.reason}"
        elif step.ok is None:
            ET.SubElement(case, "skipped", message="not reached")
        previous = step.at_s or previous
    return ET.tostring(ET.ElementTree(suite).getroot(), encoding="utf-8", xml_declaration=True)


def check_junit_path(path: str) -> None:
    """Before anything is sent: the report must be writable, or CI would lose the outcome."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"--junit {path}: is a directory")
    if not parent.is_dir():
        raise UsageError(f"--junit {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"--junit {path}: not writable")


def write_junit(result: SmokeResult, path: str) -> None:
    try:
        Path(path).write_bytes(junit_xml(result))
    except OSError as exc:
        raise TxnalertError(f"--junit {path}: cannot write: {exc.strerror}") from None


def _record(ddb: Any, table: str, transaction_id: str) -> dict[str, Any] | None:
    try:
        item = ddb.get_item(TableName=table, Key=layout.key_of(transaction_id), ConsistentRead=True)
    except Exception as exc:
        # No table: the handler cannot complete either; keep watching the logs and the DLQ, which say why.
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return item.get("Item")


class _Watch:
    """What one smoke run watches, and its verdict so far (`look` says whether it is over)."""

    def __init__(
        self,
        aws: Aws,
        config: Config,
        txn: Transaction,
        result: SmokeResult,
        *,
        main: QueueStats,
        dlq: QueueStats,
        timeout: float,
        notify: Callable[[str], None] | None,
    ) -> None:
        self.aws, self.config, self.txn, self.result = aws, config, txn, result
        self.main, self.dlq, self.timeout, self.notify = main, dlq, timeout, notify
        self.dlq_before = dlq.visible + dlq.in_flight
        self.since_ms = 0  # log events from this time on (set when the transaction is sent)
        self.message_id = ""
        self.consumer: Worker | None = None
        self.noted: set[str] = set()
        self.last_failure = ""

    def look(self, now: float) -> bool:
        """One look at the logs, the worker, the record and the DLQ; True when the run is over."""
        verdict = self._judge(self._failures(now), now)
        if verdict is not None:
            self.result.fail(verdict, now)
            return True
        return self._completed(now) or self._dlq_grew(now) or self._timed_out(now)

    def _failures(self, now: float) -> list[str]:
        logs = self.aws.client("logs")
        group = log_group(self.config.lambda_.function_name)
        failures = _scan_logs(logs, group, self.since_ms, self.txn.transaction_id, self.result, now)
        reported = self.consumer.failure_reason(self.message_id) if self.consumer is not None else None
        if reported:  # the in-process worker's word: no need to wait for the logs
            failures.insert(0, reported)
        return failures

    def _judge(self, failures: list[str], now: float) -> str | None:
        """The verdict the failures give: a permanent one, or a retry that cannot come in time; else None."""
        visibility = self.main.visibility_timeout
        for failure in failures:
            self.result.reach("received by the function", now)  # a failure implies the function had it
            said = _said(failure)
            if failure.startswith(PERMANENT_FAILURES):
                return said
            self.last_failure = failure
            received_at = self.result.step("received by the function").at_s or 0.0
            if received_at + visibility > self.timeout:
                return (
                    f"{said}; SQS retries it only after the queue's visibility timeout "
                    f"({visibility} s), beyond --timeout {self.timeout:g} s"
                )
            if failure not in self.noted and self.notify is not None:
                self.notify(f"{said}; SQS retries it after the queue's visibility timeout ({visibility} s)")
            self.noted.add(failure)
        return None

    def _completed(self, now: float) -> bool:
        item = _record(self.aws.client("dynamodb"), self.config.idempotency.table, self.txn.transaction_id)
        if item is None:
            return False
        result = self.result
        result.reach("received by the function", now)
        if not layout.is_completed(item):
            return False
        result.ses_message_id = layout.record_data(item).get("ses_message_id") or result.ses_message_id
        result.reach("email accepted by SES", now, f"SES message id {result.ses_message_id}")
        result.reach("record completed", now)
        return True

    def _dlq_grew(self, now: float) -> bool:
        counts = engine.counts(self.aws.client("sqs"), self.dlq.url)
        depth = counts.visible + counts.in_flight
        if depth <= self.dlq_before:
            return False
        why = f" (the handler logged: {self.last_failure})" if self.last_failure else ""
        self.result.fail(f"the DLQ grew from {self.dlq_before} to {depth} messages during the run{why}", now)
        return True

    def _timed_out(self, now: float) -> bool:
        if now < self.timeout:
            return False
        reason = _timeout_reason(self.timeout, self.result.worker, self.aws.is_local, self.last_failure)
        self.result.fail(reason, now)
        return True


def _send(sqs: Any, url: str, txn: Transaction, fifo: bool) -> str:
    """SendMessage of the smoke transaction; its message id."""
    extra = {"MessageGroupId": txn.account_id, "MessageDeduplicationId": txn.transaction_id} if fifo else {}
    response = sqs.send_message(
        QueueUrl=url, MessageBody=txn.to_body(), MessageAttributes=message_attributes(txn), **extra
    )
    return str(response["MessageId"])


def run_smoke(
    aws: Aws,
    config: Config,
    *,
    timeout: float = 120,
    worker: bool | None = None,
    scenario: str = "success",
    poll_seconds: float = 0.5,
    notify: Callable[[str], None] | None = None,
) -> SmokeResult:
    """`txnalert smoke`: send one transaction and watch it until its email is accepted, or the run fails.

    worker: run the worker in-process (default: on the emulator). notify: called once with each retryable failure
    that smoke keeps waiting through."""
    if scenario not in SIMULATOR:
        raise UsageError(f"--scenario must be one of {', '.join(SIMULATOR)}, got {scenario!r}")
    sender_identity(aws, config)  # SenderNotCovered (exit 2) before anything is sent
    recipient = config.send_test.recipient if scenario == "success" else SIMULATOR[scenario]
    sqs = aws.client("sqs")
    where = aws.describe_endpoint()
    main = queue_stats(sqs, MAIN, config.queue.name, where=where)
    dlq = queue_stats(sqs, DLQ, config.queue.dlq.name, where=where)
    run_worker = aws.is_local if worker is None else worker

    txn = build_transaction(GenerateOptions(email=recipient), 0, random.Random())
    result = SmokeResult(transaction_id=txn.transaction_id, recipient=recipient, worker=run_worker)
    watch = _Watch(aws, config, txn, result, main=main, dlq=dlq, timeout=timeout, notify=notify)
    thread = None
    if run_worker:
        watch.consumer = build_worker(aws, config, wait_seconds=1)
        thread = threading.Thread(target=watch.consumer.run, name="smoke-worker", daemon=True)
    started = time.monotonic()
    watch.since_ms = int(time.time() * 1000) - 1000
    watch.message_id = _send(sqs, main.url, txn, config.queue.fifo)
    result.reach("sent", time.monotonic() - started)
    if thread is not None:
        thread.start()
    try:
        while not watch.look(time.monotonic() - started):
            time.sleep(poll_seconds)
    finally:
        if watch.consumer is not None and thread is not None:
            watch.consumer.stop_requested.set()
            thread.join(timeout=30)
    return result


def _said(failure: str, lead: str = "the handler logged") -> str:
    """A handler failure ("<what it logged>: <detail>") as smoke reports it."""
    message, _, detail = failure.partition(": ")
    return f"{lead} {message!r}: {detail}" if detail else f"{lead} {message!r}"


def _scan_logs(logs: Any, group: str, since_ms: int, txn: str, result: SmokeResult, now: float) -> list[str]:
    """The failures the handler logged for txn, oldest first, each as "<message>: <reason>"."""
    try:
        events = list(read_events(logs, group, since_ms=since_ms, txn=txn))
    except LogGroupMissing:
        return []
    except Exception as exc:
        if error_code(exc) == "AccessDeniedException":  # smoke can still judge by the record and the worker
            return []
        raise
    if events:  # the handler's first line for the transaction: when the function received it
        first = max(0.0, now - (time.time() * 1000 - events[0].timestamp) / 1000)
        result.reach("received by the function", min(first, now))
    failures = []
    for event in events:
        record = event.record or {}
        if record.get("message") == "email sent":  # SES accepted it: the handler's own moment
            at = max(0.0, now - (time.time() * 1000 - event.timestamp) / 1000)
            result.reach("email accepted by SES", at, f"SES message id {record.get('ses_message_id')}")
            result.ses_message_id = result.ses_message_id or record.get("ses_message_id")
        if record.get("level") not in ("WARNING", "ERROR"):
            continue
        reasons = record.get("reasons") or record.get("reason")
        text = "; ".join(reasons) if isinstance(reasons, list) else str(reasons or "")
        failures.append(f"{record.get('message')}: {text}" if text else str(record.get("message")))
    return failures


def _timeout_reason(timeout: float, ran_worker: bool, local: bool, last_failure: str = "") -> str:
    base = f"no completed idempotency record after {timeout:g} s"
    if local and not ran_worker:
        return base + ": nothing consumes the queue on the emulator (run `txnalert worker` or drop --no-worker)"
    if last_failure:
        who = "the worker" if local else "the function"
        return f"{base}: {who} did not finish the transaction; {_said(last_failure, 'the handler last logged')}"
    if local:
        return base + ": the worker did not finish the transaction (see `txnalert logs`)"
    return base + ": check the trigger is enabled and the function healthy (`txnalert doctor`, `txnalert logs`)"
