"""Redrive: the DLQ's messages back to the main queue. Entry point: `run` (`txnalert redrive`).

Redrive uses SQS's own message move task (StartMessageMoveTask, followed with ListMessageMoveTasks)
where the endpoint has it, and otherwise moves messages itself: send to the main queue first, delete
from the DLQ only what was sent. Endpoints without move tasks (moto answers HTTP 500) are detected with
one HTTP attempt: the probe uses its own client with `total_max_attempts: 1`, so the shared client's
retries (4 attempts with backoff) never run for it.

Both paths keep each message's body and message attributes, and for FIFO queues its message group id
with a fresh deduplication id (the original one would be deduplicated by the main queue if it is still
in its 5-minute window).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.config import Config as BotoConfig

from ..aws import CONNECT_TIMEOUT, Aws
from ..config import Config
from ..errors import INTERRUPTED, Interrupted, TxnalertError, error_code
from . import sqs as engine
from .consumer import DEFAULT_THREADS, MAX_THREADS, VISIBILITY_TIMEOUT, Consumer, ConsumeResult, Outcome, left_in_flight
from .entry import SILENT, Connect, Notes, Progress, check_range, no_progress
from .inspect import DLQ, MAIN, MoveCheck, QueueStats, check_move, queue_stats, settle_delays
from .sqs import Message, RateLimiter

MOVE_TASK, MANUAL = "move-task", "manual"
RATE_MIN, RATE_MAX = 1, 500  # StartMessageMoveTask's MaxNumberOfMessagesPerSecond
# Error codes that say "this endpoint does not do message move tasks" (or not for this queue).
UNSUPPORTED_CODES = frozenset(
    {
        "InvalidAction",
        "UnknownOperation",
        "UnknownOperationException",
        "NotImplemented",
        "NotImplementedException",
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
    }
)
ACTIVE_STATUSES = ("RUNNING", "CANCELLING")
PROBE_READ_TIMEOUT = 10
POLL_INTERVAL = 2.0


# --- move-task support ----------------------------------------------------------------------------


def single_attempt_client(aws: Aws) -> Any:
    """An SQS client making exactly one HTTP attempt per call, for the move-task probe and start.

    The shared client retries (standard mode) and moto answers the move-task calls with HTTP 500,
    which standard mode retries with backoff; this client fails on the first answer."""
    return aws.session.client(
        "sqs",
        endpoint_url=aws.endpoint_url,
        config=BotoConfig(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=PROBE_READ_TIMEOUT,
            retries={"mode": "standard", "total_max_attempts": 1},
        ),
    )


def unsupported_reason(exc: BaseException) -> str | None:
    """Why an error means the endpoint has no message move tasks; None when it is a real error."""
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    operation = getattr(exc, "operation_name", "call")
    code = error_code(exc)
    if code in UNSUPPORTED_CODES:
        message = response.get("Error", {}).get("Message", "")
        return f"{operation}: {code}" + (f": {message}" if message else "")
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if status >= 500:
        return f"{operation} answered HTTP {status}"
    return None


@dataclass
class MoveSupport:
    supported: bool
    reason: str = ""
    running: dict[str, Any] | None = None


def probe_move_tasks(probe: Any, source_arn: str) -> MoveSupport:
    """ListMessageMoveTasks (read-only, one attempt): does the endpoint have move tasks, is one running?"""
    try:
        results = probe.list_message_move_tasks(SourceArn=source_arn, MaxResults=10).get("Results", [])
    except Exception as exc:
        reason = unsupported_reason(exc)
        if reason is None:
            raise
        return MoveSupport(False, reason)
    running = next((r for r in results if r.get("Status") in ACTIVE_STATUSES), None)
    return MoveSupport(True, running=running)


def wait_for_task(
    sqs: Any,
    source_arn: str,
    handle: str,
    *,
    progress: Callable[[int], None] | None = None,
    interval: float = POLL_INTERVAL,
) -> dict[str, Any]:
    """Follow a move task with ListMessageMoveTasks until it is no longer running; returns its entry.

    Only a running task's entry carries its TaskHandle; one source queue has one active task at a
    time, so once ours is no longer listed as running, the most recent entry is ours."""
    moved_seen = 0
    while True:
        results = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10).get("Results", [])
        task = next((r for r in results if r.get("TaskHandle") == handle), None)
        if task is None and results and results[0].get("Status") not in ACTIVE_STATUSES:
            task = results[0]
        if task is not None:
            moved = int(task.get("ApproximateNumberOfMessagesMoved", 0) or 0)
            if progress is not None and moved > moved_seen:
                progress(moved - moved_seen)
            moved_seen = max(moved_seen, moved)
            if task.get("Status") not in ACTIVE_STATUSES:
                return task
        time.sleep(interval)


# --- redrive --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedriveOptions:
    """`txnalert redrive`'s flags, checked when made (before the config is read)."""

    limit: int | None = None  # --max: moves in batches (a move task cannot stop after a count)
    rate: int | None = None  # messages per second
    dry_run: bool = False
    threads: int = DEFAULT_THREADS

    def __post_init__(self) -> None:
        check_range("--max", self.limit, 1)
        check_range("--rate", self.rate, RATE_MIN, RATE_MAX)
        check_range("--threads", self.threads, 1, MAX_THREADS)


@dataclass
class RedriveResult:
    path: str
    reason: str
    would_move: int
    moved: int = 0
    task_handle: str | None = None
    dry_run: bool = False
    status: str | None = None
    consumed: ConsumeResult | None = None
    check: MoveCheck | None = None  # both queues' counts re-read afterwards
    dlq: str = ""  # the queues' names
    main: str = ""

    @property
    def error(self) -> TxnalertError | None:
        """The error that stopped a manual move (the result is reported first, then the error)."""
        return self.consumed.error if self.consumed is not None else None

    @property
    def exit_code(self) -> int:
        mismatch = self.check is not None and bool(self.check.problems)
        consumed = self.consumed
        if consumed is None:
            return 1 if mismatch else 0
        if consumed.error is not None:
            return consumed.error.exit_code
        if consumed.interrupted:
            return INTERRUPTED
        return 1 if consumed.errors or consumed.delete_failed or mismatch else 0

    def as_dict(self) -> dict[str, Any]:
        consumed = self.consumed
        return {
            "moved": self.moved,
            "path": self.path,
            "task_handle": self.task_handle,
            "reason": self.reason,
            "dry_run": self.dry_run,
            "would_move": self.would_move,
            "status": self.status,
            "failed": (consumed.errors + consumed.delete_failed) if consumed else [],
            **(self.check.as_dict() if self.check else {}),
        }


def manual_move(
    sqs: Any,
    dlq_url: str,
    main_url: str,
    *,
    fifo: bool,
    limit: int | None = None,
    rate: float | None = None,
    threads: int = DEFAULT_THREADS,
    progress: Callable[[int], None] | None = None,
    visibility_timeout: int = VISIBILITY_TIMEOUT,
) -> ConsumeResult:
    """Receive from the DLQ, send to the main queue, delete from the DLQ only what was sent."""
    limiter = RateLimiter(rate)

    def handle(messages: list[Message]) -> Outcome:
        outcome = Outcome()
        entries: list[engine.Entry] = []
        by_id: dict[str, Message] = {}
        for index, message in enumerate(messages):
            group = message.get("Attributes", {}).get("MessageGroupId")
            if fifo and not group:
                outcome.keep.append(message)
                outcome.errors.append(f"{message['MessageId']}: no MessageGroupId to send it to a FIFO queue")
                continue
            entry_id = str(index)
            by_id[entry_id] = message
            attributes = engine.sendable_attributes(message.get("MessageAttributes", {}))
            entries.append(
                engine.entry(entry_id, message.get("Body", ""), attributes, group_id=group if fifo else None)
            )
        if not entries:
            return outcome
        sent = engine.send_entries(sqs, main_url, entries, before_call=limiter.acquire)
        outcome.done.extend(by_id[i] for i in sorted(sent.accepted, key=int))
        not_sent = [
            *((i, str(error)) for i, error in sent.failed.items()),
            *((i, engine.NOT_ACKNOWLEDGED) for i in sent.unacknowledged),
        ]
        for entry_id, reason in not_sent:
            outcome.keep.append(by_id[entry_id])
            outcome.errors.append(f"{by_id[entry_id]['MessageId']}: not sent: {reason}")
        return outcome

    return Consumer(
        sqs, dlq_url, handle, threads=threads, limit=limit, progress=progress, visibility_timeout=visibility_timeout
    ).run()


def _choose_path(probe: Any, dlq: QueueStats, limit: int | None) -> RedriveResult:
    """By move task where the endpoint has them and no --max asks for a count; by hand otherwise."""
    would_move = dlq.visible if limit is None else min(limit, dlq.visible)
    if limit is not None:
        return RedriveResult(
            MANUAL, "--max: a message move task cannot stop after a count, so messages are moved in batches", would_move
        )
    support = probe_move_tasks(probe, dlq.arn)
    if support.running is not None:
        running = support.running
        raise TxnalertError(
            f"a message move task is already {running.get('Status', 'RUNNING').lower()} for {dlq.name}"
            f" (task handle {running.get('TaskHandle', '?')}): wait for it to finish or cancel it"
        )
    if support.supported:
        return RedriveResult(MOVE_TASK, "StartMessageMoveTask", would_move)
    return RedriveResult(MANUAL, f"the endpoint has no message move tasks ({support.reason})", would_move)


def _start_task(
    probe: Any,
    result: RedriveResult,
    *,
    main: QueueStats,
    dlq: QueueStats,
    rate: int | None,
    notify: Callable[[str], None] | None,
) -> None:
    """StartMessageMoveTask; an endpoint that refuses it as unsupported turns the result into a manual move."""
    params: dict[str, Any] = {"SourceArn": dlq.arn, "DestinationArn": main.arn}
    if rate is not None:
        params["MaxNumberOfMessagesPerSecond"] = rate
    try:
        result.task_handle = str(probe.start_message_move_task(**params)["TaskHandle"])
    except Exception as exc:
        reason = unsupported_reason(exc)
        if reason is None:
            raise
        result.path, result.reason = MANUAL, f"the endpoint refused the message move task ({reason})"
        if notify is not None:
            notify(f"{result.reason}: moving messages in batches instead")


def _follow_task(
    sqs: Any,
    result: RedriveResult,
    *,
    dlq: QueueStats,
    progress: Callable[[int], None] | None,
    interval: float,
) -> None:
    """Wait for the started move task to end; a failed task is an error, Ctrl-C leaves it running."""
    assert result.task_handle is not None
    try:
        task = wait_for_task(sqs, dlq.arn, result.task_handle, progress=progress, interval=interval)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: the message move task keeps running in SQS (task handle {result.task_handle})"
        ) from None
    result.status = str(task.get("Status", ""))
    result.moved = int(task.get("ApproximateNumberOfMessagesMoved", 0) or 0)
    if result.status == "FAILED":
        raise TxnalertError(
            f"the message move task failed after moving {result.moved} messages: "
            f"{task.get('FailureReason', 'no reason given')}"
        )


def redrive(
    sqs: Any,
    probe: Any,
    *,
    main: QueueStats,
    dlq: QueueStats,
    limit: int | None = None,
    rate: int | None = None,
    dry_run: bool = False,
    threads: int = DEFAULT_THREADS,
    progress: Callable[[int], None] | None = None,
    notify: Callable[[str], None] | None = None,
    interval: float = POLL_INTERVAL,
    settle: Sequence[float] = (),
) -> RedriveResult:
    """Move the DLQ's messages back to the main queue, by move task where possible, else by hand.

    `probe` is a single-attempt client (`single_attempt_client`) used for ListMessageMoveTasks and
    StartMessageMoveTask; `sqs` is the shared client for everything else. Afterwards both queues' counts
    are re-read (`inspect.check_move`, re-read after each of `settle`): the main queue must have grown by the
    number moved (a move task's ApproximateNumberOfMessagesMoved), and after a manual move no message the
    redrive deleted may still be in flight on the DLQ."""
    result = _choose_path(probe, dlq, limit)
    result.dry_run, result.dlq, result.main = dry_run, dlq.name, main.name
    if dry_run or result.would_move == 0:
        return result
    if result.path == MOVE_TASK:
        _start_task(probe, result, main=main, dlq=dlq, rate=rate, notify=notify)
    if result.path == MOVE_TASK:
        _follow_task(sqs, result, dlq=dlq, progress=progress, interval=interval)
        result.check = check_move(
            sqs,
            source=dlq,
            destination=main,
            moved=result.moved,
            deleted_from_source=False,
            what="message move task",
            delays=settle,
        )
        return result
    consumed = result.consumed = manual_move(
        sqs, dlq.url, main.url, fifo=main.fifo, limit=limit, rate=rate, threads=threads, progress=progress
    )
    result.moved = consumed.deleted
    if consumed.error is None and not consumed.interrupted:
        result.check = check_move(
            sqs,
            source=dlq,
            destination=main,
            moved=result.moved,
            left_in_flight=left_in_flight(consumed),
            what="redrive",
            delays=settle,
        )
    return result


def run(
    connect: Connect,
    config: Config,
    options: RedriveOptions,
    *,
    progress: Progress = no_progress,
    notes: Notes = SILENT,
) -> RedriveResult:
    """`txnalert redrive`: move the config's DLQ's messages back to its main queue (see `redrive`)."""
    aws = connect(max_pool_connections=options.threads + 2)
    sqs = aws.client("sqs")
    where = aws.describe_endpoint()
    main = queue_stats(sqs, MAIN, config.queue.name, where=where)
    dead = queue_stats(sqs, DLQ, config.queue.dlq.name, where=where)
    total = dead.visible if options.limit is None else min(options.limit, dead.visible)
    with progress(0 if options.dry_run else total, f"moving {dead.name}") as advance:
        return redrive(
            sqs,
            single_attempt_client(aws),
            main=main,
            dlq=dead,
            limit=options.limit,
            rate=options.rate,
            dry_run=options.dry_run,
            threads=options.threads,
            progress=advance,
            notify=notes.info,
            settle=settle_delays(aws),
        )
