"""The SQS batch engine: every batched SQS call txnalert makes, written once.

- `send_batch`: one SendMessageBatch of up to 10 entries; the entries SQS reports as failed are re-sent (unless
  the sender is at fault), in their order, with backoff, and what happened to each entry is accounted for
  (`SendOutcome`). `send_entries` does the same for any number of entries, batch after batch (`chunks`).
- `receive`: one ReceiveMessage with every system and message attribute.
- `delete` and `change_visibility`: DeleteMessageBatch and ChangeMessageVisibilityBatch in batches of 10.
- `counts`: a queue's approximate counts (visible, in flight, delayed).
- `RateLimiter`: at most N messages a second, shared by threads.

Who uses it: send-test (`sending.Sender`), drain and the manual redrive (`consumer.Consumer`), redrive and
replay (`send_entries`), peek (`inspect.peek`), and the local worker. A call that raises propagates; the
outcome object passed in (`outcome=`) then says what was done before it, and which entries were in the call
that raised (`unconfirmed`: done or not, nobody knows).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

MAX_BATCH_ENTRIES = 10  # SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch, ReceiveMessage
# SendMessageBatch's total payload limit. AWS raised it to 1 MiB in 2025; 256 KiB is what every
# endpoint (older emulators included) accepts, and ten transactions are a few KiB. A queue configured
# for bigger messages (queue.max_message_size) is on an endpoint that takes batches that big.
MAX_BATCH_BYTES = 262_144
ENTRY_RETRIES = 3  # re-sends of an entry SQS reports as failed (not the sender's fault)
RETRY_DELAY = 0.05  # seconds before the first re-send; doubled for each next one
NOT_ACKNOWLEDGED = "not acknowledged"  # an entry SQS neither accepted nor refused in its last answer
COUNT_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]

Entry = dict[str, Any]
Message = dict[str, Any]
T = TypeVar("T")


# --- entries and batches ---------------------------------------------------------------------------------


def entry(
    entry_id: str,
    body: str,
    attributes: dict[str, Any] | None = None,
    *,
    group_id: str | None = None,
    deduplication_id: str | None = None,
) -> Entry:
    """A SendMessageBatch entry. With a group id (a FIFO queue), a deduplication id: the one given, else a
    fresh one (a message sent again must not be dropped as a duplicate of its first send)."""
    out: Entry = {"Id": entry_id, "MessageBody": body}
    if attributes:
        out["MessageAttributes"] = attributes
    if group_id is not None:
        out["MessageGroupId"] = group_id
        out["MessageDeduplicationId"] = deduplication_id or uuid.uuid4().hex
    return out


def entry_size(item: Entry) -> int:
    """Bytes an entry counts toward the batch limit: body plus attribute names, types and values."""
    size = len(item["MessageBody"].encode("utf-8"))
    for name, value in item.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(value["DataType"].encode())
        size += len(value.get("StringValue", "").encode()) + len(value.get("BinaryValue", b""))
    return size


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


def receive_count(message: Message) -> int:
    """The message's ApproximateReceiveCount, this receive included."""
    return int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0))


class Batcher(Generic[T]):
    """Collects items into batches of at most `max_entries` items and `max_bytes` bytes; `add` returns the
    batch so far when the new item does not fit in it (the item starts the next one)."""

    def __init__(self, max_entries: int = MAX_BATCH_ENTRIES, max_bytes: int = MAX_BATCH_BYTES) -> None:
        self.max_entries = max(1, min(max_entries, MAX_BATCH_ENTRIES))
        self.max_bytes = max_bytes
        self._batch: list[T] = []
        self._size = 0

    def __len__(self) -> int:
        return len(self._batch)

    def add(self, item: T, size: int) -> list[T] | None:
        full: list[T] | None = None
        if self._batch and (len(self._batch) >= self.max_entries or self._size + size > self.max_bytes):
            full = self.flush()
        self._batch.append(item)
        self._size += size
        return full

    def flush(self) -> list[T] | None:
        batch, self._batch, self._size = self._batch, [], 0
        return batch or None


def chunks(entries: Iterable[Entry], max_bytes: int = MAX_BATCH_BYTES) -> Iterator[list[Entry]]:
    """Entries, in order, in batches SendMessageBatch takes (10 entries, max_bytes)."""
    batcher: Batcher[Entry] = Batcher(max_bytes=max_bytes)
    for item in entries:
        full = batcher.add(item, entry_size(item))
        if full:
            yield full
    last = batcher.flush()
    if last:
        yield last


class RateLimiter:
    """At most `rate` messages per second, shared by the sending threads.

    Every message gets a slot 1/rate after the previous one and a batch goes when the slot of its last
    message comes: the n-th message of a run (counting from 0) is never sent before n/rate seconds. A
    pause (a slow endpoint) is not made up for with a burst. `clock` and `sleep` are for tests."""

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next: float | None = None

    def acquire(self, n: int) -> None:
        if not self.rate or n < 1:
            return
        with self._lock:
            now = self._clock()
            start = now if self._next is None else max(now, self._next)
            send_at = start + (n - 1) / self.rate
            self._next = start + n / self.rate
        delay = send_at - now
        if delay > 0:
            self._sleep(delay)


# --- sending ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryError:
    """Why SQS refused an entry (a `Failed` element of a batch answer)."""

    code: str
    message: str = ""

    @classmethod
    def of(cls, failed: dict[str, Any]) -> EntryError:
        return cls(str(failed.get("Code") or "error"), str(failed.get("Message") or ""))

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


@dataclass
class SendOutcome:
    """What SQS did with the entries of a send, by entry id."""

    accepted: dict[str, int] = field(default_factory=dict)  # id -> the attempt that got it in (0: the first call)
    failed: dict[str, EntryError] = field(default_factory=dict)  # refused: the sender's fault, or still at the end
    unacknowledged: list[str] = field(default_factory=list)  # neither accepted nor refused by the last attempt
    unconfirmed: list[str] = field(default_factory=list)  # in the call that raised: sent or not, nobody knows
    calls: int = 0  # SendMessageBatch calls that answered


def send_batch(
    sqs: Any,
    url: str,
    entries: Sequence[Entry],
    *,
    retries: int = ENTRY_RETRIES,
    retry_delay: float = RETRY_DELAY,
    before_call: Callable[[int], None] | None = None,
    outcome: SendOutcome | None = None,
) -> SendOutcome:
    """Send one batch (at most 10 entries with unique Ids, within the byte limit) with SendMessageBatch.

    The entries SQS reports as failed go again, unless the sender is at fault, up to `retries` times, `retry_delay`
    seconds after the first call and twice as long after each next one; so do entries the answer does not mention.
    Re-sends keep the entries' order. `before_call(n)` runs before each call, with its number of entries (a rate
    limiter). If a call raises, the exception propagates: the `outcome` passed in holds what was accepted before
    it, and in `unconfirmed` the entries of the call that raised."""
    outcome = SendOutcome() if outcome is None else outcome
    order = {item["Id"]: position for position, item in enumerate(entries)}
    pending = {item["Id"]: item for item in entries}
    for attempt in range(retries + 1):
        outcome.unconfirmed = list(pending)
        if before_call is not None:
            before_call(len(pending))
        response = sqs.send_message_batch(QueueUrl=url, Entries=list(pending.values()))
        outcome.calls += 1
        for ok in response.get("Successful", []):
            if pending.pop(ok["Id"], None) is not None:
                outcome.accepted[ok["Id"]] = attempt
        for bad in response.get("Failed", []):
            if bad["Id"] in pending and (bad.get("SenderFault") or attempt == retries):
                del pending[bad["Id"]]
                outcome.failed[bad["Id"]] = EntryError.of(bad)
        outcome.unconfirmed = []
        if not pending:
            break
        # What is left (retryable failures, entries the answer did not mention) goes again, in order.
        pending = dict(sorted(pending.items(), key=lambda item: order[item[0]]))
        if attempt < retries:
            time.sleep(retry_delay * 2**attempt)
    outcome.unacknowledged.extend(pending)
    return outcome


def send_entries(
    sqs: Any,
    url: str,
    entries: Iterable[Entry],
    *,
    before_call: Callable[[int], None] | None = None,
    outcome: SendOutcome | None = None,
) -> SendOutcome:
    """`send_batch` for any number of entries (unique Ids), batch after batch, into one outcome."""
    outcome = SendOutcome() if outcome is None else outcome
    for batch in chunks(entries):
        send_batch(sqs, url, batch, before_call=before_call, outcome=outcome)
    return outcome


# --- receiving, deleting, changing visibility --------------------------------------------------------------


def receive(
    sqs: Any,
    url: str,
    *,
    max_messages: int = MAX_BATCH_ENTRIES,
    wait_seconds: int = 0,
    visibility_timeout: int | None = None,
) -> list[Message]:
    """One ReceiveMessage of up to `max_messages` (at most 10), with every system and message attribute.
    Without `visibility_timeout`, the queue's own."""
    params: dict[str, Any] = {
        "QueueUrl": url,
        "MaxNumberOfMessages": max_messages,
        "WaitTimeSeconds": wait_seconds,
        "MessageSystemAttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    if visibility_timeout is not None:
        params["VisibilityTimeout"] = visibility_timeout
    messages: list[Message] = sqs.receive_message(**params).get("Messages", [])
    return messages


@dataclass
class BatchOutcome:
    """What SQS did with the receipt handles of a delete or a visibility change, by their position."""

    done: int = 0  # entries SQS reports successful
    failed: dict[int, EntryError] = field(default_factory=dict)  # position -> why SQS refused it
    unconfirmed: list[int] = field(default_factory=list)  # the call that raised and the ones not made after it
    calls: int = 0


def _in_batches(
    handles: Sequence[str],
    call: Callable[[list[dict[str, Any]]], dict[str, Any]],
    outcome: BatchOutcome | None,
    **extra: Any,
) -> BatchOutcome:
    outcome = BatchOutcome() if outcome is None else outcome
    for start in range(0, len(handles), MAX_BATCH_ENTRIES):
        chunk = handles[start : start + MAX_BATCH_ENTRIES]
        outcome.unconfirmed = list(range(start, len(handles)))
        response = call([{"Id": str(start + i), "ReceiptHandle": h, **extra} for i, h in enumerate(chunk)])
        outcome.calls += 1
        outcome.done += len(response.get("Successful", []))
        for bad in response.get("Failed", []):
            outcome.failed[int(bad["Id"])] = EntryError.of(bad)
    outcome.unconfirmed = []
    return outcome


def delete(sqs: Any, url: str, handles: Sequence[str], *, outcome: BatchOutcome | None = None) -> BatchOutcome:
    """Delete received messages by receipt handle, in batches of 10 (DeleteMessageBatch)."""
    return _in_batches(handles, lambda entries: sqs.delete_message_batch(QueueUrl=url, Entries=entries), outcome)


def change_visibility(
    sqs: Any, url: str, handles: Sequence[str], seconds: int, *, outcome: BatchOutcome | None = None
) -> BatchOutcome:
    """Set received messages' visibility timeout to `seconds` from now (0: visible again at once), in batches of
    10 (ChangeMessageVisibilityBatch). An entry SQS refuses (a stale receipt handle) is reported, not retried."""
    return _in_batches(
        handles,
        lambda entries: sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries),
        outcome,
        VisibilityTimeout=seconds,
    )


# --- counts ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


def counts(sqs: Any, url: str) -> Counts:
    """The queue's approximate counts: visible, in flight (received, not deleted), delayed."""
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNT_ATTRIBUTES)["Attributes"]
    return Counts(
        visible=int(attrs.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
    )
