"""Sending transactions to the queue: generated test transactions or a JSON Lines file (`transactions`).

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

The SQS calls themselves (SendMessageBatch, the re-sends) are the batch engine's (`sqs.send_batch`). Entry
point: `send_test` (`txnalert send-test`).
"""

from __future__ import annotations

import queue
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import Config
from ..errors import INTERRUPTED, TxnalertError, UsageError, from_botocore
from ..handler.contract import Transaction
from . import sqs as engine
from .entry import Connect, Progress, no_progress
from .inspect import queue_url
from .sqs import ENTRY_RETRIES, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, RateLimiter
from .transactions import Batch, BatchBuilder, GenerateOptions, batches, generate, read_file

# Error lines kept in a SendResult (one per failed entry); beyond this only the count grows.
MAX_KEPT_ERRORS = 100


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
    queue: str = ""  # the queue's name

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.not_sent or self.interrupted or self.stopped_by)

    @property
    def exit_code(self) -> int:
        """0 when everything was sent; 130 after Ctrl-C; the stopping error's code; else 1."""
        if self.interrupted:
            return INTERRUPTED
        if self.stopped_by is not None:
            return self.stopped_by.exit_code
        return 0 if self.ok else 1

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
        outcome = engine.SendOutcome()
        try:
            engine.send_batch(
                self.sqs,
                self.url,
                [entry for _, entry in batch],
                retries=ENTRY_RETRIES,
                retry_delay=self.retry_delay,
                before_call=self.limiter.acquire,
                outcome=outcome,
            )
        finally:
            self._account(batch, outcome, result)

    def _account(self, batch: Batch, outcome: engine.SendOutcome, result: SendResult) -> None:
        """Add what SQS did with a batch to the result (from any thread)."""
        txn_of = {entry["Id"]: txn.transaction_id for txn, entry in batch}
        failures = [f"{txn_of[i]}: {error}" for i, error in outcome.failed.items()]
        failures += [f"{txn_of[i]}: {engine.NOT_ACKNOWLEDGED} by SQS" for i in outcome.unacknowledged]
        reordered = self._reordered(batch, outcome.accepted) if self.fifo else []
        sent_ids = [txn.transaction_id for txn, entry in batch if entry["Id"] in outcome.accepted]
        with self._lock:
            result.api_calls += outcome.calls
            result.sent += len(sent_ids)
            if self.keep_ids:
                result.transaction_ids.extend(sent_ids)
            # The entries of a call that raised are not confirmed: failed, without a line (the error says why).
            result.failed += len(failures) + len(outcome.unconfirmed)
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


# --- send-test ---------------------------------------------------------------------------------------


class SenderFactory(Protocol):
    """Makes the Sender `send_test` uses (`Sender` itself; tests pass their own)."""

    def __call__(
        self,
        sqs: Any,
        url: str,
        *,
        fifo: bool,
        threads: int,
        rate: float | None,
        keep_ids: bool,
        max_message_size: int | None,
    ) -> Sender: ...


@dataclass(frozen=True)
class SendOptions:
    """`txnalert send-test`'s flags; None: not given (`send_test` applies the defaults)."""

    count: int | None = None  # [1]
    type: str | None = None  # [deposit]
    amount: str | None = None  # [random]
    currency: str | None = None  # [USD]
    email: str | None = None  # [send_test.recipient]
    account: str | None = None  # [random per transaction]
    from_file: str | None = None  # a JSON Lines file instead of generated transactions
    rate: float | None = None  # messages per second
    threads: int = 4
    keep_ids: bool = False  # keep the sent transaction ids for the result (--json)


def transactions_to_send(config: Config, options: SendOptions) -> tuple[int, Iterator[Transaction]]:
    """(how many, the stream): the file's transactions, every line checked first, or generated ones. A
    generation flag with --from-file is a usage error."""
    max_size = config.queue.max_message_size
    if options.from_file is None:
        generated = GenerateOptions(
            count=1 if options.count is None else options.count,
            type="deposit" if options.type is None else options.type,
            amount=options.amount,
            currency="USD" if options.currency is None else options.currency.upper(),
            email=options.email or config.send_test.recipient,
            account=options.account,
        )
        return generated.count, generate(generated, max_message_size=max_size)
    flags = {
        "--count": options.count,
        "--type": options.type,
        "--amount": options.amount,
        "--currency": options.currency,
        "--email": options.email,
        "--account": options.account,
    }
    given = [flag for flag, value in flags.items() if value is not None]
    if given:
        raise UsageError(f"--from-file cannot be combined with {', '.join(given)}")
    total, stream = read_file(options.from_file, max_message_size=max_size)
    return total, stream()


def send_test(
    connect: Connect,
    config: Config,
    options: SendOptions,
    *,
    progress: Progress = no_progress,
    sender: SenderFactory | None = None,
) -> SendResult:
    """`txnalert send-test`: send test (or a file's) transactions to the config's queue.

    Every input check comes before the first AWS call; each sending thread gets a connection of its own. The
    result's `exit_code`: 0 when everything was sent, 1 when a transaction failed or was not sent, 130 after
    Ctrl-C (the batches in hand finish), or the code of the error that stopped sending."""
    total, transactions = transactions_to_send(config, options)
    aws = connect(max_pool_connections=options.threads + 2)
    sqs = aws.client("sqs")
    url = queue_url(sqs, config.queue.name, where=aws.describe_endpoint())
    make = sender or Sender
    batch_sender = make(
        sqs,
        url,
        fifo=config.queue.fifo,
        threads=options.threads,
        rate=options.rate,
        keep_ids=options.keep_ids,
        max_message_size=config.queue.max_message_size,
    )
    with progress(total, "sending") as advance:
        result = batch_sender.send(transactions, total, progress=advance)
    result.queue = config.queue.name
    return result
