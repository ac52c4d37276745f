"""Putting messages back: redrive the DLQ into the main queue; replay a drain archive.

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

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, TxnalertError, error_code, from_botocore
from .drain import (
    ARCHIVE_FIELDS,
    DEFAULT_THREADS,
    VISIBILITY_TIMEOUT,
    Consumer,
    ConsumeResult,
    Message,
    Outcome,
    left_in_flight,
)
from .inspect import MoveCheck, QueueStats, check_move
from .sending import ENTRY_RETRIES, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, RateLimiter, entry_size

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
MAX_ARCHIVE_ERRORS = 20


# --- sending raw messages -----------------------------------------------------------------------


def sendable_attributes(attributes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Message attributes as received, ready to send: DataType and String/BinaryValue only."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        item: dict[str, Any] = {"DataType": value["DataType"]}
        for key in ("StringValue", "BinaryValue"):
            if key in value:
                item[key] = value[key]
        out[name] = item
    return out


def send_entry(entry_id: str, body: str, attributes: dict[str, Any], group_id: str | None) -> dict[str, Any]:
    """A SendMessageBatch entry; with a group id (FIFO), a fresh deduplication id."""
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": body}
    if attributes:
        entry["MessageAttributes"] = attributes
    if group_id is not None:
        entry["MessageGroupId"] = group_id
        entry["MessageDeduplicationId"] = uuid.uuid4().hex
    return entry


def _entry_size(entry: dict[str, Any]) -> int:
    """`sending.entry_size`, binary attribute values included (sent transactions have none)."""
    binary = sum(len(value.get("BinaryValue", b"")) for value in entry.get("MessageAttributes", {}).values())
    return entry_size(entry) + binary


def _chunks(entries: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        esize = _entry_size(entry)
        if chunk and (len(chunk) == MAX_BATCH_ENTRIES or size + esize > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += esize
    if chunk:
        yield chunk


def send_entries(sqs: Any, url: str, entries: list[dict[str, Any]]) -> tuple[set[str], dict[str, str]]:
    """Send entries (unique Ids) with SendMessageBatch; re-send entries that failed on the server side.

    Returns (ids sent, {id: reason} not sent). An exception means the call itself failed: treat every
    entry of it as not sent (some may have been: at-least-once)."""
    sent: set[str] = set()
    failed: dict[str, str] = {}
    for chunk in _chunks(entries):
        pending = {e["Id"]: e for e in chunk}
        for attempt in range(ENTRY_RETRIES + 1):
            response = sqs.send_message_batch(QueueUrl=url, Entries=list(pending.values()))
            for ok in response.get("Successful", []):
                pending.pop(ok["Id"], None)
                sent.add(ok["Id"])
            retry: dict[str, dict[str, Any]] = {}
            for bad in response.get("Failed", []):
                entry = pending.pop(bad["Id"], None)
                if entry is None:
                    continue
                if bad.get("SenderFault") or attempt == ENTRY_RETRIES:
                    failed[bad["Id"]] = f"{bad.get('Code', 'error')}: {bad.get('Message', '')}".rstrip(": ")
                else:
                    retry[bad["Id"]] = entry
            pending.update(retry)
            if not pending:
                break
            time.sleep(0.05 * 2**attempt)
        for entry_id in pending:  # the server neither accepted nor refused them
            failed.setdefault(entry_id, "not acknowledged")
    return sent, failed


# --- move-task support ----------------------------------------------------------------------------


def single_attempt_client(aws: Any) -> Any:
    """An SQS client making exactly one HTTP attempt per call, for the move-task probe and start.

    The shared client retries (standard mode) and moto answers the move-task calls with HTTP 500,
    which standard mode retries with backoff; this client fails on the first answer."""
    from botocore.config import Config as BotoConfig

    from ..aws import CONNECT_TIMEOUT

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
        entries: list[dict[str, Any]] = []
        by_id: dict[str, Message] = {}
        for index, message in enumerate(messages):
            group = message.get("Attributes", {}).get("MessageGroupId")
            if fifo and not group:
                outcome.keep.append(message)
                outcome.errors.append(f"{message['MessageId']}: no MessageGroupId to send it to a FIFO queue")
                continue
            entry_id = str(index)
            by_id[entry_id] = message
            entries.append(
                send_entry(
                    entry_id,
                    message.get("Body", ""),
                    sendable_attributes(message.get("MessageAttributes", {})),
                    group if fifo else None,
                )
            )
        if not entries:
            return outcome
        limiter.acquire(len(entries))
        sent, failed = send_entries(sqs, main_url, entries)
        outcome.done.extend(by_id[i] for i in sorted(sent, key=int))
        for entry_id, reason in failed.items():
            outcome.keep.append(by_id[entry_id])
            outcome.errors.append(f"{by_id[entry_id]['MessageId']}: not sent: {reason}")
        return outcome

    return Consumer(
        sqs, dlq_url, handle, threads=threads, limit=limit, progress=progress, visibility_timeout=visibility_timeout
    ).run()


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
    are re-read (`queues.check_move`, re-read after each of `settle`): the main queue must have grown by the
    number moved (a move task's ApproximateNumberOfMessagesMoved), and after a manual move no message the
    redrive deleted may still be in flight on the DLQ."""
    would_move = dlq.visible if limit is None else min(limit, dlq.visible)
    if limit is not None:
        result = RedriveResult(
            MANUAL, "--max: a message move task cannot stop after a count, so messages are moved in batches", would_move
        )
    else:
        support = probe_move_tasks(probe, dlq.arn)
        if support.running is not None:
            running = support.running
            raise TxnalertError(
                f"a message move task is already {running.get('Status', 'RUNNING').lower()} for {dlq.name}"
                f" (task handle {running.get('TaskHandle', '?')}): wait for it to finish or cancel it"
            )
        if support.supported:
            result = RedriveResult(MOVE_TASK, "StartMessageMoveTask", would_move)
        else:
            result = RedriveResult(MANUAL, f"the endpoint has no message move tasks ({support.reason})", would_move)
    result.dry_run = dry_run
    if dry_run or would_move == 0:
        return result

    if result.path == MOVE_TASK:
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

    if result.path == MOVE_TASK:
        assert result.task_handle is not None
        try:
            task = wait_for_task(sqs, dlq.arn, result.task_handle, progress=progress, interval=interval)
        except KeyboardInterrupt:
            raise TxnalertError(
                f"interrupted: the message move task keeps running in SQS (task handle {result.task_handle})",
                exit_code=130,
            ) from None
        result.status = str(task.get("Status", ""))
        result.moved = int(task.get("ApproximateNumberOfMessagesMoved", 0) or 0)
        if result.status == "FAILED":
            raise TxnalertError(
                f"the message move task failed after moving {result.moved} messages: "
                f"{task.get('FailureReason', 'no reason given')}"
            )
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


# --- replay ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchivedMessage:
    message_id: str
    body: str
    attributes: dict[str, Any]  # ready to send (binary values decoded)
    group_id: str | None


def _decode_attributes(value: Any) -> tuple[dict[str, Any], str | None]:
    """Archive message attributes -> sendable ones, or an error."""
    if not isinstance(value, dict):
        return {}, "message_attributes: must be an object"
    out: dict[str, Any] = {}
    for name, item in value.items():
        if not isinstance(item, dict) or not isinstance(item.get("DataType"), str):
            return {}, f"message_attributes.{name}: must be an object with a DataType"
        sendable: dict[str, Any] = {"DataType": item["DataType"]}
        if isinstance(item.get("StringValue"), str):
            sendable["StringValue"] = item["StringValue"]
        elif isinstance(item.get("BinaryValue"), str):
            try:
                sendable["BinaryValue"] = base64.b64decode(item["BinaryValue"], validate=True)
            except (binascii.Error, ValueError):
                return {}, f"message_attributes.{name}.BinaryValue: not valid base64"
        else:
            return {}, f"message_attributes.{name}: needs a StringValue or a BinaryValue"
        out[name] = sendable
    return out, None


def parse_archive_line(line: str, fifo: bool, queue: str) -> ArchivedMessage:
    """One archive line, checked; ValueError with the reason when it is bad."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("must be a JSON object")
    missing = [name for name in ARCHIVE_FIELDS if name not in data]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if not isinstance(data["message_id"], str) or not data["message_id"]:
        raise ValueError("message_id: must be a non-empty string")
    if not isinstance(data["body"], str) or not data["body"]:
        raise ValueError("body: must be a non-empty string")
    if not isinstance(data["attributes"], dict):
        raise ValueError("attributes: must be an object")
    count = data["receive_count"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError("receive_count: must be an integer >= 0")
    if not isinstance(data["queue"], str):
        raise ValueError("queue: must be a string")
    attributes, problem = _decode_attributes(data["message_attributes"])
    if problem:
        raise ValueError(problem)
    group = data["attributes"].get("MessageGroupId")
    if fifo and (not isinstance(group, str) or not group):
        raise ValueError(f"attributes.MessageGroupId: missing, and {queue} is a FIFO queue")
    return ArchivedMessage(data["message_id"], data["body"], attributes, group if fifo else None)


# How every archive line starts (`drain.archive_record`'s first key): a line that starts so, or is cut
# inside these characters, and is not valid JSON is a torn write.
RECORD_START = '{"message_id"'
TORN = (
    "a torn line (a write cut off when a drain was killed); its message was not deleted from the queue, "
    "so dropping it loses nothing"
)
SKIP_HINT = "pass --skip-invalid to replay the other lines"
MAX_LISTED_SKIPS = 20


def is_torn(line: str) -> bool:
    """A cut-off archive record: it starts like one (or is cut inside its first key) and is not valid JSON.

    A drain killed mid-write leaves one; the next drain to the same file starts a new line after it, so it
    can stand anywhere in the file. Its messages were never deleted: the drain deletes after the fsync."""
    text = line.strip()
    if not text or not (text.startswith(RECORD_START) or RECORD_START.startswith(text)):
        return False
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


@dataclass
class ArchiveSummary:
    path: str
    messages: int
    duplicates: int
    stream: Callable[[], Iterator[ArchivedMessage]]
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason), the first MAX_LISTED_SKIPS
    skipped_count: int = 0  # invalid lines skipped (--skip-invalid)

    @property
    def skipped_lines(self) -> list[int]:
        return [number for number, _ in self.skipped]


def read_archive(path: str, *, fifo: bool, queue: str, skip_invalid: bool = False) -> ArchiveSummary:
    """Check every line of a drain archive first (nothing is sent if one is bad); then stream it.

    A torn line (`is_torn`: a write cut off when a drain was killed, wherever it stands) is named as such:
    its messages are still on the queue, so dropping it loses nothing. With `skip_invalid`, torn and other
    invalid lines are skipped and counted instead, and the rest is sent. Counting repeated message ids keeps
    a set of the ids while checking: one per archive line (about 130 bytes each), freed before the messages
    are streamed."""
    file = Path(path)

    def lines() -> Iterator[tuple[int, str, str | None]]:
        """(number, text, problem): each non-blank line; a line that is not UTF-8 comes with its problem."""
        try:
            with file.open("rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    if not raw.strip():
                        continue
                    try:
                        yield number, raw.decode("utf-8"), None
                    except UnicodeDecodeError:
                        text = raw.decode("utf-8", errors="replace")
                        yield number, text, TORN if is_torn(text) else "not UTF-8 text"
        except FileNotFoundError:
            raise InputError([f"{path}: file not found"]) from None
        except IsADirectoryError:
            raise InputError([f"{path}: is a directory"]) from None
        except OSError as exc:
            raise InputError([f"{path}: cannot read: {exc.strerror}"]) from None

    def parse(text: str, problem: str | None) -> ArchivedMessage:
        if problem is not None:
            raise ValueError(problem)
        try:
            return parse_archive_line(text, fifo, queue)
        except ValueError:
            if is_torn(text):
                raise ValueError(TORN) from None
            raise

    bad: list[tuple[int, str]] = []
    bad_count = torn = 0
    count = 0
    ids: set[str] = set()
    for number, text, problem in lines():
        try:
            message = parse(text, problem)
        except ValueError as exc:
            bad_count += 1
            torn += str(exc) == TORN
            if len(bad) < max(MAX_ARCHIVE_ERRORS, MAX_LISTED_SKIPS):
                bad.append((number, str(exc)))
            continue
        count += 1
        ids.add(message.message_id)
    if bad_count and not skip_invalid:
        errors = [
            f"{path}: line {number}: {reason}" + (f": {SKIP_HINT}" if reason == TORN else "")
            for number, reason in bad[:MAX_ARCHIVE_ERRORS]
        ]
        if bad_count > len(errors):
            errors.append(f"{path}: ... and {bad_count - len(errors)} more bad lines")
        last = f"{path}: nothing was sent"
        if bad_count > torn:
            last += "; --skip-invalid sends the valid lines and skips the bad ones (their messages are not sent)"
        raise InputError([*errors, last])
    if count == 0:
        raise InputError([f"{path}: no messages in the archive" + (" (every line is invalid)" if bad_count else "")])
    duplicates = count - len(ids)
    del ids

    def stream() -> Iterator[ArchivedMessage]:
        for _, text, problem in lines():
            try:
                yield parse(text, problem)
            except ValueError:
                if not skip_invalid:
                    raise

    return ArchiveSummary(
        path=path,
        messages=count,
        duplicates=duplicates,
        stream=stream,
        skipped=bad[:MAX_LISTED_SKIPS],
        skipped_count=bad_count,
    )


@dataclass
class ReplayResult:
    queue: str
    sent: int = 0
    duplicates: int = 0
    failed: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    skipped_invalid: int = 0  # --skip-invalid: archive lines skipped
    skipped_invalid_lines: list[int] = field(default_factory=list)  # ... their numbers, the first 20
    check: MoveCheck | None = None  # the queue's counts re-read afterwards

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "queue": self.queue,
            "elapsed_s": round(self.elapsed_s, 3),
            "skipped_invalid": self.skipped_invalid,
            "skipped_invalid_lines": self.skipped_invalid_lines,
            **(self.check.as_dict() if self.check else {}),
        }


def replay(
    sqs: Any,
    url: str,
    queue: str,
    messages: Iterable[ArchivedMessage],
    *,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
    before: QueueStats | None = None,
    settle: Sequence[float] = (),
) -> ReplayResult:
    """Send archived messages with SendMessageBatch; each message id at most once per run.

    Memory: the ids already sent are kept for the run, one per archive line (about 130 bytes each:
    some 130 MB for a million-line archive); the messages themselves are streamed. With `before` (the
    queue as read before), its counts are re-read afterwards: it must have grown by the number sent."""
    result = ReplayResult(queue=queue)
    limiter = RateLimiter(rate)
    seen: set[str] = set()
    started = time.perf_counter()
    batch: list[ArchivedMessage] = []

    def flush() -> None:
        entries = [send_entry(str(i), m.body, m.attributes, m.group_id) for i, m in enumerate(batch)]
        limiter.acquire(len(entries))
        sent, failed = send_entries(sqs, url, entries)
        result.sent += len(sent)
        result.failed.extend(f"{batch[int(i)].message_id}: {reason}" for i, reason in failed.items())
        if progress is not None:
            progress(len(batch))
        batch.clear()

    try:
        for message in messages:
            if message.message_id in seen:
                result.duplicates += 1
                continue
            seen.add(message.message_id)
            batch.append(message)
            if len(batch) == MAX_BATCH_ENTRIES:
                flush()
        if batch:
            flush()
    except KeyboardInterrupt:
        raise TxnalertError(
            f"interrupted after sending {result.sent} messages: replaying the archive again sends them again",
            exit_code=130,
        ) from None
    except Exception as exc:
        translated = from_botocore(exc)
        if translated is None:
            raise
        raise TxnalertError(
            f"{translated.message}; {result.sent} messages were sent before this failure "
            "(replaying the archive again sends them again)",
            exit_code=translated.exit_code,
        ) from None
    result.elapsed_s = time.perf_counter() - started
    if before is not None:
        result.check = check_move(sqs, destination=before, moved=result.sent, what="replay", delays=settle)
    return result
