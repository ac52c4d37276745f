"""The transactions send-test sends: generated test transactions, or a JSON Lines file's (checked first), and
how they are grouped into SendMessageBatch batches.

Both stream: memory does not grow with --count or the file's size. A transaction's SQS entry (its body and
message attributes, its account as the FIFO message group) is `transaction_entry`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import InputError, UsageError, reading
from ..handler.contract import (
    CURRENCY_DECIMALS,
    InvalidTransaction,
    Transaction,
    message_attributes,
    parse_body,
    parse_transaction,
)
from . import sqs as engine
from .sqs import MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, Batcher, entry_size

TYPES = ("deposit", "withdrawal", "mixed")
MAX_FILE_ERRORS = 20
MAX_COUNT = 1_000_000

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
    return entry_size(transaction_entry(0, txn, fifo=False))


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
        with reading(path), file.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line

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


def transaction_entry(index: int, txn: Transaction, fifo: bool) -> engine.Entry:
    """A transaction's entry; FIFO: its account is the message group, its id the deduplication id."""
    return engine.entry(
        str(index),
        txn.to_body(),
        message_attributes(txn),
        group_id=txn.account_id if fifo else None,
        deduplication_id=txn.transaction_id,
    )


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
        self.max_message_size = max_message_size
        self._batcher: Batcher[tuple[Transaction, engine.Entry]] = Batcher(max_entries, max_bytes)
        self.max_entries = self._batcher.max_entries

    def add(self, txn: Transaction) -> Batch | None:
        entry = transaction_entry(0, txn, self.fifo)
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
        full = self._batcher.add((txn, entry), esize)
        entry["Id"] = str(len(self._batcher) - 1)  # its position in its batch
        return full

    def flush(self) -> Batch | None:
        return self._batcher.flush()


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
