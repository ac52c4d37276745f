"""The receive / handle / delete loop that takes messages off a queue without losing any (`Consumer`).

Shared by `drain` (its "somewhere else" is the archive: an fsync) and the manual redrive (the main queue: a
successful SendMessageBatch). A message is deleted only once the handler says it is written elsewhere.
`drain --match` holds the messages that do not match in flight until the end of its scan, then makes them
all visible again (see `Consumer`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ..errors import TxnalertError, from_botocore
from . import sqs as engine
from .sqs import MAX_BATCH_ENTRIES as RECEIVE_BATCH
from .sqs import Message, receive_count

# Long enough to cover writing, fsyncing and deleting one batch, so that no message of a batch in
# hand is redelivered to another thread (or another drain) before it is deleted. Messages a --match
# scan holds get it too, extended every half of it while the scan runs: after a SIGKILL they are
# visible again within this many seconds.
VISIBILITY_TIMEOUT = 60
DEFAULT_THREADS = 4
MAX_THREADS = 16
# After an empty receive on a queue that still reports messages, long-poll this many seconds.
EMPTY_WAIT = 2
# Receives in a row that bring nothing new while the queue still reports messages: then stop.
MAX_IDLE_RECEIVES = 5
# The most messages a --match scan holds in flight (one id and one receipt handle each, under 1 KB):
# at this many it stops, releases them, and says so.
MAX_HELD = 10_000


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


def left_in_flight(consumed: ConsumeResult) -> int:
    """Messages a run knows it may have left in flight on its source: not deleted, not made visible again."""
    return consumed.release_failed + len(consumed.delete_failed) + len(consumed.errors)


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
                messages = engine.receive(
                    self.sqs,
                    self.url,
                    max_messages=want,
                    wait_seconds=wait_seconds,
                    visibility_timeout=self.visibility_timeout,
                )
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
        ChangeMessageVisibilityBatch calls every 30 s, spread over as many threads as the scan has. An entry SQS
        refuses (a stale receipt handle) is left as it is: that message's hold may lapse, see `_hold`."""
        interval = min(1.0, self.visibility_timeout / 4)

        def extend(handles: list[str]) -> None:
            engine.change_visibility(self.sqs, self.url, handles, self.visibility_timeout)

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
        outcome = engine.BatchOutcome()
        try:
            engine.change_visibility(self.sqs, self.url, handles, 0, outcome=outcome)
        except (Exception, KeyboardInterrupt) as exc:
            self.result.release_failed = len(outcome.unconfirmed)
            if isinstance(exc, KeyboardInterrupt):
                self.result.interrupted = True
            elif self.result.error is None:
                self.result.error = _translate(exc)

    def _finished(self) -> bool:
        """Nothing left for us: the queue reports no more visible messages than the ones we left on it."""
        visible = engine.counts(self.sqs, self.url).visible
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

    def _delete(self, messages: list[Message]) -> None:
        if not messages:
            return
        outcome = engine.BatchOutcome()
        try:
            engine.delete(self.sqs, self.url, [m["ReceiptHandle"] for m in messages], outcome=outcome)
        except BaseException as exc:
            reason = _translate(exc).message
            with self._lock:
                self.result.delete_failed.extend(f"{messages[i]['MessageId']}: {reason}" for i in outcome.unconfirmed)
            raise
        finally:
            with self._lock:
                self.result.deleted += outcome.done
                self.result.delete_failed.extend(f"{messages[i]['MessageId']}: {e}" for i, e in outcome.failed.items())

    def _release_quietly(self, messages: list[Message]) -> None:
        """Best effort: if this fails the messages become visible anyway when their timeout ends."""
        with contextlib.suppress(Exception):
            engine.change_visibility(self.sqs, self.url, [m["ReceiptHandle"] for m in messages], 0)
