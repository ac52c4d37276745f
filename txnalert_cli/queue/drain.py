"""Taking messages off a queue without losing any: drain to an archive; purge.

The one rule: a message is deleted from its queue only after it is durably written somewhere else.
`drain` writes each batch's messages as JSON lines to an append-only archive (`archive.Archive`), flushes and
fsyncs it, and only then deletes exactly those messages with DeleteMessageBatch. Killed at any moment (SIGKILL
included) every message is on the queue (visible, or in flight until its visibility timeout ends) or
in the archive, possibly both (at-least-once), never in neither.

The receive/handle/delete loop (`consumer.Consumer`) is shared with the manual redrive path, whose "somewhere
else" is the main queue (a successful SendMessageBatch instead of an fsync).

`drain --match` holds the messages that do not match in flight until the end of its scan, then makes
them all visible again: each is received once per drain (its receive count goes up by one), and a
drain killed before it released them leaves them in flight only until their visibility timeout ends.

Entry points: `drain_queue` (`txnalert drain`) and `purge_queue` (`txnalert purge`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import INTERRUPTED, TxnalertError, UsageError, error_code
from .archive import Archive, archive_record, check_archive_path, default_archive_path
from .consumer import (
    DEFAULT_THREADS,
    MAX_HELD,
    MAX_IDLE_RECEIVES,
    MAX_THREADS,
    VISIBILITY_TIMEOUT,
    Consumer,
    ConsumeResult,
    Outcome,
    left_in_flight,
)
from .entry import SILENT, Ask, Connect, Notes, Progress, check_range, no_progress
from .inspect import MoveCheck, QueueStats, check_move, queue_of, queue_stats, settle_delays
from .sqs import Message

# --- drain ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrainOptions:
    """`txnalert drain`'s flags, checked when made (before the config is read)."""

    dlq: bool = False
    to: str | None = None  # the archive; None: ./drained-<queue>-<UTC time>.jsonl
    no_archive: bool = False
    yes: bool = False
    limit: int | None = None  # --max
    match: str | None = None
    threads: int = DEFAULT_THREADS

    def __post_init__(self) -> None:
        check_range("--max", self.limit, 1)
        check_range("--threads", self.threads, 1, MAX_THREADS)
        if self.match is not None and not self.match:
            raise UsageError("--match must not be empty")
        if self.no_archive and self.to is not None:
            raise UsageError("--no-archive cannot be combined with --to")
        if self.no_archive and not self.yes:
            raise UsageError("--no-archive deletes messages without keeping a copy: add --yes to confirm")

    @property
    def connections(self) -> int:
        """--match: the threads that extend the holds (as many as the scan's) need connections too."""
        return (2 * self.threads if self.match is not None else self.threads) + 2


@dataclass
class DrainResult:
    queue: str
    archive: Path | None  # None with --no-archive, or when nothing was drained into a file drain created
    consumed: ConsumeResult
    check: MoveCheck | None = None  # the queue's counts re-read afterwards (None after an error or Ctrl-C)
    stats: QueueStats | None = None  # the queue as read before the drain
    removed: Path | None = None  # the archive file drain created, removed because nothing was drained into it
    limit: int | None = None  # --max

    @property
    def error(self) -> TxnalertError | None:
        """The error that stopped the drain (the result is reported first, then the error)."""
        return self.consumed.error

    @property
    def early_stop(self) -> str | None:
        return early_stop(self, self.stats) if self.stats is not None else None

    @property
    def exit_code(self) -> int:
        consumed = self.consumed
        if consumed.error is not None:
            return consumed.error.exit_code
        if consumed.interrupted:
            return INTERRUPTED
        mismatch = self.check is not None and bool(self.check.problems)
        return 1 if self.early_stop is not None or consumed.delete_failed or mismatch else 0

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


def early_stop(result: DrainResult, stats: QueueStats) -> str | None:
    """Why the drain stopped with messages it should have drained perhaps left behind; None if it did not.

    Stopping at --max is a success; an error or Ctrl-C is reported on its own."""
    stopped = result.consumed.stopped
    if stopped == "idle":
        return (
            f"drain stopped early: {stats.name} still reports visible messages, but {MAX_IDLE_RECEIVES} receives "
            "in a row brought none to drain (on a FIFO queue: messages behind one in flight in the same group, "
            "such as one the function is processing or one --match skipped); they are still on the queue"
        )
    if stopped.startswith("hold-lapsed:"):
        mrc = stats.max_receive_count
        dlq_after = f" ({stats.name} moves messages to its DLQ after {mrc} receives)" if mrc else ""
        return (
            "drain stopped early: a message that does not match --match came back after its hold lapsed (the scan "
            f"outran the extensions of its visibility timeout) and has now been received {stopped.split(':', 1)[1]} "
            f"times{dlq_after}; matching messages may be left on the queue"
        )
    if stopped.startswith("held:"):
        return (
            f"drain stopped early: it held {stopped.split(':', 1)[1]} messages that do not match --match, the most "
            "one scan holds; they are visible again, and matching messages may be left behind them: drain without "
            "--match to an archive, then replay what should go back"
        )
    return None


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
    With `before` (the queue as read before), the counts are re-read afterwards (`inspect.check_move`)."""

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
        result.check = check_move(
            sqs, source=before, left_in_flight=left_in_flight(consumed), what="drain", delays=settle
        )
    return result


def drain_queue(
    connect: Connect,
    config: Config,
    options: DrainOptions,
    *,
    progress: Progress = no_progress,
    notes: Notes = SILENT,
) -> DrainResult:
    """`txnalert drain`: archive, then delete, the messages of the config's queue (or its DLQ).

    The archive path is checked before the first AWS call; an archive file this drain created and wrote nothing
    to is removed (`removed`). The result carries the error that stopped the drain, if one did (`error`)."""
    role, name = queue_of(config, options.dlq)
    path = Path(options.to) if options.to else default_archive_path(name)
    flag = "--to" if options.to else "archive"
    if not options.no_archive:
        check_archive_path(path, flag)  # before any AWS call, let alone a receive
    aws = connect(max_pool_connections=options.connections)
    sqs = aws.client("sqs")
    stats = queue_stats(sqs, role, name, where=aws.describe_endpoint())
    archive = None
    if options.no_archive:
        notes.warn(f"--no-archive: messages drained from {name} are deleted without a copy")
    else:
        archive = Archive.open(path, flag)
        notes.info(f"archiving to {path}")
    total = stats.visible if options.limit is None else min(options.limit, stats.visible)
    removed = None
    try:
        with progress(total, f"draining {name}") as advance:
            result = drain(
                sqs,
                stats.url,
                name,
                archive,
                limit=options.limit,
                match=options.match,
                threads=options.threads,
                max_receive_count=stats.max_receive_count,
                progress=advance,
                before=stats,
                settle=settle_delays(aws),
            )
    finally:
        if archive is not None and archive.remove_if_unused():
            removed = archive.path
    if removed is not None:
        result.archive = None
    result.stats, result.removed, result.limit = stats, removed, options.limit
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


@dataclass(frozen=True)
class PurgeOptions:
    dlq: bool = False
    yes: bool = False


@dataclass
class PurgeResult:
    queue: str
    purged: int  # messages the queue held (0: it was empty, and PurgeQueue was not called)
    exit_code: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "purged": self.purged}


def purge_queue(connect: Connect, config: Config, options: PurgeOptions, *, ask: Ask) -> PurgeResult:
    """`txnalert purge`: delete every message of the queue (or its DLQ) for good, after `ask` confirms.

    An empty queue is left alone (PurgeQueue would lock the queue's purges for 60 seconds)."""
    role, name = queue_of(config, options.dlq)
    if not options.yes and not ask.can_ask():  # before any call
        raise UsageError(
            f"purge deletes every message of {name} for good: pass --yes to confirm (no terminal to ask on)"
        )
    aws = connect()
    sqs = aws.client("sqs")
    stats = queue_stats(sqs, role, name, where=aws.describe_endpoint())
    count = stats.visible + stats.in_flight + stats.delayed
    if count == 0:
        return PurgeResult(name, 0)
    ask.confirm(
        yes=options.yes,
        what=f"purge would delete the {count} messages of {name}",
        question=(
            f"Purge {name} in {ask.where()}: delete its {count} messages ({stats.visible} visible, "
            f"{stats.in_flight} in flight, {stats.delayed} delayed) for good? `txnalert drain` keeps a copy"
        ),
        declined="nothing was purged",
    )
    purge(sqs, stats.url, name)
    return PurgeResult(name, count)
