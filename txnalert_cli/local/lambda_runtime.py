"""Lambda's side of the SQS event source, as the local worker emulates it: the records of an event, exactly as
Lambda delivers them (`lambda_record`); the batch response contract, ReportBatchItemFailures
(`batch_failures`); and the stream the handler logs to (`LogSink`: echoed, and/or forwarded to CloudWatch Logs
as Lambda would).
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import TxnalertError


class LogSink(io.TextIOBase):
    """The handler's log stream: JSON lines, echoed to the terminal and/or forwarded to CloudWatch Logs.

    Counts and failure reasons come from the handler itself (`AlertHandler.emails_sent`, `.failures`),
    never from parsing its logs: they must not depend on the log level."""

    def __init__(self, echo: Callable[[str], None] | None = None, forward: Any = None) -> None:
        super().__init__()
        self.echo = echo
        self.forward = forward  # a logs.CloudWatchWriter: lines shipped to the function's log group
        self.lines: list[dict[str, Any]] = []
        self.keep_lines = False  # tests: keep the parsed lines
        self._lock = threading.Lock()
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._partial += text
            *complete, self._partial = self._partial.split("\n")
        for line in complete:
            if line.strip():
                self._take(line)
        return len(text)

    def ship(self) -> None:
        """Send the buffered lines on (called after each batch, not per line)."""
        if self.forward is not None:
            self.forward.flush()

    def _take(self, line: str) -> None:
        if self.echo is not None:
            self.echo(line)
        if self.forward is not None:
            self.forward.add(line)
        if self.keep_lines:
            try:
                record = json.loads(line)
            except ValueError:
                return
            if isinstance(record, dict):
                with self._lock:
                    self.lines.append(record)


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda's SQS event source delivers it (one element of `Records`)."""
    system = message.get("Attributes", {})
    attributes = {
        key: system[key]
        for key in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "SequenceNumber",
            "MessageGroupId",
            "MessageDeduplicationId",
            "AWSTraceHeader",
            "DeadLetterQueueSourceArn",
        )
        if key in system
    }
    message_attributes: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        entry: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            entry["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        message_attributes[name] = entry
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def batch_failures(response: Any, by_id: Mapping[str, str]) -> set[str]:
    """The batchItemFailures contract: an invalid response or unknown id fails the whole batch."""
    if response is None:
        return set()
    if not isinstance(response, Mapping):
        raise TxnalertError(f"handler returned {type(response).__name__}, not a batch response")
    items = response.get("batchItemFailures")
    if items is None:  # AWS: a missing or null list means the whole batch succeeded
        return set()
    if not isinstance(items, list):
        raise TxnalertError("batchItemFailures is not a list")
    failed: set[str] = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not identifier or identifier not in by_id:
            raise TxnalertError(f"batchItemFailures names an unknown record: {identifier!r}")
        failed.add(str(identifier))
    return failed
