"""Sending transactions to the queue: generated test transactions or a JSON Lines file.

SendMessageBatch with up to 10 entries and never more than the batch byte limit, several threads
sharing one client (its connection pool sized to match), entries a batch reports as failed re-sent,
an optional messages-per-second cap. Transactions are streamed: memory does not grow with --count (the
list of sent transaction ids, about 100 bytes a message, is kept only when asked for: `--json`).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import InputError, TxnalertError, UsageError, from_botocore
from .handler.contract import (
    CURRENCY_DECIMALS,
    InvalidTransaction,
    Transaction,
    message_attributes,
    parse_transaction,
)

MAX_BATCH_ENTRIES = 10
# SendMessageBatch's total payload limit. AWS raised it to 1 MiB in 2025; 256 KiB is what every
# endpoint (older emulators included) accepts, and ten transactions are a few KiB.
MAX_BATCH_BYTES = 262_144
ENTRY_RETRIES = 3
TYPES = ("deposit", "withdrawal", "mixed")
MAX_FILE_ERRORS = 20


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


def generate(options: GenerateOptions, seed: int | None = None) -> Iterator[Transaction]:
    """Generated test transactions with unique ids. The options are checked before the first one."""
    if options.count < 1:
        raise UsageError(f"--count must be at least 1, got {options.count}")
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

    def stream() -> Iterator[Transaction]:
        yield first
        for index in range(1, options.count):
            yield build_transaction(options, index, rng)

    return stream()


def read_file(path: str) -> tuple[int, Callable[[], Iterator[Transaction]]]:
    """Validate every line of a JSON Lines file first (nothing is sent if one is bad), then stream it.

    Returns (number of transactions, a function that streams them again)."""
    file = Path(path)
    errors: list[str] = []
    count = 0

    def lines() -> Iterator[tuple[int, str]]:
        try:
            with file.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        yield number, line
        except FileNotFoundError:
            raise InputError([f"{path}: file not found"]) from None
        except UnicodeDecodeError:
            raise InputError([f"{path}: is not UTF-8 text"]) from None
        except OSError as exc:
            raise InputError([f"{path}: cannot read: {exc.strerror}"]) from None

    total_errors = 0
    for number, line in lines():
        try:
            parse_transaction(json.loads(line))
            count += 1
        except ValueError as exc:  # InvalidTransaction and json's JSONDecodeError
            total_errors += 1
            if len(errors) < MAX_FILE_ERRORS:
                reason = (
                    "; ".join(exc.reasons) if isinstance(exc, InvalidTransaction) else f"not valid JSON ({exc.msg})"
                )  # type: ignore[attr-defined]
                errors.append(f"{path}: line {number}: {reason}")
    if total_errors > len(errors):
        errors.append(f"{path}: ... and {total_errors - len(errors)} more bad lines")
    if errors:
        raise InputError([*errors, f"{path}: nothing was sent"])
    if count == 0:
        raise InputError([f"{path}: no transactions in the file"])

    def stream() -> Iterator[Transaction]:
        for _, line in lines():
            yield parse_transaction(json.loads(line))

    return count, stream


class RateLimiter:
    """A token bucket shared by the sending threads: at most `rate` messages per second."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def acquire(self, n: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + n / self.rate
        delay = start - now
        if delay > 0:
            time.sleep(delay)


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


def batches(
    transactions: Iterable[Transaction], fifo: bool, max_bytes: int = MAX_BATCH_BYTES
) -> Iterator[list[tuple[Transaction, dict[str, Any]]]]:
    """Group transactions into batches of at most 10 entries and at most max_bytes."""
    batch: list[tuple[Transaction, dict[str, Any]]] = []
    size = 0
    for txn in transactions:
        entry = _entry(len(batch), txn, fifo)
        esize = entry_size(entry)
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + esize > max_bytes):
            yield batch
            batch, size = [], 0
            entry = _entry(0, txn, fifo)
        batch.append((txn, entry))
        size += esize
    if batch:
        yield batch


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    transaction_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    api_calls: int = 0

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "transaction_ids": self.transaction_ids,
            "elapsed_s": round(self.elapsed_s, 3),
        }


class Sender:
    """Sends batches on several threads that share one SQS client."""

    def __init__(
        self,
        sqs: Any,
        url: str,
        *,
        fifo: bool,
        threads: int = 4,
        rate: float | None = None,
        keep_ids: bool = True,
    ) -> None:
        self.sqs = sqs
        self.url = url
        self.fifo = fifo
        self.threads = threads
        self.limiter = RateLimiter(rate)
        self.keep_ids = keep_ids
        self._lock = threading.Lock()

    def _send_batch(self, batch: list[tuple[Transaction, dict[str, Any]]], result: SendResult) -> int:
        """Send one batch; re-send the entries SQS reports as failed (unless the sender is at fault)."""
        pending = {entry["Id"]: (txn, entry) for txn, entry in batch}
        self.limiter.acquire(len(pending))
        sent_ids: list[str] = []
        failures: list[str] = []
        for attempt in range(ENTRY_RETRIES + 1):
            response = self.sqs.send_message_batch(QueueUrl=self.url, Entries=[e for _, e in pending.values()])
            with self._lock:
                result.api_calls += 1
            for ok in response.get("Successful", []):
                txn, _ = pending.pop(ok["Id"])
                sent_ids.append(txn.transaction_id)
            retry: dict[str, tuple[Transaction, dict[str, Any]]] = {}
            for bad in response.get("Failed", []):
                txn, entry = pending.pop(bad["Id"])
                if bad.get("SenderFault") or attempt == ENTRY_RETRIES:
                    failures.append(f"{txn.transaction_id}: {bad.get('Code')}: {bad.get('Message', '')}")
                else:
                    retry[bad["Id"]] = (txn, entry)
            pending.update(retry)
            if not pending:
                break
            time.sleep(0.05 * 2**attempt)
        with self._lock:
            result.sent += len(sent_ids)
            if self.keep_ids:
                result.transaction_ids.extend(sent_ids)
            result.failed += len(failures)
            result.errors.extend(failures)
        return len(batch)

    def send(
        self,
        transactions: Iterable[Transaction],
        total: int,
        progress: Callable[[int], None] | None = None,
    ) -> SendResult:
        result = SendResult()
        started = time.perf_counter()
        in_flight: set[Future[int]] = set()
        submitted = 0
        error: BaseException | None = None
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="send") as pool:
            try:
                for batch in batches(transactions, self.fifo):
                    while len(in_flight) >= self.threads * 2:
                        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        error = error or self._collect(done, progress)
                    if error:
                        break
                    in_flight.add(pool.submit(self._send_batch, batch, result))
                    submitted += len(batch)
            except KeyboardInterrupt:
                error = TxnalertError("interrupted: stopped sending after the batches in hand")
            done, _ = wait(in_flight)
            error = error or self._collect(done, progress)
        result.elapsed_s = time.perf_counter() - started
        accounted = result.sent + result.failed
        if accounted < total:
            result.failed += total - accounted
        if error is not None:
            translated = from_botocore(error) or (error if isinstance(error, TxnalertError) else None)
            if translated is None:
                raise error
            result.errors.append(translated.message)
        return result

    @staticmethod
    def _collect(done: set[Future[int]], progress: Callable[[int], None] | None) -> BaseException | None:
        error: BaseException | None = None
        for future in done:
            exc = future.exception()
            if exc is not None:
                error = error or exc
            elif progress is not None:
                progress(future.result())
        return error
