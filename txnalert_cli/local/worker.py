"""`txnalert worker`: Lambda's SQS trigger, run locally, invoking our handler in-process.

Semantics follow Lambda's SQS event source mapping with ReportBatchItemFailures:
- batches of up to `lambda.batch_size` records, in the exact event shape Lambda delivers;
- the records listed in `batchItemFailures` stay on the queue (visible again after the visibility timeout,
  moved to the DLQ by SQS after max_receive_count); every other record is deleted (DeleteMessageBatch);
- a handler exception, or a failure list naming a record that is not in the batch, fails the whole batch.

The event records, the batch response contract and the handler's log stream are `lambda_runtime`'s. moto never
runs Lambda code (no Docker), so on the emulator this is the consumer. It also works against real AWS, as a
consumer on a VM or in a container. Entry point: `run_worker` (`txnalert worker`).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from ..aws import Aws
from ..config import Config
from ..errors import INTERRUPTED
from ..handler.app import AlertHandler
from ..handler.context import LambdaContext
from ..infra.kinds.function import handler_settings
from ..logs import CloudWatchWriter, log_group
from ..queue import sqs as engine
from ..queue.entry import SILENT, Notes
from ..queue.inspect import MAIN, find_queue_url, queue_stats
from ..queue.sqs import MAX_BATCH_ENTRIES as RECEIVE_MAX
from .lambda_runtime import LogSink, batch_failures, lambda_record

# One receive_batch() long-polls at most this long before the run loop looks again (until-empty: at the queue).
MAX_POLL_SECONDS = 5
# A long poll is made of receives of at most this many seconds: a stop (Ctrl-C) is answered within one. An idle
# worker makes about one ReceiveMessage call a second (on AWS, about 2.6 million a month per worker).
POLL_SLICE_SECONDS = 1


@dataclass
class FailedRecord:
    """A record this worker saw fail, until it is received again."""

    receive_count: int  # its ApproximateReceiveCount at the failed receive
    visible_at: float  # time.monotonic() when SQS makes it visible again (an estimate on the late side)
    reason: str


@dataclass
class WorkerStats:
    received: int = 0
    succeeded: int = 0
    failed: int = 0  # failed receives (a record failing on 5 receives counts 5)
    emails_sent: int = 0
    batches: int = 0
    batch_errors: int = 0
    delete_failures: int = 0
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    failures_by_reason: dict[str, int] = field(default_factory=dict)  # failed receives per reason
    still_failing: int = 0  # records whose last receive in this run failed (the dead-lettered included)
    dead_lettered: int = 0  # of those: failed their last allowed receive, and SQS moved them (confirmed)
    awaiting_dlq: int = 0  # failed their last allowed receive, but the move to the DLQ is not confirmed
    interrupted: bool = False  # stopped by Ctrl-C
    max_receive_count: int | None = None  # the queue's redrive policy
    dead_letter_queue: str | None = None  # its DLQ's name

    @property
    def emails_per_second(self) -> float:
        return self.emails_sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def all_processed(self) -> bool:
        """Every record received was processed in the end: none left failing, no batch or delete failed."""
        return not (self.still_failing or self.batch_errors or self.delete_failures)

    @property
    def exit_code(self) -> int:
        """130 after Ctrl-C; 1 when a record was left failing or a batch or delete failed; else 0."""
        if self.interrupted:
            return INTERRUPTED
        return 0 if self.all_processed else 1

    def count_failure(self, reason: str) -> None:
        self.failed += 1
        self.failures_by_reason[reason] = self.failures_by_reason.get(reason, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "emails_sent": self.emails_sent,
            "batches": self.batches,
            "batch_errors": self.batch_errors,
            "delete_failures": self.delete_failures,
            "elapsed_s": round(self.elapsed_s, 3),
            "emails_per_second": round(self.emails_per_second, 2),
            "failures_by_reason": dict(sorted(self.failures_by_reason.items(), key=lambda item: -item[1])),
            "still_failing": self.still_failing,
            "dead_lettered": self.dead_lettered,
            "awaiting_dlq": self.awaiting_dlq,
            "interrupted": self.interrupted,
            "errors": self.errors,
        }


Handler = Callable[[dict[str, Any], Any], Any]


def _records(count: int, what: str = "record") -> str:
    return f"{count} {what}" if count == 1 else f"{count} {what}s"


class Worker:
    """Polls one queue and invokes a handler with Lambda's event shape and batch semantics.

    While it runs, `status_line()` and `waiting_text()` describe it (for a live display, from any thread), and
    `notify` (when set) is called with each new waiting message."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: Handler,
        *,
        region: str,
        function_name: str,
        timeout_seconds: float,
        memory_mb: int = 256,
        batch_size: int = 10,
        wait_seconds: int = 20,
        retry_delay: int | None = None,
        sink: LogSink | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.queue_name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        self.handler = handler
        self.region = region
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self.batch_size = batch_size
        self.wait_seconds = min(wait_seconds, MAX_POLL_SECONDS)
        self.retry_delay = retry_delay
        self.sink = sink
        self.notify = notify
        self.account_id = queue_arn.split(":")[4] if queue_arn.count(":") >= 5 else "000000000000"
        self.stop_requested = threading.Event()
        self.interrupted = False  # set by Ctrl-C (stop_requested alone may come from a caller)
        # What the current run knows, read from other threads by status_line() and waiting_text().
        self.stats = WorkerStats()
        self.visibility_timeout = 30
        self.max_receive_count: int | None = None
        self.dlq_url: str | None = None
        self._lock = threading.Lock()
        self._failed: dict[str, FailedRecord] = {}
        self._in_hand = 0
        self._idle = False
        self._last_empty_receive = 0.0  # time.monotonic() when the latest receive that returned nothing began
        self._not_ours = 0  # messages on the queue, in flight or delayed, that this worker does not hold
        self._started = time.monotonic()
        self._dlq_before = 0
        self._last_note: tuple[Any, ...] | None = None

    # -- receiving --

    def receive_batch(self, limit: int, *, wait: int | None = None) -> list[dict[str, Any]]:
        """Up to `limit` messages: several receives of 10 while the queue keeps giving full ones. The first
        receive waits `wait` seconds (default: the worker's long poll)."""
        messages: list[dict[str, Any]] = []
        wait = self.wait_seconds if wait is None else wait
        while len(messages) < limit:
            want = min(RECEIVE_MAX, limit - len(messages))
            got = self._receive(want, wait)
            messages.extend(got)
            if len(got) < want or self.stop_requested.is_set():
                break
            wait = 0  # the rest of a large batch: take what is already there
        return messages

    def _receive(self, want: int, wait: int) -> list[dict[str, Any]]:
        """One receive of up to `want` messages. A long poll of `wait` seconds is made of receives of at most
        POLL_SLICE_SECONDS, so that a stop request (Ctrl-C) is answered within one, never a whole long poll."""
        deadline = time.monotonic() + wait
        while True:
            began = time.monotonic()
            poll = max(0, min(POLL_SLICE_SECONDS, math.ceil(deadline - began)))
            got = engine.receive(self.sqs, self.queue_url, max_messages=want, wait_seconds=poll)
            if got:
                return got
            with self._lock:
                self._idle = True
                self._last_empty_receive = began
            if poll == 0 or self.stop_requested.is_set() or time.monotonic() >= deadline:
                return []

    # -- one batch --

    def invoke(self, messages: list[dict[str, Any]], stats: WorkerStats) -> None:
        """Invoke the handler with one batch and settle it as Lambda does."""
        received_at = time.monotonic()
        records = [lambda_record(m, self.queue_arn, self.region) for m in messages]
        receive_counts = {
            m["MessageId"]: int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1) or 1) for m in messages
        }
        with self._lock:
            self._idle = False
            self._in_hand = len(records)
            for message_id in receive_counts:
                self._failed.pop(message_id, None)  # it is back
        context = LambdaContext(
            function_name=self.function_name,
            timeout_seconds=self.timeout_seconds,
            region=self.region,
            account_id=self.account_id,
            memory_limit_in_mb=self.memory_mb,
        )
        stats.batches += 1
        stats.received += len(records)
        by_id = {r["messageId"]: r["receiptHandle"] for r in records}
        emails_before = getattr(self.handler, "emails_sent", 0)
        started = time.monotonic()
        try:
            try:
                response = self.handler({"Records": records}, context)
                if time.monotonic() - started > self.timeout_seconds:
                    # Lambda would have stopped the invocation: the whole batch fails and is retried (the
                    # idempotency record keeps the emails already sent from going out twice).
                    raise TimeoutError(f"Task timed out after {self.timeout_seconds:g} seconds")
                failed_ids = batch_failures(response, by_id)
            except Exception as exc:  # the whole batch fails, as in Lambda: nothing is deleted
                self._ship_logs(stats)
                stats.emails_sent += getattr(self.handler, "emails_sent", 0) - emails_before
                stats.batch_errors += 1
                stats.errors.append(f"batch of {len(records)} failed: {type(exc).__name__}: {exc}")
                reason = f"batch failed: {type(exc).__name__}: {exc}"
                self._track_failures({mid: reason for mid in by_id}, receive_counts, received_at, stats)
                self._retry_later(list(by_id.values()))
                return
            stats.emails_sent += getattr(self.handler, "emails_sent", 0) - emails_before
            self._ship_logs(stats)
            done = [handle for mid, handle in by_id.items() if mid not in failed_ids]
            stats.succeeded += len(done)
            reasons = {mid: self._handler_reason(mid) for mid in by_id if mid in failed_ids}
            self._track_failures(reasons, receive_counts, received_at, stats)
            self._delete(done, stats)
            self._retry_later([by_id[mid] for mid in failed_ids])
        finally:
            with self._lock:
                self._in_hand = 0

    def _handler_reason(self, message_id: str) -> str:
        failures = getattr(self.handler, "failures", None)
        reason = failures.get(message_id) if isinstance(failures, Mapping) else None
        return str(reason) if reason else "failed (the handler gave no reason)"

    def _track_failures(
        self, reasons: dict[str, str], receive_counts: dict[str, int], received_at: float, stats: WorkerStats
    ) -> None:
        """Remember each failed record until it comes back: when, at which receive, and why."""
        if self.retry_delay is not None:
            visible_at = time.monotonic() + self.retry_delay
        else:  # the visibility timeout runs from the receive
            visible_at = received_at + self.visibility_timeout
        with self._lock:
            for message_id, reason in reasons.items():
                stats.count_failure(reason)
                self._failed[message_id] = FailedRecord(receive_counts.get(message_id, 1), visible_at, reason)

    def _ship_logs(self, stats: WorkerStats) -> None:
        if self.sink is None:
            return
        try:
            self.sink.ship()
        except Exception as exc:  # logs must never stop message processing
            stats.errors.append(f"could not write logs to CloudWatch: {exc}")

    def _delete(self, handles: list[str], stats: WorkerStats) -> None:
        outcome = engine.BatchOutcome()
        try:
            engine.delete(self.sqs, self.queue_url, handles, outcome=outcome)
        finally:
            for error in outcome.failed.values():
                stats.delete_failures += 1
                stats.errors.append(f"delete failed: {error}")

    def _retry_later(self, handles: list[str]) -> None:
        """Lambda leaves failed records invisible for the rest of the visibility timeout. With
        retry_delay set, the worker shortens that wait (the receive count and the DLQ move are SQS's)."""
        if self.retry_delay is None or not handles:
            return
        engine.change_visibility(self.sqs, self.queue_url, handles, self.retry_delay)

    def failure_reason(self, message_id: str) -> str | None:
        """Why a message last failed in this worker (its handler's reason, or the batch's), if it did."""
        with self._lock:
            record = self._failed.get(message_id)
        if record is not None:
            return record.reason
        failures = getattr(self.handler, "failures", None)
        return failures.get(message_id) if isinstance(failures, Mapping) else None

    # -- the queue --

    def queue_is_done(self) -> bool:
        counts = engine.counts(self.sqs, self.queue_url)
        now = time.monotonic()
        with self._lock:
            ours = sum(1 for record in self._failed.values() if record.visible_at > now)
            self._not_ours = max(0, counts.in_flight + counts.delayed - ours)
        return counts.total == 0

    def _read_queue(self, stats: WorkerStats) -> None:
        """The queue's visibility timeout and redrive policy, and its DLQ's depth before the run."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
        )["Attributes"]
        self.visibility_timeout = int(attrs.get("VisibilityTimeout", 30))
        self.max_receive_count, self.dlq_url = None, None
        try:
            policy = json.loads(attrs.get("RedrivePolicy") or "{}")
            self.max_receive_count = int(policy["maxReceiveCount"])
            dlq_name = str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        except (ValueError, KeyError, TypeError):
            return
        stats.max_receive_count, stats.dead_letter_queue = self.max_receive_count, dlq_name
        self.dlq_url = find_queue_url(self.sqs, dlq_name)
        self._dlq_before = engine.counts(self.sqs, self.dlq_url).total if self.dlq_url else 0

    def _settle_accounts(self, stats: WorkerStats) -> None:
        """After the run: the records left failing, and of those, the ones SQS moved to the DLQ.

        A record is counted dead-lettered only when it failed its last allowed receive (max_receive_count), it
        is no longer on the queue (the queue is empty, or a receive that came back empty began after it became
        visible again: SQS moves such a message instead of delivering it), and the DLQ grew by at least as many
        messages during the run."""
        with self._lock:
            failed = list(self._failed.values())
        stats.still_failing = len(failed)
        mrc = self.max_receive_count
        last = [record for record in failed if mrc is not None and record.receive_count >= mrc]
        if not last:
            return
        on_queue = engine.counts(self.sqs, self.queue_url).total
        gone = last if on_queue == 0 else [r for r in last if r.visible_at <= self._last_empty_receive]
        growth = engine.counts(self.sqs, self.dlq_url).total - self._dlq_before if self.dlq_url else 0
        stats.dead_lettered = min(len(gone), max(0, growth))
        stats.awaiting_dlq = len(last) - stats.dead_lettered
        if len(gone) > stats.dead_lettered:
            dlq = stats.dead_letter_queue or "the DLQ"
            stats.errors.append(
                f"{_records(len(gone))} failed their last receive ({mrc} of {mrc}) and left {self.queue_name}, but "
                f"{dlq} grew by only {max(0, growth)}: {len(gone) - stats.dead_lettered} of them not counted as "
                "dead-lettered"
            )

    # -- what it is doing, for people --

    def in_flight(self) -> int:
        """Records this worker holds: the batch in hand, and failed ones not yet visible again."""
        now = time.monotonic()
        with self._lock:
            return self._in_hand + sum(1 for record in self._failed.values() if record.visible_at > now)

    def waiting_text(self) -> str | None:
        """What an idle worker is waiting for, with the real numbers; None when it is not waiting."""
        text, _ = self._waiting()
        return text

    def _waiting(self) -> tuple[str | None, tuple[Any, ...] | None]:
        now = time.monotonic()
        with self._lock:
            if not self._idle:
                return None, None
            waiting = [record for record in self._failed.values() if record.visible_at > now]
            not_ours = self._not_ours
        if waiting:
            first = min(waiting, key=lambda record: record.visible_at)
            seconds = max(1, math.ceil(first.visible_at - now))
            what = _records(len(waiting), "failed record")
            mrc = self.max_receive_count
            key = (len(waiting), first.receive_count, first.visible_at)
            if mrc is not None and first.receive_count >= mrc:
                dlq = self.stats.dead_letter_queue or "the DLQ"
                return (
                    f"waiting {seconds} s for {what} to come back and move to {dlq} "
                    f"(received {first.receive_count} of {mrc} times)",
                    key,
                )
            of = f" of {mrc}" if mrc is not None else ""
            hint = "; --retry-delay 0 retries at once" if self.retry_delay != 0 else ""
            return (
                f"waiting {seconds} s for {what} to become visible again (receive {first.receive_count + 1}{of}{hint})",
                key,
            )
        if not_ours:
            return (
                f"waiting for {_records(not_ours, 'message')} in flight or delayed on {self.queue_name} "
                "(not held by this worker)",
                ("not ours", not_ours),
            )
        return None, None

    def _note_waiting(self) -> None:
        """Tell `notify` what the worker waits for, once per new wait."""
        if self.notify is None:
            return
        text, key = self._waiting()
        if text is not None and key != self._last_note:
            self._last_note = key
            self.notify(text)

    def status_line(self) -> str:
        """One line: received, succeeded, failed, emails, rate and in flight, and what an idle worker awaits."""
        s = self.stats
        elapsed = time.monotonic() - self._started
        rate = s.emails_sent / elapsed if elapsed > 0 else 0.0
        line = (
            f"received {s.received} · succeeded {s.succeeded} · failed {s.failed} · emails {s.emails_sent} · "
            f"{rate:.1f} emails/s · in flight {self.in_flight()}"
        )
        waiting = self.waiting_text()  # first: on a narrow terminal the line is cut at its end
        return f"{waiting} · {line}" if waiting else line

    # -- the loop --

    def run(
        self,
        *,
        until_empty: bool = False,
        max_messages: int | None = None,
        on_batch: Callable[[WorkerStats], None] | None = None,
    ) -> WorkerStats:
        stats = self.stats = WorkerStats()
        with self._lock:
            self._failed.clear()
            self._idle, self._in_hand, self._not_ours = False, 0, 0
        self._last_note = None
        self._read_queue(stats)
        started = time.perf_counter()
        self._started = time.monotonic()
        with _graceful_interrupt(self):
            while not self.stop_requested.is_set():
                limit = self.batch_size
                if max_messages is not None:
                    limit = min(limit, max_messages - stats.received)
                    if limit <= 0:
                        break
                if until_empty:
                    # Take what is there without waiting; only when that is nothing, ask whether the queue is
                    # done, and long-poll only if it is not (messages in flight or delayed come back later).
                    # The last long poll on an empty queue would cost seconds for nothing.
                    messages = self.receive_batch(limit, wait=0)
                    if not messages:
                        if self.queue_is_done():
                            break
                        self._note_waiting()
                        messages = self.receive_batch(limit)
                else:
                    messages = self.receive_batch(limit)
                if messages:
                    self.invoke(messages, stats)
                    if on_batch is not None:
                        on_batch(stats)
                else:
                    self._note_waiting()
            stats.elapsed_s = time.perf_counter() - started
            stats.interrupted = self.interrupted
            self._settle_accounts(stats)
        return stats


@contextlib.contextmanager
def _graceful_interrupt(worker: Worker) -> Iterator[None]:
    """First Ctrl-C: finish the batch in hand, then stop. Second Ctrl-C: stop now."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handle(signum: int, frame: Any) -> None:
        if worker.stop_requested.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        worker.interrupted = True
        worker.stop_requested.set()
        sys.stderr.write("stopping after the batch in hand (Ctrl-C again to quit now)\n")

    signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def build_worker(
    aws: Aws,
    config: Config,
    *,
    sink: LogSink | None = None,
    retry_delay: int | None = None,
    wait_seconds: int | None = None,
    cloudwatch: bool | None = None,
    notify: Callable[[str], None] | None = None,
) -> Worker:
    """A worker for the config's queue, running our handler with the config's settings and clients.

    cloudwatch: write the handler's log lines to the function's log group, as Lambda would (default:
    on the emulator or any loopback endpoint, where no Lambda writes them)."""
    stats = queue_stats(aws.client("sqs"), MAIN, config.queue.name, where=aws.describe_endpoint())
    sink = sink or LogSink()
    if cloudwatch is None:
        cloudwatch = aws.is_local
    if cloudwatch and sink.forward is None:
        sink.forward = CloudWatchWriter(aws.client("logs"), log_group(config.lambda_.function_name))
    handler = AlertHandler(
        handler_settings(config),
        sesv2_client=aws.client("sesv2"),
        dynamodb_client=aws.client("dynamodb"),
        log_stream=sink,  # type: ignore[arg-type]
    )
    return Worker(
        aws.client("sqs"),
        stats.url,
        stats.arn,
        handler,
        region=aws.region,
        function_name=config.lambda_.function_name,
        timeout_seconds=config.lambda_.timeout,
        memory_mb=config.lambda_.memory,
        batch_size=config.lambda_.batch_size,
        wait_seconds=config.queue.receive_wait if wait_seconds is None else wait_seconds,
        retry_delay=retry_delay,
        sink=sink,
        notify=notify,
    )


# --- `txnalert worker` ---------------------------------------------------------------------------------

Status = Callable[[Callable[[], str]], AbstractContextManager[None]]  # shows a live line, redrawn from a text


@contextlib.contextmanager
def no_status(text: Callable[[], str]) -> Iterator[None]:
    yield


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")


@dataclass(frozen=True)
class WorkerOptions:
    """`txnalert worker`'s flags."""

    until_empty: bool = False  # stop when the queue and its in-flight messages are done
    max_messages: int | None = None  # stop after receiving this many
    retry_delay: int | None = None  # seconds before a failed record is retried [the queue's visibility timeout]
    verbose: bool = False  # echo the handler's log lines


def run_worker(
    aws: Aws,
    config: Config,
    options: WorkerOptions,
    *,
    status: Status = no_status,
    notify: Callable[[str], None] | None = None,
    notes: Notes = SILENT,
    echo: Callable[[str], None] = _stderr_line,
) -> WorkerStats:
    """`txnalert worker`: consume the config's queue with the handler, as Lambda's SQS trigger would.

    `status` shows the worker's live status line while it runs; `notify` gets each new thing an idle worker
    waits for (where no live line shows it); `notes` the line that says it started; `echo` the handler's log
    lines with `verbose`. The stats' `exit_code`: 0 when every record received was processed, 1 when a record
    was left failing or a batch or delete failed, 130 after Ctrl-C."""
    worker = build_worker(
        aws,
        config,
        sink=LogSink(echo if options.verbose else None),
        retry_delay=options.retry_delay,
        wait_seconds=2 if options.until_empty else None,
        notify=notify,
    )
    notes.info(f"worker polling {config.queue.name} (Ctrl-C finishes the batch in hand and stops)")
    with status(worker.status_line):
        return worker.run(until_empty=options.until_empty, max_messages=options.max_messages)
