"""Renderers: a command's result for people (rich table or text lines) or as JSON, through `Output`.

The renderers still in the command modules move here as those modules settle (see README, layout)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..logs import LogEvent
    from ..output import Output

# Powertools' own fields: the event line shows the message and the handler's fields, not these.
_LOG_NOISE = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "correlation_id",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
        "sampling_rate",
    }
)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _details(record: dict[str, Any]) -> str:
    parts = []
    for key, value in record.items():
        if key in _LOG_NOISE or value is None:
            continue
        parts.append(f"{key}={value if isinstance(value, str) else json.dumps(value)}")
    return " ".join(parts)


def log_line(event: LogEvent) -> str:
    """One event, one line: time, level, transaction id, message, the handler's other fields."""
    record = event.record or {}
    return (
        f"{_when(event.timestamp)}  {event.level or '-':<7}  {event.transaction_id or '-':<38}  "
        f"{record.get('message', event.message)}  {_details(record)}".rstrip()
    )


def log_events(out: Output, events: Iterable[LogEvent]) -> int:
    """`txnalert logs`: each event as a line (people), one JSON object per line as it comes (--json-lines), or,
    with --json, one document `{"events": [...]}` once they are all read. Returns how many there were."""
    count = 0
    collected: list[dict[str, Any]] = []
    for event in events:
        count += 1
        if out.json_lines:
            out.json(event.as_dict())
        elif out.json_mode:
            collected.append(event.as_dict())
        else:
            out.line(log_line(event))
    if out.json_mode and not out.json_lines:
        out.json({"events": collected})
    return count
