"""Taking messages off a queue without losing any: drain to an archive; purge.

The one rule: a message is deleted from its queue only after it is durably written somewhere else.
`drain` writes each batch's messages as JSON lines to an append-only archive, flushes and fsyncs it,
and only then deletes exactly those messages with DeleteMessageBatch. Killed at any moment (SIGKILL
included) every message is on the queue (visible, or in flight until its visibility timeout ends) or
in the archive, possibly both (at-least-once), never in neither.

The receive/handle/delete loop (`Consumer`) is shared with the manual redrive path, whose "somewhere
else" is the main queue (a successful SendMessageBatch instead of an fsync).

`drain --match` holds the messages that do not match in flight until the end of its scan, then makes
them all visible again: each is received once per drain (its receive count goes up by one), and a
drain killed before it released them leaves them in flight only until their visibility timeout ends.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TxnalertError, UsageError, error_code, from_botocore

if TYPE_CHECKING:
    from .inspect import MoveCheck, QueueStats

RECEIVE_BATCH = 10
# Long enough to cover writing, fsyncing and deleting one batch, so that no message of a batch in
# hand is redelivered to another thread (or another drain) before it is deleted. Messages a --match
# scan holds get it too, extended every half of it while the scan runs: after a SIGKILL they are
# visible again within this many seconds.
VISIBILITY_TIMEOUT = 60
DEFAULT_THREADS = 4
# After an empty receive on a queue that still reports messages, long-poll this many seconds.
EMPTY_WAIT = 2
# Receives in a row that bring nothing new while the queue still reports messages: then stop.
MAX_IDLE_RECEIVES = 5
# The most messages a --match scan holds in flight (one id and one receipt handle each, under 1 KB):
# at this many it stops, releases them, and says so.
MAX_HELD = 10_000
ARCHIVE_FIELDS = ("message_id", "body", "attributes", "message_attributes", "receive_count", "queue")

Message = dict[str, Any]


# --- the archive ----------------------------------------------------------------------------------


def default_archive_path(queue: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"drained-{queue}-{stamp}.jsonl")


def check_archive_path(path: Path, flag: str = "--to") -> None:
    """A usage error if `path` cannot be an archive; creates nothing (called before any receive)."""
    where = f"{flag} {path}" if flag else str(path)
    if path.is_dir():
        raise UsageError(f"{where}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{where}: directory {str(parent)!r} does not exist")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UsageError(f"{where}: cannot write: permission denied")
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{where}: cannot create a file in {str(parent)!r}: permission denied")


def encode_message_attributes(attributes: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Message attributes as JSON: binary values base64-encoded, the reserved list fields dropped."""
    encoded: dict[str, dict[str, str]] = {}
    for name, value in attributes.items():
        item = {"DataType": str(value.get("DataType", "String"))}
        if "StringValue" in value:
            item["StringValue"] = str(value["StringValue"])
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            item["BinaryValue"] = base64.b64encode(raw if isinstance(raw, bytes) else str(raw).encode()).decode()
        encoded[name] = item
    return encoded


def archive_record(message: Message, queue: str) -> dict[str, Any]:
    """One archive line: what `replay` needs to send the message again, and what an operator reads."""
    return {
        "message_id": message["MessageId"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "message_attributes": encode_message_attributes(message.get("MessageAttributes", {})),
        "receive_count": receive_count(message),
        "queue": queue,
        "drained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


class Archive:
    """An append-only JSON Lines file; `write` returns only once the lines are on disk.

    One writer at a time (a lock around write + fsync of a batch's lines). Each batch is one
    os.write of whole lines, so a kill leaves at most one torn last line, whose messages were not
    deleted. Opening an archive whose last line is torn starts a new line first. `created` says
    whether this archive made the file (so that `remove_if_unused` may delete it).
    """

    def __init__(self, path: Path, fd: int, *, created: bool = False) -> None:
        self.path = path
        self.created = created
        self._fd = fd
        self._lock = threading.Lock()
        self.lines = 0

    @classmethod
    def open(cls, path: Path, flag: str = "--to") -> Archive:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        try:
            try:  # messages hold personal data: 0600
                fd, created = os.open(path, flags | os.O_EXCL, 0o600), True
            except FileExistsError:
                fd, created = os.open(path, flags, 0o600), False
        except OSError as exc:
            raise UsageError(f"{flag} {path}: cannot write: {exc.strerror}") from None
        archive = cls(path, fd, created=created)
        try:
            if not created and path.stat().st_size > 0:
                with path.open("rb") as handle:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        archive._write_all(b"\n")
            os.fsync(fd)
            if created:  # make the new directory entry durable too
                dir_fd = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as exc:
            archive.close()
            raise UsageError(f"{flag} {path}: cannot write: {exc.strerror}") from None
        return archive

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def write(self, records: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
        with self._lock:
            try:
                self._write_all(data.encode("utf-8"))
                os.fsync(self._fd)
            except OSError as exc:
                raise TxnalertError(
                    f"cannot write the archive {self.path}: {exc.strerror}; "
                    "the messages of the batch in hand were not deleted"
                ) from None
            self.lines += len(records)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def remove_if_unused(self) -> bool:
        """Close; delete the file if this archive created it and wrote no line to it (a drain that
        drained nothing leaves no empty file). A file that existed before is never deleted."""
        self.close()
        if not self.created or self.lines:
            return False
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        return True


# --- the receive / handle / delete loop ------------------------------------------------------------


@dataclass
class Outcome:
    """What a handler did with a batch: `done` is written elsewhere (delete it from the source),
    `keep` was not (make it visible again), `errors` says why."""

    done: list[Message] = field(default_factory=list)
    keep: list[Message] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


Handler = Callable[[list[Message]], Outcome]


@dataclass
class ConsumeResult:
    handled: int = 0  # written elsewhere (archived, or sent)
    deleted: int = 0  # ... and deleted from the source
    skipped: int = 0  # distinct messages that did not match --match: held, then made visible again
    near_limit: int = 0  # ... of them now at max_receive_count - 1 receives or more
    received_again: int = 0  # receives of a skipped message whose hold had lapsed: the scan stops at the first
    release_failed: int = 0  # skipped messages not made visible again: in flight until their timeout ends
    delete_failed: list[str] = field(default_factory=list)  # "message-id: reason": handled, still on the queue
    errors: list[str] = field(default_factory=list)  # handler errors: not handled, still on the queue
    stopped: str = ""  # why it stopped before the queue was empty ("" when it was)
    interrupted: bool = False
    error: TxnalertError | None = None
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.deleted / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _translate(exc: BaseException) -> TxnalertError:
    if isinstance(exc, TxnalertError):
        return exc
    return from_botocore(exc) or TxnalertError(f"{type(exc).__name__}: {exc}")


def receive_count(message: Message) -> int:
    """The message's ApproximateReceiveCount, this receive included."""
    return int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0))


def extend_visibility(sqs: Any, url: str, handles: list[str], seconds: int) -> None:
    """Keep received messages in flight `seconds` more (from now), in batches of 10. An entry SQS
    refuses (a stale receipt handle) is left as it is: that message's hold may lapse, see `_hold`."""
    for start in range(0, len(handles), RECEIVE_BATCH):
        chunk = handles[start : start + RECEIVE_BATCH]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": seconds} for i, h in enumerate(chunk)],
        )


class Consumer:
    """Receive batches of 10 on several threads; hand each batch to `handle`; delete what it did.

    Stops when the queue gives an empty receive and reports no more visible messages than the ones
    it left on it; at `limit` handled messages (never more); on Ctrl-C after the batches in hand; on the
    first error; with `match`, when it holds `max_held` skipped messages.

    With `match`, only messages whose body contains it are handed over. The others are *held*: left in
    flight (invisible) for the rest of the scan, their visibility extended while it runs, and all made
    visible again (visibility 0) when it ends, however it ends (a `finally`). So each is received once
    per drain, its receive count going up by exactly one: were they made visible again after each
    receive, the threads would receive the same first messages over and over, raising their receive
    count toward the queue's maxReceiveCount, and never reach the messages behind them. A drain killed
    with SIGKILL cannot release them: they stay in flight until their visibility timeout ends (at most
    `visibility_timeout` seconds), then are visible again, never lost. Should a hold lapse anyway (the
    scan outran the extensions) and a skipped message come back, the scan stops at once ("hold-lapsed"):
    no message is received a third time. A skipped message whose receive count reached
    max_receive_count - 1 is counted (`near_limit`) for the report; being held, it is not received again.
    Holding costs one message id and one receipt handle per skipped message (under 1 KB): at most
    `max_held` (10,000: a few MB), then the scan stops and says so. On a FIFO queue a held message blocks
    the messages behind it in its group (FIFO order): the scan cannot reach them and stops idle, saying so.
    """

    def __init__(
        self,
        sqs: Any,
        url: str,
        handle: Handler,
        *,
        threads: int = DEFAULT_THREADS,
        limit: int | None = None,
        match: str | None = None,
        max_receive_count: int | None = None,
        progress: Callable[[int], None] | None = None,
        visibility_timeout: int = VISIBILITY_TIMEOUT,
        max_held: int = MAX_HELD,
    ) -> None:
        self.sqs = sqs
        self.url = url
        self.handle = handle
        self.threads = threads
        self.limit = limit
        self.match = match
        self.max_receive_count = max_receive_count
        self.progress = progress
        self.visibility_timeout = visibility_timeout
        self.max_held = max_held
        self.result = ConsumeResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reserved = 0
        # Ids of the messages handed over but not handled (`Outcome.keep`), made visible again at once:
        # to know when all the queue still shows is those. Kept only for them, not per message drained.
        self._left_ids: set[str] = set()
        # --match: the messages held (id: receive count when first held), and their receipt handles, by when
        # to extend them (oldest first).
        self._held_ids: dict[str, int] = {}
        self._held: deque[tuple[float, list[str]]] = deque()
        self._keeper_error: BaseException | None = None

    # -- bookkeeping under the lock

    def _reserve(self) -> int:
        """How many messages this thread may receive: 0 once `limit` are handled, -1 while the rest
        of the limit is reserved by threads with a batch in hand (their receives may come back short)."""
        with self._lock:
            if self.limit is None:
                return RECEIVE_BATCH
            left = self.limit - self.result.handled
            if left <= 0:
                return 0
            want = min(RECEIVE_BATCH, left - self._reserved)
            if want <= 0:
                return -1
            self._reserved += want
            return want

    def _settle(self, reserved: int, handled: int) -> None:
        with self._lock:
            if self.limit is not None:
                self._reserved -= reserved
            self.result.handled += handled

    def stop(self, reason: str = "") -> None:
        with self._lock:
            if reason and not self.result.stopped:
                self.result.stopped = reason
        self._stop.set()

    # -- the loop

    def run(self) -> ConsumeResult:
        started = time.perf_counter()
        pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="consume")
        futures: list[Future[None]] = []
        scan_over = threading.Event()
        keeper = None
        if self.match is not None:
            keeper = threading.Thread(target=self._keep_held, args=(scan_over,), name="consume-keeper", daemon=True)
            keeper.start()
        try:
            try:
                futures.extend(pool.submit(self._worker) for _ in range(self.threads))
                pending = set(futures)
                while pending:
                    _, pending = wait(pending, timeout=0.25)
            except KeyboardInterrupt:
                self.result.interrupted = True
                self.stop("interrupted")
                wait(futures)  # finish the batches in hand; a second Ctrl-C still waits for them below
            finally:
                pool.shutdown(wait=True)
        finally:
            scan_over.set()
            if keeper is not None:
                keeper.join()
            self._release_held()
        self.result.elapsed_s = time.perf_counter() - started
        errors = [e for e in (f.exception() for f in futures) if e is not None]
        if self._keeper_error is not None:
            errors.append(self._keeper_error)
        if errors:
            self.result.error = _translate(errors[0])
        return self.result

    def _worker(self) -> None:
        try:
            self._loop()
        except BaseException:
            self.stop("error")
            raise

    def _loop(self) -> None:
        wait_seconds = 0
        idle = 0
        while not self._stop.is_set():
            want = self._reserve()
            if want == 0:
                self.stop("max")
                return
            if want < 0:
                self._stop.wait(0.05)
                continue
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.url,
                    MaxNumberOfMessages=want,
                    WaitTimeSeconds=wait_seconds,
                    VisibilityTimeout=self.visibility_timeout,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except BaseException:
                self._settle(want, 0)
                raise
            if self.match is None:
                matched, others = messages, []
            else:
                matched = [m for m in messages if self.match in m.get("Body", "")]
                others = [m for m in messages if self.match not in m.get("Body", "")]
            fresh = self._hold(others)
            done = 0
            try:
                done, kept = self._process(matched)
                fresh += self._leave(kept)
            finally:
                self._settle(want, done)
            if done == 0 and fresh == 0:
                # Nothing new: an empty receive, or only messages we already left on the queue.
                idle += 1
                if self._finished():
                    return
                if idle >= MAX_IDLE_RECEIVES:
                    self.stop("idle")
                    return
                wait_seconds = 0 if messages else EMPTY_WAIT
            else:
                idle, wait_seconds = 0, 0

    # -- messages left on the queue

    def _leave(self, messages: list[Message]) -> int:
        """Note messages handed over but not handled (made visible again); returns how many are new."""
        if not messages:
            return 0
        with self._lock:
            fresh = len({m["MessageId"] for m in messages} - self._left_ids)
            self._left_ids.update(m["MessageId"] for m in messages)
        return fresh

    def _hold(self, messages: list[Message]) -> int:
        """Keep skipped messages in flight until the end of the scan; returns how many are new to it."""
        if not messages:
            return 0
        margin = max(self.max_receive_count - 1, 1) if self.max_receive_count else None
        fresh = worst = 0
        reason = ""
        with self._lock:
            self._held.append((time.monotonic() + self.visibility_timeout / 2, [m["ReceiptHandle"] for m in messages]))
            result = self.result
            for message in messages:
                count = receive_count(message)
                first = self._held_ids.get(message["MessageId"])
                if first is not None:
                    # Received again. With the same receive count, a duplicate delivery (SQS standard
                    # queues deliver at least once): nothing more to do. With a higher one, its hold
                    # lapsed (the scan outran the extensions of its visibility timeout) and this receive
                    # raised its count once more: stop before that happens again.
                    if count > first:
                        result.received_again += 1
                        worst = max(worst, count)
                    continue
                self._held_ids[message["MessageId"]] = count
                fresh += 1
                result.skipped += 1
                if margin is not None and count >= margin:
                    result.near_limit += 1
            if worst:
                reason = f"hold-lapsed:{worst}"
            elif len(self._held_ids) >= self.max_held:
                reason = f"held:{self.max_held}"
        if reason:
            self.stop(reason)
        return fresh

    def _keep_held(self, scan_over: threading.Event) -> None:
        """Keeper thread: extend the held messages' visibility before it ends, until the scan is over.

        Each held message is extended every half visibility timeout: at 10,000 held and 60 s, some 1,000
        ChangeMessageVisibilityBatch calls every 30 s, spread over as many threads as the scan has."""
        interval = min(1.0, self.visibility_timeout / 4)

        def extend(handles: list[str]) -> None:
            extend_visibility(self.sqs, self.url, handles, self.visibility_timeout)

        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="consume-keeper") as extenders:
            while not scan_over.wait(interval):
                now = time.monotonic()
                with self._lock:
                    due: list[str] = []
                    while self._held and self._held[0][0] <= now:
                        due.extend(self._held.popleft()[1])
                if not due:
                    continue
                try:
                    list(extenders.map(extend, [due[i : i + RECEIVE_BATCH] for i in range(0, len(due), RECEIVE_BATCH)]))
                except BaseException as exc:
                    self._keeper_error = exc
                    self.stop("error")
                    return
                finally:
                    with self._lock:
                        self._held.append((time.monotonic() + self.visibility_timeout / 2, due))

    def _release_held(self) -> None:
        """End of the scan: make every held message visible again, in batches of 10; on failure, the
        rest stay in flight until their visibility timeout ends."""
        with self._lock:
            handles = [h for _, batch in self._held for h in batch]
            self._held.clear()
        for start in range(0, len(handles), RECEIVE_BATCH):
            try:
                self._release_handles(handles[start : start + RECEIVE_BATCH])
            except (Exception, KeyboardInterrupt) as exc:
                self.result.release_failed = len(handles) - start
                if isinstance(exc, KeyboardInterrupt):
                    self.result.interrupted = True
                elif self.result.error is None:
                    self.result.error = _translate(exc)
                return

    def _finished(self) -> bool:
        """Nothing left for us: the queue reports no more visible messages than the ones we left on it."""
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"])
        visible = int(attrs.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))
        with self._lock:
            return visible <= len(self._left_ids)

    # -- handing over, deleting

    def _process(self, messages: list[Message]) -> tuple[int, list[Message]]:
        """Hand a batch over, delete what was handled; returns (handled, messages kept on the queue)."""
        if not messages:
            return 0, []
        try:
            outcome = self.handle(messages)
        except BaseException:
            # Not written anywhere: the messages stay on the queue (visible again after the timeout).
            self._release_quietly(messages)
            raise
        if outcome.errors:
            with self._lock:
                self.result.errors.extend(outcome.errors)
        if outcome.keep:
            self._release_quietly(outcome.keep)
        self._delete(outcome.done)
        if self._left_ids:
            with self._lock:
                self._left_ids.difference_update(m["MessageId"] for m in outcome.done)
        if self.progress is not None and outcome.done:
            self.progress(len(outcome.done))
        return len(outcome.done), outcome.keep

    def _delete(self, messages: list[Message]) -> int:
        if not messages:
            return 0
        ids = {str(i): m for i, m in enumerate(messages)}
        try:
            response = self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in ids.items()],
            )
        except BaseException as exc:
            reason = _translate(exc).message
            with self._lock:
                self.result.delete_failed.extend(f"{m['MessageId']}: {reason}" for m in messages)
            raise
        failed = response.get("Failed", [])
        with self._lock:
            self.result.deleted += len(response.get("Successful", []))
            for bad in failed:
                message = ids.get(bad.get("Id", ""), {})
                self.result.delete_failed.append(
                    f"{message.get('MessageId', '?')}: {bad.get('Code', 'error')}: {bad.get('Message', '')}".rstrip(
                        ": "
                    )
                )
        return len(messages) - len(failed)

    def _release_handles(self, handles: list[str]) -> None:
        from .inspect import release

        release(self.sqs, self.url, handles)

    def _release_quietly(self, messages: list[Message]) -> None:
        """Best effort: if this fails the messages become visible anyway when their timeout ends."""
        with contextlib.suppress(Exception):
            self._release_handles([m["ReceiptHandle"] for m in messages])


# --- drain ------------------------------------------------------------------------------------------


@dataclass
class DrainResult:
    queue: str
    archive: Path | None  # None with --no-archive, or when nothing was drained into a file drain created
    consumed: ConsumeResult
    check: MoveCheck | None = None  # the queue's counts re-read afterwards (None after an error or Ctrl-C)

    def as_dict(self) -> dict[str, Any]:
        c = self.consumed
        return {
            "drained": c.deleted,
            "archive": str(self.archive) if self.archive else None,
            "queue": self.queue,
            "skipped": c.skipped,
            "skipped_near_dlq": c.near_limit,
            "not_released": c.release_failed,
            "delete_failed": c.delete_failed,
            "stopped": c.stopped or None,
            "elapsed_s": round(c.elapsed_s, 3),
            **(self.check.as_dict() if self.check else {}),
        }


def left_in_flight(consumed: ConsumeResult) -> int:
    """Messages a run knows it may have left in flight on its source: not deleted, not made visible again."""
    return consumed.release_failed + len(consumed.delete_failed) + len(consumed.errors)


def drain(
    sqs: Any,
    url: str,
    queue: str,
    archive: Archive | None,
    *,
    limit: int | None = None,
    match: str | None = None,
    threads: int = DEFAULT_THREADS,
    max_receive_count: int | None = None,
    progress: Callable[[int], None] | None = None,
    visibility_timeout: int = VISIBILITY_TIMEOUT,
    max_held: int | None = None,
    before: QueueStats | None = None,
    settle: Sequence[float] = (),
) -> DrainResult:
    """Archive then delete the messages of `url` (all of them, at most `limit`, or those matching).

    With `match`, the messages that do not match are held in flight until the scan ends, then made
    visible again: each is received once, its receive count going up by one (see `Consumer`).
    With `before` (the queue as read before), the counts are re-read afterwards (`queues.check_move`)."""

    def handle(messages: list[Message]) -> Outcome:
        if archive is not None:
            archive.write([archive_record(m, queue) for m in messages])
        return Outcome(done=messages)

    consumer = Consumer(
        sqs,
        url,
        handle,
        threads=threads,
        limit=limit,
        match=match,
        max_receive_count=max_receive_count if match is not None else None,
        progress=progress,
        visibility_timeout=visibility_timeout,
        max_held=MAX_HELD if max_held is None else max_held,
    )
    result = DrainResult(queue=queue, archive=archive.path if archive else None, consumed=consumer.run())
    consumed = result.consumed
    if before is not None and consumed.error is None and not consumed.interrupted:
        from .inspect import check_move

        result.check = check_move(
            sqs, source=before, left_in_flight=left_in_flight(consumed), what="drain", delays=settle
        )
    return result


# --- purge ------------------------------------------------------------------------------------------

PURGE_IN_PROGRESS_CODES = frozenset({"AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress"})


def purge(sqs: Any, url: str, name: str) -> None:
    """PurgeQueue: SQS deletes every message (visible, in flight, delayed) within 60 seconds.

    SQS allows one purge per queue every 60 seconds, and refuses the next with PurgeQueueInProgress."""
    try:
        sqs.purge_queue(QueueUrl=url)
    except Exception as exc:
        if error_code(exc) in PURGE_IN_PROGRESS_CODES:
            raise TxnalertError(
                f"a purge of {name} is already running (SQS allows one every 60 seconds): "
                "nothing more was purged; retry in up to 60 s"
            ) from None
        raise
