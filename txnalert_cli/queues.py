"""Reading queues: counts and attributes, and peeking at messages without consuming them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .config import Config
from .errors import QueueNotFound, error_code

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
            from .handler.contract import redact_value

            for message in messages:
                message.body = redact_value(message.body)
    return Inspection(
        queues=[main, dead], messages=messages, peeked_role=(DLQ if dlq else MAIN) if peek_count else None
    )
