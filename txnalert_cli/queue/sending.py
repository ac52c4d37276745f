"""Sending transactions to the queue: generated test transactions or a JSON Lines file.

SendMessageBatch with up to 10 entries and never more than the batch byte limit, several threads
sharing one client (its connection pool sized to match), entries a batch reports as failed re-sent,
an optional messages-per-second cap. Transactions are streamed: memory does not grow with --count (the
list of sent transaction ids, about 100 bytes a message, is kept only when asked for: `--json`).

FIFO queues keep each account's order (MessageGroupId = account id): every account is routed to one
fixed sending thread, which sends its batches one after the other and finishes a batch's re-sends
before it sends the next batch. Without failures the queue holds each account's transactions in the
order of the input. The one case that cannot be made strict: SQS rejects one entry of a batch with a
retryable error and accepts a later entry of the same account in that batch. The later one is already
in the queue, so the re-sent entry lands after it (re-sending the later one would not help: FIFO
deduplication drops it). `SendResult.reordered` counts such transactions and a warning names them.
A transaction that fails for good leaves a gap: the later ones of its account are still sent, in order.
"""

from __future__ import annotations

import queue
import random
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import InputError, TxnalertError, UsageError, from_botocore
from ..handler.contract import (
    CURRENCY_DECIMALS,
    InvalidTransaction,
    Transaction,
    message_attributes,
    parse_body,
    parse_transaction,
)

MAX_BATCH_ENTRIES = 10
# SendMessageBatch's total payload limit. AWS raised it to 1 MiB in 2025; 256 KiB is what every
# endpoint (older emulators included) accepts, and ten transactions are a few KiB. A queue configured
# for bigger messages (queue.max_message_size) is on an endpoint that takes batches that big.
MAX_BATCH_BYTES = 262_144
ENTRY_RETRIES = 3
TYPES = ("deposit", "withdrawal", "mixed")
MAX_FILE_ERRORS = 20
MAX_COUNT = 1_000_000
# Error lines kept in a SendResult (one per failed entry); beyond this only the count grows.
MAX_KEPT_ERRORS = 100

Batch = list[tuple[Transaction, dict[str, Any]]]


@dataclass(frozen=True)
class GenerateOptions:
    count: int = 1
    type: str = "deposit"
    amount: str | None = None
    currency: str = "USD"
    email: str = "success@simulator.amazonses.com"
    account: str | None = None


def _random_amount(currency: str, rng: random.Random) -> str:
    decimals = CURRENCY_DECIMALS.get(currency, 2)
    units = rng.randint(1, 5000 * 10**decimals)
    return str(Decimal(units).scaleb(-decimals))


def build_transaction(options: GenerateOptions, index: int, rng: random.Random) -> Transaction:
    kind = options.type if options.type != "mixed" else ("deposit", "withdrawal")[index % 2]
    data = {
        "schema_version": 1,
        "transaction_id": f"txn-{uuid.uuid4().hex}",
        "account_id": options.account or f"{rng.randint(10**9, 10**10 - 1)}",
        "type": kind,
        "amount": options.amount if options.amount is not None else _random_amount(options.currency, rng),
        "currency": options.currency,
        "email": options.email,
        "occurred_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return parse_transaction(data)


def message_size(txn: Transaction) -> int:
    """Bytes the transaction's message counts toward the queue's MaximumMessageSize."""
    return entry_size(_entry(0, txn, fifo=False))


def generate(
    options: GenerateOptions, seed: int | None = None, max_message_size: int | None = None
) -> Iterator[Transaction]:
    """Generated test transactions with unique ids. The options are checked before the first one,
    the message size against max_message_size included (with the widest amount and type)."""
    if not 1 <= options.count <= MAX_COUNT:
        raise UsageError(f"--count must be between 1 and {MAX_COUNT}, got {options.count}")
    if options.type not in TYPES:
        raise UsageError(f"--type must be one of {', '.join(TYPES)}, got {options.type!r}")
    rng = random.Random(seed)
    try:
        first = build_transaction(options, 0, rng)
    except InvalidTransaction as exc:
        flags = {"amount": "--amount", "currency": "--currency", "email": "--email", "account_id": "--account"}
        lines = []
        for reason in exc.reasons:
            field_name = reason.split(":", 1)[0]
            lines.append(f"{flags.get(field_name, field_name)}: {reason.split(':', 1)[-1].strip()}")
        raise InputError(lines) from None
    if max_message_size is not None:
        # The only parts that vary between generated messages are the type and a random amount.
        widest = replace(
            first,
            type="deposit" if options.type == "deposit" else "withdrawal",
            amount=first.amount if options.amount is not None else Decimal(5000),
        )
        size = message_size(widest)
        if size > max_message_size:
            flag = "--account" if len(options.account or "") > len(options.email) else "--email"
            raise InputError(
                [f"{flag}: a generated message is {size} bytes, queue.max_message_size is {max_message_size}"]
            )

    def stream() -> Iterator[Transaction]:
        yield first
        for index in range(1, options.count):
            yield build_transaction(options, index, rng)

    return stream()


def _line_reason(exc: InvalidTransaction) -> str:
    """A line's problems; parse_body's "body: " prefix dropped (the line is the body)."""
    return "; ".join(r[len("body: ") :] if r.startswith("body: ") else r for r in exc.reasons)


def read_file(path: str, max_message_size: int | None = None) -> tuple[int, Callable[[], Iterator[Transaction]]]:
    """Validate every line of a JSON Lines file first (nothing is sent if one is bad), then stream it.

    Each line is parsed as the handler parses a message body (`contract.parse_body`: one definition)
    and its message checked against max_message_size. Returns (number of transactions, a function that
    streams them again); the stream raises a line-numbered InputError if the file changed in between."""
    file = Path(path)

    def lines() -> Iterator[tuple[int, str]]:
        try:
            with file.open(encoding="utf-8-sig") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        yield number, line
        except FileNotFoundError:
            raise InputError([f"{path}: file not found"]) from None
        except IsADirectoryError:
            raise InputError([f"{path}: is a directory"]) from None
        except UnicodeDecodeError:
            raise InputError([f"{path}: is not UTF-8 text"]) from None
        except OSError as exc:
            raise InputError([f"{path}: cannot read: {exc.strerror}"]) from None

    def check(line: str) -> tuple[Transaction | None, str | None]:
        try:
            txn = parse_body(line)
        except InvalidTransaction as exc:
            return None, _line_reason(exc)
        if max_message_size is not None:
            size = message_size(txn)
            if size > max_message_size:
                return None, f"message is {size} bytes, queue.max_message_size is {max_message_size}"
        return txn, None

    errors: list[str] = []
    total_errors = 0
    count = 0
    for number, line in lines():
        _, reason = check(line)
        if reason is None:
            count += 1
            continue
        total_errors += 1
        if len(errors) < MAX_FILE_ERRORS:
            errors.append(f"{path}: line {number}: {reason}")
    if total_errors > len(errors):
        errors.append(f"{path}: ... and {total_errors - len(errors)} more bad lines")
    if errors:
        raise InputError([*errors, f"{path}: nothing was sent"])
    if count == 0:
        raise InputError([f"{path}: no transactions in the file"])

    def stream() -> Iterator[Transaction]:
        streamed = 0
        for number, line in lines():
            txn, reason = check(line)
            if txn is None or streamed == count:
                why = reason or f"more transactions than the {count} checked"
                raise InputError([f"{path}: line {number}: {why}", f"{path}: the file changed while it was being sent"])
            streamed += 1
            yield txn
        if streamed < count:
            raise InputError(
                [f"{path}: the file changed while it was being sent: {streamed} transactions, not {count}"]
            )

    return count, stream


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


def _entry(index: int, txn: Transaction, fifo: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Id": str(index),
        "MessageBody": txn.to_body(),
        "MessageAttributes": message_attributes(txn),
    }
    if fifo:
        entry["MessageGroupId"] = txn.account_id
        entry["MessageDeduplicationId"] = txn.transaction_id
    return entry


def entry_size(entry: dict[str, Any]) -> int:
    """Bytes an entry counts toward the batch limit: body plus attribute names, types and values."""
    size = len(entry["MessageBody"].encode("utf-8"))
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(value["DataType"].encode()) + len(value.get("StringValue", "").encode())
    return size


class BatchBuilder:
    """Collects entries into a batch; `add` returns the previous batch when the entry does not fit."""

    def __init__(
        self,
        fifo: bool,
        max_bytes: int = MAX_BATCH_BYTES,
        *,
        max_entries: int = MAX_BATCH_ENTRIES,
        max_message_size: int | None = None,
    ) -> None:
        self.fifo = fifo
        self.max_bytes = max_bytes
        self.max_entries = max(1, min(max_entries, MAX_BATCH_ENTRIES))
        self.max_message_size = max_message_size
        self._batch: Batch = []
        self._size = 0

    def add(self, txn: Transaction) -> Batch | None:
        entry = _entry(0, txn, self.fifo)
        esize = entry_size(entry)
        if self.max_message_size is not None and esize > self.max_message_size:
            raise InputError(
                [
                    f"transaction {txn.transaction_id}: message is {esize} bytes, "
                    f"queue.max_message_size is {self.max_message_size}"
                ]
            )
        if esize > self.max_bytes:
            raise InputError(
                [f"transaction {txn.transaction_id}: message is {esize} bytes, the batch limit is {self.max_bytes}"]
            )
        full: Batch | None = None
        if self._batch and (len(self._batch) >= self.max_entries or self._size + esize > self.max_bytes):
            full = self.flush()
        entry["Id"] = str(len(self._batch))
        self._batch.append((txn, entry))
        self._size += esize
        return full

    def flush(self) -> Batch | None:
        batch, self._batch, self._size = self._batch, [], 0
        return batch or None


def batches(
    transactions: Iterable[Transaction],
    fifo: bool,
    max_bytes: int = MAX_BATCH_BYTES,
    *,
    max_entries: int = MAX_BATCH_ENTRIES,
    max_message_size: int | None = None,
) -> Iterator[Batch]:
    """Group transactions, in order, into batches of at most max_entries (10) entries and max_bytes.

    An entry bigger than max_message_size (or than max_bytes) is never put in a batch: InputError."""
    builder = BatchBuilder(fifo, max_bytes, max_entries=max_entries, max_message_size=max_message_size)
    for txn in transactions:
        full = builder.add(txn)
        if full:
            yield full
    last = builder.flush()
    if last:
        yield last


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0  # sent to SQS but not accepted (or not confirmed: the call failed)
    not_sent: int = 0  # never sent: sending stopped first (Ctrl-C, an error)
    elapsed_s: float = 0.0
    transaction_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    more_errors: int = 0  # error lines beyond MAX_KEPT_ERRORS, counted only
    warnings: list[str] = field(default_factory=list)
    reordered: int = 0  # FIFO: re-sent after a later transaction of the same account was accepted
    interrupted: bool = False
    stopped_by: TxnalertError | None = None  # the error that stopped sending, if one did
    fifo: bool = False
    threads: int = 0
    api_calls: int = 0

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.not_sent or self.interrupted or self.stopped_by)

    def add_error(self, line: str) -> None:
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(line)
        else:
            self.more_errors += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "not_sent": self.not_sent,
            "transaction_ids": self.transaction_ids,
            "elapsed_s": round(self.elapsed_s, 3),
        }


class Sender:
    """Sends batches on several threads that share one SQS client.

    Standard queue: the threads take batches from one queue, in any order. FIFO queue: each account
    (message group) is routed to one fixed thread, which sends its batches in order (module docstring).
    """

    def __init__(
        self,
        sqs: Any,
        url: str,
        *,
        fifo: bool,
        threads: int = 4,
        rate: float | None = None,
        keep_ids: bool = True,
        max_message_size: int | None = None,
        retry_delay: float = 0.05,
    ) -> None:
        self.sqs = sqs
        self.url = url
        self.fifo = fifo
        self.threads = max(1, threads)
        self.limiter = RateLimiter(rate)
        # A batch of 10 at --rate 2 would be a burst of 10: at low rates batches are smaller.
        self.max_entries = MAX_BATCH_ENTRIES if not rate else max(1, min(MAX_BATCH_ENTRIES, int(rate)))
        self.keep_ids = keep_ids
        self.max_message_size = max_message_size
        self.max_bytes = max(MAX_BATCH_BYTES, max_message_size or 0)
        self.retry_delay = retry_delay
        self._lock = threading.Lock()

    # --- one batch ---------------------------------------------------------------------------------

    def _send_batch(self, batch: Batch, result: SendResult) -> None:
        """Send one batch; re-send the entries SQS reports as failed (unless the sender is at fault).

        Re-sends keep the batch's order and finish before the thread's next batch. Whatever happens (an
        exception on a re-send included), the entries SQS accepted are counted as sent, so nobody re-runs
        the command for them (and duplicates them); the entries of a call that raised count as failed."""
        order = {entry["Id"]: position for position, (_, entry) in enumerate(batch)}
        pending: dict[str, tuple[Transaction, dict[str, Any]]] = {entry["Id"]: (txn, entry) for txn, entry in batch}
        accepted: dict[str, int] = {}  # entry id -> attempt that got it in
        failures: list[str] = []
        try:
            for attempt in range(ENTRY_RETRIES + 1):
                self.limiter.acquire(len(pending))
                response = self.sqs.send_message_batch(QueueUrl=self.url, Entries=[e for _, e in pending.values()])
                with self._lock:
                    result.api_calls += 1
                for ok in response.get("Successful", []):
                    if pending.pop(ok["Id"], None) is not None:
                        accepted[ok["Id"]] = attempt
                for bad in response.get("Failed", []):
                    if bad["Id"] not in pending:
                        continue
                    if bad.get("SenderFault") or attempt == ENTRY_RETRIES:
                        txn, _ = pending.pop(bad["Id"])
                        failures.append(f"{txn.transaction_id}: {bad.get('Code', 'error')}: {bad.get('Message', '')}")
                # What is left (retryable failures, entries the answer did not mention) goes again, in order.
                pending = dict(sorted(pending.items(), key=lambda item: order[item[0]]))
                if not pending:
                    break
                if attempt < ENTRY_RETRIES:
                    time.sleep(self.retry_delay * 2**attempt)
            else:
                for txn, _ in pending.values():
                    failures.append(f"{txn.transaction_id}: not acknowledged by SQS")
                pending = {}
        finally:
            # On an exception, `pending` holds the entries of the call that raised: not confirmed.
            reordered = self._reordered(batch, accepted) if self.fifo else []
            sent_ids = [txn.transaction_id for txn, entry in batch if entry["Id"] in accepted]
            with self._lock:
                result.sent += len(sent_ids)
                if self.keep_ids:
                    result.transaction_ids.extend(sent_ids)
                result.failed += len(failures) + len(pending)
                for line in failures:
                    result.add_error(line)
                result.reordered += len(reordered)
                for txn_id in reordered[: max(0, MAX_KEPT_ERRORS - len(result.warnings))]:
                    result.warnings.append(
                        f"{txn_id}: re-sent after a later transaction of its account was accepted: "
                        "it is out of order in the FIFO queue"
                    )

    @staticmethod
    def _reordered(batch: Batch, accepted: dict[str, int]) -> list[str]:
        """Transactions accepted on a later attempt than a transaction after them of the same account."""
        out: list[str] = []
        for position, (txn, entry) in enumerate(batch):
            attempt = accepted.get(entry["Id"])
            if not attempt:
                continue
            for later, later_entry in batch[position + 1 :]:
                later_attempt = accepted.get(later_entry["Id"])
                if later.account_id == txn.account_id and later_attempt is not None and later_attempt < attempt:
                    out.append(txn.transaction_id)
                    break
        return out

    # --- the whole run -----------------------------------------------------------------------------

    def _route(self, transactions: Iterable[Transaction], lanes: int) -> Iterator[tuple[int, Batch]]:
        """(lane, batch) in input order. FIFO: one lane per thread, an account always in the same lane."""
        limits: dict[str, Any] = {"max_entries": self.max_entries, "max_message_size": self.max_message_size}
        if lanes == 1:
            for batch in batches(transactions, self.fifo, self.max_bytes, **limits):
                yield 0, batch
            return
        builders = [BatchBuilder(self.fifo, self.max_bytes, **limits) for _ in range(lanes)]
        for txn in transactions:
            lane = zlib.crc32(txn.account_id.encode()) % lanes
            full = builders[lane].add(txn)
            if full:
                yield lane, full
        for lane, builder in enumerate(builders):
            last = builder.flush()
            if last:
                yield lane, last

    def send(
        self,
        transactions: Iterable[Transaction],
        total: int,
        progress: Callable[[int], None] | None = None,
    ) -> SendResult:
        """Send everything; stops early on Ctrl-C (result.interrupted) or an error (result.stopped_by).

        A second Ctrl-C while the batches in hand finish raises KeyboardInterrupt."""
        result = SendResult(fifo=self.fifo, threads=self.threads)
        started = time.perf_counter()
        stop = threading.Event()
        errors: list[BaseException] = []
        lanes = self.threads if self.fifo else 1
        inboxes: list[queue.Queue[Batch | None]] = [queue.Queue(maxsize=2 * self.threads) for _ in range(lanes)]

        def work(inbox: queue.Queue[Batch | None]) -> None:
            while True:
                batch = inbox.get()
                if batch is None:
                    return
                if stop.is_set():
                    continue  # dropped: never sent
                try:
                    self._send_batch(batch, result)
                except BaseException as exc:  # reported by the main thread
                    with self._lock:
                        errors.append(exc)
                    stop.set()
                    continue
                if progress is not None:
                    with self._lock:
                        progress(len(batch))

        workers = [
            threading.Thread(target=work, args=(inboxes[i % lanes],), name=f"send-{i}", daemon=True)
            for i in range(self.threads)
        ]
        for worker in workers:
            worker.start()
        try:
            for lane, batch in self._route(transactions, lanes):
                if not self._put(inboxes[lane], batch, stop):
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            stop.set()
        except TxnalertError as exc:  # bad input found while streaming (a file that changed):
            result.stopped_by = exc  # nothing more is read; the batches already handed over still go
        except BaseException:
            stop.set()
            self._finish(inboxes, workers, stop, result)
            raise
        self._finish(inboxes, workers, stop, result)
        result.elapsed_s = time.perf_counter() - started
        result.not_sent = max(0, total - result.sent - result.failed)
        if errors and result.stopped_by is None:
            error = errors[0]
            translated = from_botocore(error) or (error if isinstance(error, TxnalertError) else None)
            if translated is None:
                raise error
            result.stopped_by = translated
        if result.stopped_by is not None:
            for line in result.stopped_by.lines():
                result.add_error(line)
        return result

    @staticmethod
    def _finish(
        inboxes: list[queue.Queue[Batch | None]],
        workers: list[threading.Thread],
        stop: threading.Event,
        result: SendResult,
    ) -> None:
        """Tell every thread to end, wait for the batches in hand. A first Ctrl-C here stops sending
        what is still queued (result.interrupted); a second one raises KeyboardInterrupt."""
        ends = [inboxes[i % len(inboxes)] for i in range(len(workers))]
        while True:
            try:
                while ends:
                    ends[0].put(None)
                    ends.pop(0)
                for worker in workers:
                    while worker.is_alive():
                        worker.join(timeout=0.1)  # wakes up for Ctrl-C
                return
            except KeyboardInterrupt:
                if result.interrupted:
                    raise
                result.interrupted = True
                stop.set()

    @staticmethod
    def _put(inbox: queue.Queue[Batch | None], batch: Batch, stop: threading.Event) -> bool:
        """Hand a batch to its thread (waits while the threads are busy); False once sending stopped."""
        while not stop.is_set():
            try:
                inbox.put(batch, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False
