"""Replay: send the messages of a drain archive back to a queue. Entry point: `run` (`txnalert replay`).

Every line of the archive is checked before anything is sent (`archive.read_archive`); a message id that
appears more than once is sent once. Each message keeps its body and message attributes, and on a FIFO queue
its group id, with a fresh deduplication id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..errors import Interrupted, TxnalertError, from_botocore
from . import sqs as engine
from .archive import ArchivedMessage, ArchiveSummary, read_archive
from .entry import SILENT, Connect, Notes, Progress, check_range, no_progress
from .inspect import MoveCheck, QueueStats, check_move, queue_of, queue_stats, settle_delays
from .sqs import MAX_BATCH_ENTRIES, RateLimiter

MIN_RATE = 0.1


@dataclass(frozen=True)
class ReplayOptions:
    """`txnalert replay`'s argument and flags, checked when made (before the config is read)."""

    archive: str
    dlq: bool = False  # send to the DLQ instead
    rate: float | None = None  # messages per second
    dry_run: bool = False
    skip_invalid: bool = False

    def __post_init__(self) -> None:
        check_range("--rate", self.rate, MIN_RATE)


@dataclass
class ReplayResult:
    queue: str
    sent: int = 0
    duplicates: int = 0
    failed: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    skipped_invalid: int = 0  # --skip-invalid: archive lines skipped
    skipped_invalid_lines: list[int] = field(default_factory=list)  # ... their numbers, the first 20
    check: MoveCheck | None = None  # the queue's counts re-read afterwards
    dry_run: bool = False
    would_send: int = 0  # --dry-run: the messages a replay would send
    archive: ArchiveSummary | None = None  # the archive as checked

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or (self.check is not None and self.check.problems) else 0

    def as_dict(self) -> dict[str, Any]:
        skipped = {"skipped_invalid": self.skipped_invalid, "skipped_invalid_lines": self.skipped_invalid_lines}
        if self.dry_run:
            return {
                "sent": 0,
                "would_send": self.would_send,
                "duplicates": self.duplicates,
                "queue": self.queue,
                "dry_run": True,
                **skipped,
            }
        return {
            "sent": self.sent,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "queue": self.queue,
            "elapsed_s": round(self.elapsed_s, 3),
            **skipped,
            **(self.check.as_dict() if self.check else {}),
        }


def replay(
    sqs: Any,
    url: str,
    queue: str,
    messages: Iterable[ArchivedMessage],
    *,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
    before: QueueStats | None = None,
    settle: Sequence[float] = (),
) -> ReplayResult:
    """Send archived messages with SendMessageBatch; each message id at most once per run.

    Memory: the ids already sent are kept for the run, one per archive line (about 130 bytes each:
    some 130 MB for a million-line archive); the messages themselves are streamed. With `before` (the
    queue as read before), its counts are re-read afterwards: it must have grown by the number sent."""
    result = ReplayResult(queue=queue)
    limiter = RateLimiter(rate)
    seen: set[str] = set()
    started = time.perf_counter()
    batch: list[ArchivedMessage] = []

    def flush() -> None:
        entries = [engine.entry(str(i), m.body, m.attributes, group_id=m.group_id) for i, m in enumerate(batch)]
        sent = engine.send_entries(sqs, url, entries, before_call=limiter.acquire)
        result.sent += len(sent.accepted)
        result.failed.extend(f"{batch[int(i)].message_id}: {error}" for i, error in sent.failed.items())
        result.failed.extend(f"{batch[int(i)].message_id}: {engine.NOT_ACKNOWLEDGED}" for i in sent.unacknowledged)
        if progress is not None:
            progress(len(batch))
        batch.clear()

    try:
        for message in messages:
            if message.message_id in seen:
                result.duplicates += 1
                continue
            seen.add(message.message_id)
            batch.append(message)
            if len(batch) == MAX_BATCH_ENTRIES:
                flush()
        if batch:
            flush()
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted after sending {result.sent} messages: replaying the archive again sends them again"
        ) from None
    except Exception as exc:
        translated = from_botocore(exc)
        if translated is None:
            raise
        raise TxnalertError(
            f"{translated.message}; {result.sent} messages were sent before this failure "
            "(replaying the archive again sends them again)",
            exit_code=translated.exit_code,
        ) from None
    result.elapsed_s = time.perf_counter() - started
    if before is not None:
        result.check = check_move(sqs, destination=before, moved=result.sent, what="replay", delays=settle)
    return result


def run(
    connect: Connect,
    config: Config,
    options: ReplayOptions,
    *,
    progress: Progress = no_progress,
    notes: Notes = SILENT,
) -> ReplayResult:
    """`txnalert replay`: every line of the archive checked (before any AWS call), then sent to the config's
    queue (or its DLQ); with `dry_run`, what would be sent."""
    role, name = queue_of(config, options.dlq)
    summary = read_archive(options.archive, fifo=config.queue.fifo, queue=name, skip_invalid=options.skip_invalid)
    for number, reason in summary.skipped:
        notes.warn(f"{summary.path}: line {number} skipped: {reason}")
    aws = connect()
    sqs = aws.client("sqs")
    stats = queue_stats(sqs, role, name, where=aws.describe_endpoint())
    if options.dry_run:
        result = ReplayResult(queue=name, duplicates=summary.duplicates, dry_run=True, would_send=summary.unique)
    else:
        with progress(summary.unique, f"replaying to {name}") as advance:
            result = replay(
                sqs,
                stats.url,
                name,
                summary.stream(),
                rate=options.rate,
                progress=advance,
                before=stats,
                settle=settle_delays(aws),
            )
    result.skipped_invalid, result.skipped_invalid_lines = summary.skipped_count, summary.skipped_lines
    result.archive = summary
    return result
