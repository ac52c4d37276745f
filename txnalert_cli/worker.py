"""`txnalert worker`: Lambda's SQS trigger, run locally, invoking our handler in-process.

Semantics follow Lambda's SQS event source mapping with ReportBatchItemFailures:
- batches of up to `lambda.batch_size` records, in the exact event shape Lambda delivers;
- the records listed in `batchItemFailures` stay on the queue (visible again after the visibility timeout,
  moved to the DLQ by SQS after max_receive_count); every other record is deleted (DeleteMessageBatch);
- a handler exception, or a failure list naming a record that is not in the batch, fails the whole batch.

moto never runs Lambda code (no Docker), so on the emulator this is the consumer. It also works against
real AWS, as a consumer on a VM or in a container.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .errors import TxnalertError

RECEIVE_MAX = 10  # SQS's per-call maximum
# Long polls are capped so that Ctrl-C on an idle worker is answered within seconds.
MAX_POLL_SECONDS = 5


class LogSink(io.TextIOBase):
    """The handler's log stream: JSON lines, echoed to the terminal and/or forwarded to CloudWatch Logs.

    Counts and failure reasons come from the handler itself (`AlertHandler.emails_sent`, `.failures`),
    never from parsing its logs: they must not depend on the log level."""

    def __init__(self, echo: Callable[[str], None] | None = None, forward: Any = None) -> None:
        super().__init__()
        self.echo = echo
        self.forward = forward  # a logs.CloudWatchWriter: lines shipped to the function's log group
        self.lines: list[dict[str, Any]] = []
        self.keep_lines = False  # tests: keep the parsed lines
        self._lock = threading.Lock()
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._partial += text
            *complete, self._partial = self._partial.split("\n")
        for line in complete:
            if line.strip():
                self._take(line)
        return len(text)

    def ship(self) -> None:
        """Send the buffered lines on (called after each batch, not per line)."""
        if self.forward is not None:
            self.forward.flush()

    def _take(self, line: str) -> None:
        if self.echo is not None:
            self.echo(line)
        if self.forward is not None:
            self.forward.add(line)
        if self.keep_lines:
            try:
                record = json.loads(line)
            except ValueError:
                return
            if isinstance(record, dict):
                with self._lock:
                    self.lines.append(record)


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda's SQS event source delivers it (one element of `Records`)."""
    system = message.get("Attributes", {})
    attributes = {
        key: system[key]
        for key in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "SequenceNumber",
            "MessageGroupId",
            "MessageDeduplicationId",
            "AWSTraceHeader",
            "DeadLetterQueueSourceArn",
        )
        if key in system
    }
    message_attributes: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        entry: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            entry["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        message_attributes[name] = entry
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


@dataclass
class LambdaContext:
    """The context object Lambda passes: function name, request id, remaining time."""

    function_name: str
    timeout_seconds: float
    region: str
    account_id: str = "000000000000"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class WorkerStats:
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    emails_sent: int = 0
    batches: int = 0
    batch_errors: int = 0
    delete_failures: int = 0
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def emails_per_second(self) -> float:
        return self.emails_sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

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
        }


Handler = Callable[[dict[str, Any], Any], Any]


class Worker:
    """Polls one queue and invokes a handler with Lambda's event shape and batch semantics."""

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
        batch_size: int = 10,
        wait_seconds: int = 20,
        retry_delay: int | None = None,
        sink: LogSink | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.handler = handler
        self.region = region
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        self.batch_size = batch_size
        self.wait_seconds = min(wait_seconds, MAX_POLL_SECONDS)
        self.retry_delay = retry_delay
        self.sink = sink
        self.account_id = queue_arn.split(":")[4] if queue_arn.count(":") >= 5 else "000000000000"
        self.stop_requested = threading.Event()

    def receive_batch(self, limit: int, *, wait: int | None = None) -> list[dict[str, Any]]:
        """Up to `limit` messages: several receives of 10 while the queue keeps giving full ones. The first
        receive waits `wait` seconds (default: the worker's long poll)."""
        messages: list[dict[str, Any]] = []
        wait = self.wait_seconds if wait is None else wait
        while len(messages) < limit:
            want = min(RECEIVE_MAX, limit - len(messages))
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=want,
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = response.get("Messages", [])
            messages.extend(got)
            if len(got) < want:
                break
            wait = 0  # the rest of a large batch: take what is already there
        return messages

    def invoke(self, messages: list[dict[str, Any]], stats: WorkerStats) -> None:
        """Invoke the handler with one batch and settle it as Lambda does."""
        records = [lambda_record(m, self.queue_arn, self.region) for m in messages]
        context = LambdaContext(
            function_name=self.function_name,
            timeout_seconds=self.timeout_seconds,
            region=self.region,
            account_id=self.account_id,
        )
        stats.batches += 1
        stats.received += len(records)
        by_id = {r["messageId"]: r["receiptHandle"] for r in records}
        emails_before = getattr(self.handler, "emails_sent", 0)
        started = time.monotonic()
        try:
            response = self.handler({"Records": records}, context)
            if time.monotonic() - started > self.timeout_seconds:
                # Lambda would have stopped the invocation: the whole batch fails and is retried (the
                # idempotency record keeps the emails already sent from going out twice).
                raise TimeoutError(f"Task timed out after {self.timeout_seconds:g} seconds")
            failed_ids = self._failed_ids(response, by_id)
        except Exception as exc:  # the whole batch fails, as in Lambda: nothing is deleted
            self._ship_logs(stats)
            stats.emails_sent += getattr(self.handler, "emails_sent", 0) - emails_before
            stats.batch_errors += 1
            stats.failed += len(records)
            stats.errors.append(f"batch of {len(records)} failed: {type(exc).__name__}: {exc}")
            self._retry_later(list(by_id.values()))
            return
        stats.emails_sent += getattr(self.handler, "emails_sent", 0) - emails_before
        self._ship_logs(stats)
        done = [handle for mid, handle in by_id.items() if mid not in failed_ids]
        stats.failed += len(failed_ids)
        stats.succeeded += len(done)
        self._delete(done, stats)
        self._retry_later([by_id[mid] for mid in failed_ids])

    def _ship_logs(self, stats: WorkerStats) -> None:
        if self.sink is None:
            return
        try:
            self.sink.ship()
        except Exception as exc:  # logs must never stop message processing
            stats.errors.append(f"could not write logs to CloudWatch: {exc}")

    @staticmethod
    def _failed_ids(response: Any, by_id: dict[str, str]) -> set[str]:
        """The batchItemFailures contract: an invalid response or unknown id fails the whole batch."""
        if response is None:
            return set()
        if not isinstance(response, Mapping):
            raise TxnalertError(f"handler returned {type(response).__name__}, not a batch response")
        items = response.get("batchItemFailures")
        if items is None:  # AWS: a missing or null list means the whole batch succeeded
            return set()
        if not isinstance(items, list):
            raise TxnalertError("batchItemFailures is not a list")
        failed: set[str] = set()
        for item in items:
            identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
            if not identifier or identifier not in by_id:
                raise TxnalertError(f"batchItemFailures names an unknown record: {identifier!r}")
            failed.add(str(identifier))
        return failed

    def _delete(self, handles: list[str], stats: WorkerStats) -> None:
        for start in range(0, len(handles), RECEIVE_MAX):
            chunk = handles[start : start + RECEIVE_MAX]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                stats.delete_failures += 1
                stats.errors.append(f"delete failed: {failure.get('Code')}: {failure.get('Message', '')}")

    def _retry_later(self, handles: list[str]) -> None:
        """Lambda leaves failed records invisible for the rest of the visibility timeout. With
        retry_delay set, the worker shortens that wait (the receive count and the DLQ move are SQS's)."""
        if self.retry_delay is None or not handles:
            return
        for start in range(0, len(handles), RECEIVE_MAX):
            chunk = handles[start : start + RECEIVE_MAX]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": self.retry_delay}
                    for i, h in enumerate(chunk)
                ],
            )

    def failure_reason(self, message_id: str) -> str | None:
        """The handler's last failure reason for a message, when the handler keeps them."""
        failures = getattr(self.handler, "failures", None)
        return failures.get(message_id) if isinstance(failures, Mapping) else None

    def queue_is_done(self) -> bool:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return all(int(value) == 0 for value in attrs.values())

    def run(
        self,
        *,
        until_empty: bool = False,
        max_messages: int | None = None,
        on_batch: Callable[[WorkerStats], None] | None = None,
    ) -> WorkerStats:
        stats = WorkerStats()
        started = time.perf_counter()
        with _graceful_interrupt(self.stop_requested):
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
                        messages = self.receive_batch(limit)
                else:
                    messages = self.receive_batch(limit)
                if messages:
                    self.invoke(messages, stats)
                    if on_batch is not None:
                        on_batch(stats)
        stats.elapsed_s = time.perf_counter() - started
        return stats


@contextlib.contextmanager
def _graceful_interrupt(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C: finish the batch in hand, then stop. Second Ctrl-C: stop now."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handle(signum: int, frame: Any) -> None:
        if stop.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        stop.set()
        sys.stderr.write("stopping after the batch in hand (Ctrl-C again to quit now)\n")

    signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def handler_settings(config: Config) -> Any:
    """The handler's settings from the config: what `deploy` puts in the function's environment."""
    from .handler.app import Settings

    return Settings(
        sender=config.ses.sender,
        subject=config.ses.subject,
        idempotency_table=config.idempotency.table,
        idempotency_ttl_seconds=config.idempotency.ttl_hours * 3600,
        configuration_set=config.ses.configuration_set,
        fifo=config.queue.fifo,
        log_level=config.lambda_.log_level,
        service=config.lambda_.function_name,  # as the deployed function's POWERTOOLS_SERVICE_NAME
        start_margin_ms=config.lambda_.start_margin_ms,
    )


def build_worker(
    aws: Any,
    config: Config,
    *,
    sink: LogSink | None = None,
    retry_delay: int | None = None,
    wait_seconds: int | None = None,
    cloudwatch: bool | None = None,
) -> Worker:
    """A worker for the config's queue, running our handler with the config's settings and clients.

    cloudwatch: write the handler's log lines to the function's log group, as Lambda would (default:
    on the emulator or any loopback endpoint, where no Lambda writes them)."""
    from .handler.app import AlertHandler
    from .logs import CloudWatchWriter, log_group
    from .queues import queue_stats

    stats = queue_stats(aws.client("sqs"), "main", config.queue.name, where=aws.describe_endpoint())
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
        region=config.aws.region,
        function_name=config.lambda_.function_name,
        timeout_seconds=config.lambda_.timeout,
        batch_size=config.lambda_.batch_size,
        wait_seconds=config.queue.receive_wait if wait_seconds is None else wait_seconds,
        retry_delay=retry_delay,
        sink=sink,
    )
