"""Reading queues: counts and attributes, checking a move against them, and peeking at messages without
consuming them. Entry point: `inspect` (`txnalert inspect-queue`)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..aws import QUEUE_NOT_FOUND_CODES as NOT_FOUND_CODES
from ..aws import Aws, find_queue_url
from ..config import Config
from ..errors import QueueNotFound, UsageError, error_code
from ..handler.contract import redact_value
from . import sqs as engine

PEEK_VISIBILITY_TIMEOUT = 30  # a peek holds what it received this long at most (it releases them at once)
MAIN, DLQ = "main", "dlq"


def queue_of(config: Config, dlq: bool) -> tuple[str, str]:
    """(role, name) of the queue a command works on: the main queue, or with --dlq its dead-letter queue."""
    return (DLQ, config.queue.dlq.name) if dlq else (MAIN, config.queue.name)


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


def settle_delays(aws: Aws) -> tuple[float, ...]:
    """SETTLE_DELAYS against AWS's own endpoints; none with an endpoint override (an emulator)."""
    return () if aws.effective_endpoint() else SETTLE_DELAYS


def recount(sqs: Any, stats: QueueStats) -> QueueStats:
    """The same queue with its counts read again."""
    now = engine.counts(sqs, stats.url)
    return dataclasses.replace(stats, visible=now.visible, in_flight=now.in_flight, delayed=now.delayed)


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
            messages = engine.receive(
                sqs,
                url,
                max_messages=min(engine.MAX_BATCH_ENTRIES, count - len(seen)),
                wait_seconds=wait_seconds,
                visibility_timeout=PEEK_VISIBILITY_TIMEOUT,
            )
            if not messages:
                empty_polls += 1
                continue
            for message in messages:
                handles.append(message["ReceiptHandle"])
                attrs = message.get("Attributes", {})
                seen[message["MessageId"]] = PeekedMessage(
                    message_id=message["MessageId"],
                    receive_count=engine.receive_count(message),
                    body=_parse_body(message.get("Body", "")),
                    attributes=attrs,
                )
    finally:
        engine.change_visibility(sqs, url, handles, 0)
    return list(seen.values())[:count]


@dataclass(frozen=True)
class InspectOptions:
    """`txnalert inspect-queue`'s flags (--watch is the CLI's: it calls `inspect` again and again)."""

    peek: int = 0  # messages to peek at
    dlq: bool = False  # peek at the DLQ instead
    show_pii: bool = False

    def __post_init__(self) -> None:
        if self.show_pii and not self.peek:
            raise UsageError("--show-pii needs --peek")


@dataclass
class Inspection:
    queues: list[QueueStats]
    messages: list[PeekedMessage]
    peeked_role: str | None = None
    warnings: list[str] = field(default_factory=list)
    exit_code: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "queues": [q.as_dict() for q in self.queues],
            "messages": [m.as_dict() for m in self.messages],
        }


def inspect(aws: Aws, config: Config, options: InspectOptions | None = None) -> Inspection:
    """Stats of the main queue and its DLQ, and optionally a peek at one of them.

    Peeked bodies are masked (`contract.redact_value`: email and account fields, any address, any run of 6 or
    more digits) unless `show_pii`. A peek is a receive: the warnings say what it did to the receive counts."""
    options = options or InspectOptions()
    sqs = aws.client("sqs")
    where = aws.describe_endpoint()
    main = queue_stats(sqs, MAIN, config.queue.name, where=where)
    dead = queue_stats(sqs, DLQ, config.queue.dlq.name, where=where)
    inspection = Inspection(queues=[main, dead], messages=[])
    if options.peek <= 0:
        return inspection
    target = dead if options.dlq else main
    inspection.peeked_role = target.role
    inspection.messages = peek(sqs, target.url, options.peek, visible=target.visible)
    if options.show_pii:
        inspection.warnings.append(
            "--show-pii: message bodies are shown raw, with full email addresses and account numbers"
        )
    else:
        for message in inspection.messages:
            message.body = redact_value(message.body)
    if inspection.messages and options.dlq:
        inspection.warnings.append(
            "peeking is a receive: each peeked message's receive count went up by one "
            "(the DLQ has no redrive policy: this does not move its messages anywhere)"
        )
    elif inspection.messages:
        inspection.warnings.append(
            "peeking is a receive: each peeked message's receive count went up by one "
            f"(it counts toward max_receive_count = {config.queue.dlq.max_receive_count})"
        )
    return inspection
