"""The function's CloudWatch logs: writing them from the local worker, reading them for `txnalert logs`.

On AWS, Lambda writes the handler's JSON log lines to `/aws/lambda/<function>`. On the emulator no Lambda
runs, so the worker writes the same lines to the same log group, in streams named as Lambda names them
(`YYYY/MM/DD/[$LATEST]<id>`); `txnalert logs` then works identically on both.

moto ignores JSON filter patterns (`{ $.level = "ERROR" }` returns every event), so every filter is also
applied on the client: results are the same on AWS and on the emulator.

Events are masked as they are read (`contract.redact_value`): the handler logs no email address or account
number, but lines written before it masked them all may still be in the log group.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .errors import TxnalertError, UsageError, error_code
from .handler.contract import redact_text, redact_value

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
# PutLogEvents limits: 10,000 events and 1,048,576 bytes per call (each event counts 26 bytes extra).
MAX_EVENTS_PER_PUT = 10_000
MAX_BYTES_PER_PUT = 1_048_576
EVENT_OVERHEAD = 26
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_TXN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# --follow re-reads this far back on each poll: CloudWatch ingests late and out of order across streams
# (concurrent invocations); events already printed are skipped by their eventId.
FOLLOW_LOOKBACK_MS = 60_000
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Log record fields shown as they are: identifiers and Powertools' own fields, no one's personal data
# (correlation_id is the transaction id `--txn` matches).
UNMASKED_FIELDS = frozenset(
    {
        "correlation_id",
        "message_id",
        "ses_message_id",
        "function_request_id",
        "xray_trace_id",
        "timestamp",
        "level",
        "location",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "sampling_rate",
    }
)


class LogGroupMissing(TxnalertError):
    """No log group yet: nothing has been logged by the function or the worker."""


def log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def lambda_stream_name(now: float | None = None) -> str:
    day = datetime.fromtimestamp(now if now is not None else time.time(), timezone.utc)
    return f"{day:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


class CloudWatchWriter:
    """Buffers log lines and ships them with PutLogEvents when flushed (after every batch)."""

    def __init__(self, logs: Any, group: str, stream: str | None = None) -> None:
        self.logs = logs
        self.group = group
        self.stream = stream or lambda_stream_name()
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ready = False

    def add(self, line: str) -> None:
        with self._lock:
            self._buffer.append({"timestamp": int(time.time() * 1000), "message": line})

    def _ensure(self) -> None:
        if self._ready:
            return
        for call, kwargs in (
            (self.logs.create_log_group, {"logGroupName": self.group}),
            (self.logs.create_log_stream, {"logGroupName": self.group, "logStreamName": self.stream}),
        ):
            try:
                call(**kwargs)
            except Exception as exc:
                if error_code(exc) != "ResourceAlreadyExistsException":
                    raise
        self._ready = True

    def flush(self) -> None:
        with self._lock:
            events, self._buffer = self._buffer, []
        if not events:
            return
        self._ensure()
        events.sort(key=lambda e: e["timestamp"])
        chunk: list[dict[str, Any]] = []
        size = 0
        for event in events:
            event_size = len(event["message"].encode()) + EVENT_OVERHEAD
            if chunk and (len(chunk) >= MAX_EVENTS_PER_PUT or size + event_size > MAX_BYTES_PER_PUT):
                self.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=chunk)
                chunk, size = [], 0
            chunk.append(event)
            size += event_size
        if chunk:
            self.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=chunk)


def parse_since(text: str, now: float | None = None) -> int:
    """'10m', '2h', '1d', '30s' -> a start time in epoch milliseconds."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise UsageError(f"--since must be a duration such as 30s, 10m, 2h or 1d, got {text!r}")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    current = now if now is not None else time.time()
    if seconds > current:
        raise UsageError(f"--since {text} reaches back before 1970")
    return int((current - seconds) * 1000)


def check_transaction_id(txn: str | None) -> str | None:
    """--txn goes into a filter pattern: only the characters a transaction id may have (the contract's)."""
    if txn is not None and not _TXN_ID.match(txn):
        raise UsageError(f"--txn must be a transaction id (letters, digits, . _ : -; at most 128), got {txn!r}")
    return txn


def parse_level(text: str | None) -> int | None:
    if text is None:
        return None
    level = LEVELS.get(text.upper())
    if level is None:
        raise UsageError(f"--level must be one of {', '.join(LEVELS)}, got {text!r}")
    return level


@dataclass
class LogEvent:
    timestamp: int
    stream: str
    message: str
    record: dict[str, Any] | None

    @property
    def level(self) -> str:
        return str((self.record or {}).get("level", ""))

    @property
    def transaction_id(self) -> str:
        return str((self.record or {}).get("correlation_id") or "")

    def as_dict(self) -> dict[str, Any]:
        return self.record if self.record is not None else {"message": self.message, "timestamp": self.timestamp}


def _parse(message: str) -> dict[str, Any] | None:
    try:
        record = json.loads(message)
    except ValueError:
        return None
    return redact_value(record, keep=UNMASKED_FIELDS) if isinstance(record, dict) else None


def matches(event: LogEvent, *, txn: str | None, min_level: int | None) -> bool:
    if txn is not None and event.transaction_id != txn:
        return False
    return not (min_level is not None and LEVELS.get(event.level.upper(), 0) < min_level)


def filter_pattern(txn: str | None, min_level: int | None) -> str | None:
    """The server-side pattern (AWS applies it; moto ignores it, the client filter does the work)."""
    if txn is not None:
        return f'{{ $.correlation_id = "{txn}" }}'
    if min_level is not None:
        wanted = [name for name, value in LEVELS.items() if value >= min_level]
        return "{ " + " || ".join(f'$.level = "{name}"' for name in wanted) + " }"
    return None


def read_events(
    logs: Any,
    group: str,
    *,
    since_ms: int,
    txn: str | None = None,
    min_level: int | None = None,
    follow: bool = False,
    poll_seconds: float = 2.0,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[LogEvent]:
    """Log events oldest first (newest last); with follow, keep polling until stop() says so."""
    pattern = filter_pattern(txn, min_level)
    seen: dict[str, None] = {}
    start = since_ms
    while True:
        kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start, "interleaved": True}
        if pattern:
            kwargs["filterPattern"] = pattern
        batch: list[LogEvent] = []
        try:
            for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
                for raw in page.get("events", []):
                    event_id = (
                        raw.get("eventId") or f"{raw.get('logStreamName')}/{raw.get('timestamp')}/{raw.get('message')}"
                    )
                    if event_id in seen:
                        continue
                    seen[event_id] = None
                    message = raw.get("message", "").rstrip("\n")
                    record = _parse(message)
                    batch.append(
                        LogEvent(
                            int(raw.get("timestamp", 0)),
                            raw.get("logStreamName", ""),
                            json.dumps(record) if record is not None else redact_text(message),
                            record,
                        )
                    )
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise LogGroupMissing(
                    f"log group {group} does not exist yet: nothing has logged (deploy the function, "
                    "or run `txnalert worker` on the emulator)"
                ) from None
            raise
        batch.sort(key=lambda e: e.timestamp)
        for event in batch:
            start = max(start, event.timestamp - FOLLOW_LOOKBACK_MS)
            if matches(event, txn=txn, min_level=min_level):
                yield event
        if len(seen) > 100_000:  # bounded memory when following for a long time
            for key in list(seen)[:50_000]:
                del seen[key]
        if not follow or stop():
            return
        time.sleep(poll_seconds)
        if stop():
            return
