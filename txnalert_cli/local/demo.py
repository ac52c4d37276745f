"""`txnalert demo`: the whole pipeline, offline, in one command.

Starts the emulator in-process on a free port, applies the plan, verifies the sender, sends valid,
duplicated and malformed transactions, runs the worker until the queue is empty, then checks that the
counts add up: emails = valid unique transactions, DLQ = malformed messages.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..aws import Aws
from ..config import Config
from ..errors import UsageError
from ..infra import plan as infra_plan
from ..queue import sqs as engine
from ..queue.inspect import DLQ, MAIN, peek, queue_stats
from ..queue.sending import Sender
from ..queue.transactions import GenerateOptions, generate
from .emulator import start_in_thread
from .lambda_runtime import LogSink
from .outbox import fetch
from .worker import Worker, build_worker

# Malformed messages the bank's core app might produce; each must end in the DLQ with a reason.
MALFORMED = [
    "this is not JSON",
    json.dumps(
        {
            "schema_version": 1,
            "transaction_id": "txn-bad-amount",
            "account_id": "1234567890",
            "type": "deposit",
            "amount": "-5.00",
            "currency": "USD",
            "email": "ada@example.com",
            "occurred_at": "2026-11-22T10:00:00Z",
        }
    ),
    json.dumps(
        {
            "schema_version": 1,
            "transaction_id": "txn-bad-currency",
            "account_id": "1234567890",
            "type": "withdrawal",
            "amount": "12.00",
            "currency": "XYZ",
            "email": "ada@example.com",
            "occurred_at": "2026-11-22T10:00:00Z",
        }
    ),
]
DUPLICATES = 3


@dataclass
class DemoResult:
    endpoint: str
    plan: Any
    sent_valid: int
    sent_duplicates: int
    sent_malformed: int
    worker: Any
    outbox: list[Any]
    dlq: list[dict[str, Any]]
    elapsed_s: float
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "endpoint": self.endpoint,
            "changes": [c.as_dict() for c in self.plan.changes],
            "sent": {"valid": self.sent_valid, "duplicates": self.sent_duplicates, "malformed": self.sent_malformed},
            "worker": self.worker.as_dict(),
            "emails": len(self.outbox),
            "outbox_sample": [e.as_dict() for e in self.outbox[:3]],
            "dlq": self.dlq,
            "checks": self.checks,
            "elapsed_s": round(self.elapsed_s, 2),
        }


def run_demo(config: Config, *, count: int = 25, progress: Callable[[str], None] | None = None) -> DemoResult:
    """`txnalert demo`: run the demo on a fresh in-process emulator (the config's endpoint is replaced by it)."""
    if count < 1:
        raise UsageError(f"--count must be at least 1, got {count}")
    say = progress or (lambda text: None)
    started = time.perf_counter()
    emulator = start_in_thread(port=0)
    try:
        emulator.reset()  # a throwaway emulator: nothing from before may count
        config = replace(config, aws=replace(config.aws, endpoint_url=emulator.url))
        aws = Aws(config=config, endpoint_url=emulator.url, emulator=True)
        say(f"emulator on {emulator.url}")
        plan = infra_plan.run(aws, config).plan
        say(f"plan applied: {len(plan.pending)} resources created")

        sqs = aws.client("sqs")
        main = queue_stats(sqs, MAIN, config.queue.name)
        sender = Sender(sqs, main.url, fifo=config.queue.fifo, threads=4)
        transactions = list(generate(GenerateOptions(count=count, type="mixed", email=config.send_test.recipient)))
        sent = sender.send(iter(transactions), count)
        duplicates = transactions[:DUPLICATES]
        # Re-sending the same transactions: a producer retry. FIFO queues drop them (same deduplication id);
        # standard queues deliver them and the handler's idempotency sends no second email.
        dup = sender.send(iter(duplicates), len(duplicates))
        for index, body in enumerate(MALFORMED):
            extra = {"MessageGroupId": f"malformed-{index}", "MessageDeduplicationId": f"malformed-{index}"}
            sqs.send_message(QueueUrl=main.url, MessageBody=body, **(extra if config.queue.fifo else {}))
        say(f"sent {sent.sent} transactions, {dup.sent} duplicates, {len(MALFORMED)} malformed messages")

        worker = build_worker(aws, config, sink=LogSink(), retry_delay=0, wait_seconds=1)
        stats = worker.run(until_empty=True)
        say(f"worker: {stats.received} received, {stats.succeeded} succeeded, {stats.failed} failed")

        outbox = fetch(emulator.url)
        dlq_stats = queue_stats(sqs, DLQ, config.queue.dlq.name)
        dlq = _read_dlq(sqs, dlq_stats.url, worker)
        result = DemoResult(
            endpoint=emulator.url,
            plan=plan,
            sent_valid=sent.sent,
            sent_duplicates=dup.sent,
            sent_malformed=len(MALFORMED),
            worker=stats,
            outbox=outbox,
            dlq=dlq,
            elapsed_s=time.perf_counter() - started,
        )
        unique = {t.transaction_id for t in transactions}
        emailed = [_transaction_of(e.text) for e in outbox]
        recipients_ok = all(e.to == [config.send_test.recipient] for e in outbox)
        depth = main_depth(sqs, main.url)
        result.checks = [
            {
                "check": "emails = valid unique transactions",
                "expected": len(unique),
                "actual": len(outbox),
                "ok": len(outbox) == len(unique),
            },
            {
                "check": "exactly one email per transaction",
                "expected": True,
                "actual": sorted(emailed) == sorted(unique),
                "ok": sorted(emailed) == sorted(unique),
            },
            {
                "check": "DLQ = malformed messages",
                "expected": len(MALFORMED),
                "actual": len(dlq),
                "ok": len(dlq) == len(MALFORMED),
            },
            {
                "check": "every email to the test recipient",
                "expected": True,
                "actual": recipients_ok,
                "ok": recipients_ok,
            },
            {
                "check": "queue empty",
                "expected": 0,
                "actual": depth,
                "ok": depth == 0,
            },
        ]
        return result
    finally:
        emulator.stop()


def _transaction_of(text: str) -> str:
    """The transaction id an email is about (its footer names it)."""
    match = re.search(r"about transaction ([A-Za-z0-9._:-]+)\.", text)
    return match.group(1) if match else ""


def main_depth(sqs: Any, url: str) -> int:
    """Messages on the queue, visible or in flight."""
    counts = engine.counts(sqs, url)
    return counts.visible + counts.in_flight


def _read_dlq(sqs: Any, url: str, worker: Worker) -> list[dict[str, Any]]:
    messages = peek(sqs, url, 100, wait_seconds=0)
    return [
        {
            "message_id": m.message_id,
            "body": m.body if isinstance(m.body, str) else json.dumps(m.body),
            "reason": worker.failure_reason(m.message_id) or "unknown",
        }
        for m in messages
    ]
