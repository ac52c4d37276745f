"""Reading queues: counts and attributes, and peeking at messages without consuming them."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..errors import QueueNotFound, error_code

NOT_FOUND_CODES = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
MAIN, DLQ = "main", "dlq"


def find_queue_url(sqs: Any, name: str) -> str | None:
    """The queue's URL; None when it does not exist."""
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except Exception as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise


def queue_url(sqs: Any, name: str, *, where: str = "") -> str:
    """The queue's URL, or QueueNotFound naming the fix."""
    url = find_queue_url(sqs, name)
    if url is None:
        suffix = f" at {where}" if where else ""
        raise QueueNotFound(f"queue {name!r} does not exist{suffix}: run `txnalert create-queue`")
    return url


@dataclass
class QueueStats:
    role: str
    name: str
    url: str
    fifo: bool
    visible: int
    in_flight: int
    delayed: int
    visibility_timeout: int
    retention: int
    max_receive_count: int | None
    arn: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "name": self.name,
            "url": self.url,
            "fifo": self.fifo,
            "visible": self.visible,
            "in_flight": self.in_flight,
            "delayed": self.delayed,
            "visibility_timeout": self.visibility_timeout,  # seconds, as inspect-queue's table shows them
            "retention": self.retention,
            "max_receive_count": self.max_receive_count,
        }


def queue_stats(sqs: Any, role: str, name: str, *, where: str = "") -> QueueStats:
    url = queue_url(sqs, name, where=where)
    try:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    except Exception as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            raise QueueNotFound(f"queue {name!r} does not exist: run `txnalert create-queue`") from None
        raise
    max_receive: int | None = None
    if attrs.get("RedrivePolicy"):
        try:
            max_receive = int(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"])
        except (ValueError, KeyError, TypeError):
            max_receive = None
    return QueueStats(
        role=role,
        name=name,
        url=url,
        fifo=str(attrs.get("FifoQueue", "false")).lower() == "true",
        visible=int(attrs.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
        visibility_timeout=int(attrs.get("VisibilityTimeout", 0)),
        retention=int(attrs.get("MessageRetentionPeriod", 0)),
        max_receive_count=max_receive,
        arn=str(attrs.get("QueueArn", "")),
    )


# --- checking a move: the counts re-read afterwards ---------------------------------------------------

# On AWS the approximate counts are eventually consistent (up to about a minute): a check that does not
# add up is re-read after each of these pauses before it is reported. An emulator's counts are exact.
SETTLE_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)
COUNT_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def settle_delays(aws: Any) -> tuple[float, ...]:
    """SETTLE_DELAYS against AWS's own endpoints; none with an endpoint override (an emulator)."""
    return () if aws.effective_endpoint() else SETTLE_DELAYS


def recount(sqs: Any, stats: QueueStats) -> QueueStats:
    """The same queue with its counts read again."""
    attrs = sqs.get_queue_attributes(QueueUrl=stats.url, AttributeNames=COUNT_ATTRIBUTES)["Attributes"]
    return dataclasses.replace(
        stats,
        visible=int(attrs.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


def total(stats: QueueStats) -> int:
    return stats.visible + stats.in_flight + stats.delayed


@dataclass
class MoveCheck:
    """What the counts say after messages were taken off a source and/or put on a destination.

    `problems`: the counts do not add up (exit 1). `unconfirmed`: they do not add up, but another consumer was
    seen at work on the queue (messages in flight that are not ours), which explains it as well: the check
    cannot tell, and says so. `verified` is True, False, or None for "could not confirm"."""

    source: QueueStats | None = None  # re-read after the move
    destination: QueueStats | None = None
    grew: int | None = None  # the destination's growth: visible + in flight + delayed, after minus before
    problems: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool | None:
        if self.problems:
            return False
        return None if self.unconfirmed else True

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.source is not None:
            out["left"] = self.source.visible + self.source.delayed
            out["in_flight"] = self.source.in_flight
        if self.destination is not None:
            out["destination_grew"] = self.grew
            out["destination_in_flight"] = self.destination.in_flight
        out["verified"] = self.verified
        out["mismatch"] = [*self.problems, *self.unconfirmed]
        return out


def _check_once(
    sqs: Any,
    source: QueueStats | None,
    destination: QueueStats | None,
    *,
    moved: int,
    deleted_from_source: bool,
    left_in_flight: int,
    what: str,
) -> MoveCheck:
    check = MoveCheck()
    if source is not None:
        after = check.source = recount(sqs, source)
        extra = after.in_flight - source.in_flight - left_in_flight
        if deleted_from_source and extra > 0:
            line = (
                f"{extra} messages are in flight on {source.name} that this {what} did not leave in flight: it "
                "may not have deleted them, though SQS said it had (they come back after the visibility timeout)"
            )
            if source.in_flight:  # someone else was receiving from it when we started
                check.unconfirmed.append(
                    f"could not confirm the deletes: {line}, or the consumer that held {source.in_flight} in flight "
                    "there when it started has them"
                )
            else:
                check.problems.append(line)
    if destination is not None:
        after = check.destination = recount(sqs, destination)
        check.grew = total(after) - total(destination)
        if check.grew < moved:
            line = (
                f"{destination.name} grew by {check.grew}, not by the {moved} messages this {what} reports moved "
                f"there: {moved - check.grew} are not on it"
            )
            if destination.in_flight or after.in_flight:
                check.unconfirmed.append(
                    f"could not confirm the move: {line}, unless the consumer that has messages in flight there "
                    "(the function, a worker) already processed them"
                )
            else:
                check.problems.append(line)
    return check


def check_move(
    sqs: Any,
    *,
    source: QueueStats | None = None,
    destination: QueueStats | None = None,
    moved: int = 0,
    deleted_from_source: bool = True,
    left_in_flight: int = 0,
    what: str = "run",
    delays: Sequence[float] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> MoveCheck:
    """Re-read the counts after a move and check them against what the move says it did.

    `source` and `destination` are the queues as read before the move. The source: with
    `deleted_from_source` (drain, manual redrive), no more messages may be in flight on it than before, plus
    the `left_in_flight` the move knows it left there (failed deletes and releases); a message still in
    flight is one the move received and believes deleted, and it comes back. The destination must have
    grown by at least `moved`. A check that does not add up is re-read after each of `delays`
    (`settle_delays`); one that could not be confirmed is not (waiting does not change it)."""
    check = MoveCheck()
    for delay in (0.0, *delays):
        if delay:
            sleep(delay)
        check = _check_once(
            sqs,
            source,
            destination,
            moved=moved,
            deleted_from_source=deleted_from_source,
            left_in_flight=left_in_flight,
            what=what,
        )
        if not check.problems:
            break
    return check


@dataclass
class PeekedMessage:
    message_id: str
    receive_count: int
    body: Any
    attributes: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "receive_count": self.receive_count, "body": self.body}


def _parse_body(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


def peek(sqs: Any, url: str, count: int, *, wait_seconds: int = 1, visible: int | None = None) -> list[PeekedMessage]:
    """Receive up to `count` messages, then make them visible again at once.

    Each peek is a receive: it raises the messages' receive count, which counts toward
    max_receive_count. Messages are held invisible for the peek's duration so none is shown twice.
    `visible` (the queue's ApproximateNumberOfMessages, when the caller has it) ends the peek once that
    many were seen, instead of waiting for an empty receive. An empty long poll (wait_seconds >= 1, which
    asks every SQS server) ends it; short polls sample servers, so two empty ones in a row are needed.
    """
    seen: dict[str, PeekedMessage] = {}
    handles: list[str] = []
    want = count if visible is None else min(count, visible)
    max_empty = 1 if wait_seconds >= 1 else 2
    try:
        empty_polls = 0
        while len(seen) < want and empty_polls < max_empty:
            response = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, count - len(seen)),
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=30,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            if not messages:
                empty_polls += 1
                continue
            for message in messages:
                handles.append(message["ReceiptHandle"])
                attrs = message.get("Attributes", {})
                seen[message["MessageId"]] = PeekedMessage(
                    message_id=message["MessageId"],
                    receive_count=int(attrs.get("ApproximateReceiveCount", 0)),
                    body=_parse_body(message.get("Body", "")),
                    attributes=attrs,
                )
    finally:
        release(sqs, url, handles)
    return list(seen.values())[:count]


def release(sqs: Any, url: str, handles: list[str]) -> None:
    """Make received messages visible again (visibility timeout 0), in batches of 10."""
    for start in range(0, len(handles), 10):
        chunk = handles[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)],
        )


@dataclass
class Inspection:
    queues: list[QueueStats]
    messages: list[PeekedMessage]
    peeked_role: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "queues": [q.as_dict() for q in self.queues],
            "messages": [m.as_dict() for m in self.messages],
        }


def inspect(aws: Any, config: Config, *, peek_count: int = 0, dlq: bool = False, show_pii: bool = False) -> Inspection:
    """Stats of the main queue and its DLQ, and optionally a peek at one of them.

    Peeked bodies are masked (`contract.redact_value`: email and account fields, any address, any run of 6 or
    more digits) unless `show_pii`."""
    sqs = aws.client("sqs")
    where = aws.describe_endpoint()
    main = queue_stats(sqs, MAIN, config.queue.name, where=where)
    dead = queue_stats(sqs, DLQ, config.queue.dlq.name, where=where)
    messages: list[PeekedMessage] = []
    if peek_count > 0:
        target = dead if dlq else main
        messages = peek(sqs, target.url, peek_count, visible=target.visible)
        if not show_pii:
            from ..handler.contract import redact_value

            for message in messages:
                message.body = redact_value(message.body)
    return Inspection(
        queues=[main, dead], messages=messages, peeked_role=(DLQ if dlq else MAIN) if peek_count else None
    )
