"""`txnalert drain`, `redrive`, `replay` and `purge`: queue operations that lose nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import Interrupted, UsageError
from ..output import Output, progress_bar
from .options import MAX_THREADS, Ctx, DlqOpt, DryRunOpt, ThreadsOpt, YesOpt, yes_option

if TYPE_CHECKING:
    from ..queue.drain import DrainResult
    from ..queue.inspect import MoveCheck, QueueStats
    from ..queue.redrive import ArchiveSummary, RedriveResult, ReplayResult

MAX_LISTED_FAILURES = 10


def _check_range(flag: str, value: float | None, lo: float, hi: float | None = None) -> None:
    if value is None:
        return
    shown = int(value) if float(value).is_integer() else value
    if hi is None and value < lo:
        raise UsageError(f"{flag} must be at least {lo}, got {shown}")
    if hi is not None and not lo <= value <= hi:
        raise UsageError(f"{flag} must be between {lo} and {hi}, got {shown}")


def _queue_name(ctx: Ctx, dlq: bool) -> tuple[str, str]:
    from ..queue.inspect import DLQ, MAIN  # lazy: keeps --help fast

    return (DLQ, ctx.config.queue.dlq.name) if dlq else (MAIN, ctx.config.queue.name)


def _list_failures(out: Output, failures: list[str], what: str) -> None:
    if not failures:
        return
    out.error(f"{len(failures)} {what}")
    for failure in failures[:MAX_LISTED_FAILURES]:
        out.error(f"  {failure}")
    if len(failures) > MAX_LISTED_FAILURES:
        out.error(f"  ... and {len(failures) - MAX_LISTED_FAILURES} more")


# --- what the counts say afterwards -------------------------------------------------------------------


def _render_counts(out: Output, check: MoveCheck | None, command: str) -> None:
    """One line: what is left on the source, and what is still in flight there; the destination's growth."""
    if check is None:
        return
    parts = []
    if check.source is not None:
        source = check.source
        left = source.visible + source.delayed
        if source.in_flight:
            again = f": run {command} again" if command else ""
            parts.append(
                f"{left} left, {source.in_flight} still in flight on {source.name} "
                f"(they come back after the visibility timeout){again}"
            )
        else:
            parts.append(f"{left} left, 0 in flight on {source.name}")
    if check.destination is not None:
        parts.append(f"{check.destination.name} grew by {check.grew}")
    out.line("; ".join(parts))


def _report_check(out: Output, check: MoveCheck | None) -> bool:
    """The check's findings on stderr; True when the counts do not add up (the command exits 1)."""
    if check is None:
        return False
    for line in check.unconfirmed:
        out.warn(line)
    for line in check.problems:
        out.error(f"the counts do not add up: {line}")
    return bool(check.problems)


# --- drain ------------------------------------------------------------------------------------------


def _render_drain(out: Output, result: DrainResult, removed: Path | None) -> None:
    c = result.consumed
    out.line(f"drained {c.deleted} messages from {result.queue} in {c.elapsed_s:.2f} s ({c.rate:.0f} msgs/s)")
    if result.archive:
        out.line(f"archive: {result.archive}")
    elif removed:
        out.line(f"archive: none (nothing was drained: the empty {removed} was removed)")
    else:
        out.line("archive: none (--no-archive)")
    _render_counts(out, result.check, "drain")


def _early_stop(result: DrainResult, stats: QueueStats) -> str | None:
    """Why the drain stopped with messages it should have drained perhaps left behind; None if it did not.

    Stopping at --max is a success; an error or Ctrl-C is reported on its own."""
    from ..queue.drain import MAX_IDLE_RECEIVES  # lazy: keeps --help fast

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


def _drain_notes(out: Output, result: DrainResult, stats: QueueStats, limit: int | None) -> None:
    from ..queue.drain import VISIBILITY_TIMEOUT  # lazy: keeps --help fast

    c = result.consumed
    if c.skipped:
        out.warn(
            f"{c.skipped} messages did not match --match: each was received once (its receive count went up by 1), "
            "held in flight until the scan ended, then made visible again"
        )
    mrc = stats.max_receive_count
    if c.near_limit and mrc:
        out.warn(
            f"{c.near_limit} of them have now been received {max(mrc - 1, 1)} times or more, and {stats.name} moves "
            f"a message to its DLQ after {mrc} receives: let the function process them before another --match drain"
        )
    if c.release_failed:
        out.warn(
            f"{c.release_failed} skipped messages could not be made visible again: they stay in flight until their "
            f"visibility timeout ends (at most {VISIBILITY_TIMEOUT} s), then are visible again; nothing is lost"
        )
    if c.stopped == "max":
        out.info(f"stopped at --max {limit}")
    _list_failures(
        out,
        c.delete_failed,
        "messages were archived but could not be deleted: they are in the archive AND still on the queue",
    )


def _run_drain(
    ctx: Ctx,
    *,
    dlq: bool,
    to: str | None,
    no_archive: bool,
    limit: int | None,
    match: str | None,
    threads: int,
) -> None:
    # lazy: keeps --help fast
    from ..queue.drain import Archive, check_archive_path, default_archive_path, drain
    from ..queue.inspect import queue_stats, settle_delays

    role, name = _queue_name(ctx, dlq)
    path = Path(to) if to else default_archive_path(name)
    flag = "--to" if to else "archive"
    if not no_archive:
        check_archive_path(path, flag)  # before any AWS call, let alone a receive
    # --match: the threads that extend the holds (as many as the scan's) need connections too.
    aws = ctx.target(max_pool_connections=(2 * threads if match is not None else threads) + 2)
    sqs = aws.client("sqs")
    stats = queue_stats(sqs, role, name, where=aws.describe_endpoint())
    archive = None
    if no_archive:
        ctx.out.warn(f"--no-archive: messages drained from {name} are deleted without a copy")
    else:
        archive = Archive.open(path, flag)
        ctx.out.info(f"archiving to {path}")
    total = stats.visible if limit is None else min(limit, stats.visible)
    removed = None
    try:
        with progress_bar(ctx.out, total, f"draining {name}") as advance:
            result = drain(
                sqs,
                stats.url,
                name,
                archive,
                limit=limit,
                match=match,
                threads=threads,
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
    ctx.out.emit(result.as_dict(), lambda o: _render_drain(o, result, removed))
    _drain_notes(ctx.out, result, stats, limit)
    consumed = result.consumed
    if consumed.error is not None:
        raise consumed.error
    if consumed.interrupted:
        raise Interrupted("interrupted: stopped after the batches in hand")
    early = _early_stop(result, stats)
    if early is not None:
        ctx.out.error(early)
    mismatch = _report_check(ctx.out, result.check)
    if early is not None or consumed.delete_failed or mismatch:
        raise typer.Exit(1)


# --- redrive ----------------------------------------------------------------------------------------


def _render_redrive(out: Output, result: RedriveResult, dlq: str, main: str) -> None:
    how = f"by {result.path} ({result.reason})"
    if result.dry_run:
        out.line(f"would move {result.would_move} messages from {dlq} to {main} {how}")
        out.line("dry run: nothing was moved")
        return
    if result.would_move == 0:
        out.line(f"{dlq} has no visible messages: nothing to move")
        return
    line = f"moved {result.moved} messages from {dlq} to {main} {how}"
    if result.consumed is not None:
        line += f" in {result.consumed.elapsed_s:.2f} s ({result.consumed.rate:.0f} msgs/s)"
    out.line(line)
    if result.task_handle:
        out.line(f"task handle: {result.task_handle} (status {result.status})")
    _render_counts(out, result.check, "redrive" if result.consumed is not None else "")


# --- replay -----------------------------------------------------------------------------------------


def _skipped_line(summary: ArchiveSummary) -> str:
    count = summary.skipped_count
    plural = "s" if count != 1 else ""
    numbers = ", ".join(str(n) for n in summary.skipped_lines)
    more = f" and {count - len(summary.skipped_lines)} more" if count > len(summary.skipped_lines) else ""
    return f"skipped {count} invalid line{plural} (--skip-invalid): line{plural} {numbers}{more}"


def _warn_skipped(out: Output, summary: ArchiveSummary) -> None:
    for number, reason in summary.skipped:
        out.warn(f"{summary.path}: line {number} skipped: {reason}")


def _render_replay(out: Output, result: ReplayResult, archive: ArchiveSummary) -> None:
    out.line(
        f"sent {result.sent} messages from {archive.path} to {result.queue} "
        f"in {result.elapsed_s:.2f} s ({result.rate:.0f} msgs/s)"
    )
    if result.duplicates:
        out.line(f"skipped {result.duplicates} repeated message ids (each message is sent once)")
    if archive.skipped_count:
        out.line(_skipped_line(archive))
    _render_counts(out, result.check, "")


def register(app: typer.Typer) -> None:
    @app.command("drain")
    def drain_command(
        dlq: DlqOpt = False,
        to: Annotated[
            str | None,
            typer.Option(
                "--to",
                metavar="PATH",
                help="Archive file; appended to if it exists [default: ./drained-<queue>-<UTC time>.jsonl].",
                show_default=False,
            ),
        ] = None,
        max_: Annotated[
            int | None, typer.Option("--max", metavar="N", help="Stop after N messages.", show_default=False)
        ] = None,
        match: Annotated[
            str | None,
            typer.Option(
                "--match",
                metavar="TEXT",
                help="Only messages whose body contains TEXT. The others are held in flight until the scan "
                "ends, then made visible again: each is received once (its receive count goes up by 1). One scan "
                "holds at most 10000 of them.",
                show_default=False,
            ),
        ] = None,
        no_archive: Annotated[
            bool, typer.Option("--no-archive", help="Delete without keeping a copy (needs --yes).")
        ] = False,
        yes: Annotated[bool, yes_option("Confirm --no-archive.")] = False,
        threads: ThreadsOpt = 4,
    ) -> None:
        """Archive, then delete, the messages of a queue. Example: txnalert drain --dlq --to dead.jsonl

        Messages are received in batches of 10 on several threads. Each batch is appended to the archive
        as JSON lines, flushed and fsynced, and only then deleted. Killed at any moment, every message is
        in the archive or still on the queue (possibly both). Ctrl-C stops after the batches in hand.
        `txnalert replay ARCHIVE` sends an archive's messages back. An archive file that drain created and
        wrote nothing to is removed. Afterwards the queue's counts are re-read, and what is left and still
        in flight is reported. Exit status 1 when it stopped early with messages left behind (stopping at
        --max is a success), or when messages it deleted are still in flight on the queue.
        """
        _check_range("--max", max_, 1)
        _check_range("--threads", threads, 1, MAX_THREADS)
        if match is not None and not match:
            raise UsageError("--match must not be empty")
        if no_archive and to is not None:
            raise UsageError("--no-archive cannot be combined with --to")
        if no_archive and not yes:
            raise UsageError("--no-archive deletes messages without keeping a copy: add --yes to confirm")
        ctx = Ctx.load()
        _run_drain(ctx, dlq=dlq, to=to, no_archive=no_archive, limit=max_, match=match, threads=threads)

    @app.command("redrive")
    def redrive_command(
        max_: Annotated[
            int | None,
            typer.Option(
                "--max", metavar="N", help="Move at most N messages (moves them in batches).", show_default=False
            ),
        ] = None,
        rate: Annotated[
            int | None,
            typer.Option("--rate", metavar="N", help="At most N messages per second (1-500).", show_default=False),
        ] = None,
        dry_run: DryRunOpt = False,
        threads: ThreadsOpt = 4,
    ) -> None:
        """Move the DLQ's messages back to the main queue. Example: txnalert redrive --rate 50

        Uses an SQS message move task where the endpoint has them (the emulator does not), otherwise
        moves messages itself: each is sent to the main queue first and deleted from the DLQ only once
        sent, keeping its body, attributes and FIFO group id (with a fresh deduplication id). Afterwards
        both queues' counts are re-read: exit 1 when the main queue did not grow by the number moved, or
        when messages the redrive deleted are still in flight on the DLQ.
        """
        # lazy: keeps --help fast
        from ..queue.inspect import DLQ, MAIN, queue_stats, settle_delays
        from ..queue.redrive import RATE_MAX, RATE_MIN, redrive, single_attempt_client

        _check_range("--max", max_, 1)
        _check_range("--rate", rate, RATE_MIN, RATE_MAX)
        _check_range("--threads", threads, 1, MAX_THREADS)
        ctx = Ctx.load()
        aws = ctx.target(max_pool_connections=threads + 2)
        sqs = aws.client("sqs")
        where = aws.describe_endpoint()
        main = queue_stats(sqs, MAIN, ctx.config.queue.name, where=where)
        dead = queue_stats(sqs, DLQ, ctx.config.queue.dlq.name, where=where)
        total = dead.visible if max_ is None else min(max_, dead.visible)
        with progress_bar(ctx.out, 0 if dry_run else total, f"moving {dead.name}") as advance:
            result = redrive(
                sqs,
                single_attempt_client(aws),
                main=main,
                dlq=dead,
                limit=max_,
                rate=rate,
                dry_run=dry_run,
                threads=threads,
                progress=advance,
                notify=ctx.out.info,
                settle=settle_delays(aws),
            )
        ctx.out.emit(result.as_dict(), lambda o: _render_redrive(o, result, dead.name, main.name))
        consumed = result.consumed
        if consumed is None:
            if _report_check(ctx.out, result.check):
                raise typer.Exit(1)
            return
        _list_failures(ctx.out, consumed.errors, "messages were not moved and are still on the DLQ")
        _list_failures(ctx.out, consumed.delete_failed, "messages were sent but not deleted: they are on both queues")
        if consumed.error is not None:
            raise consumed.error
        if consumed.interrupted:
            raise Interrupted("interrupted: stopped after the batches in hand")
        mismatch = _report_check(ctx.out, result.check)
        if consumed.errors or consumed.delete_failed or mismatch:
            raise typer.Exit(1)

    @app.command("replay")
    def replay_command(
        archive: Annotated[str, typer.Argument(metavar="ARCHIVE", help="An archive written by `txnalert drain`.")],
        dlq: Annotated[bool, typer.Option("--dlq", help="Send to the dead-letter queue instead.")] = False,
        rate: Annotated[
            float | None,
            typer.Option("--rate", metavar="N", help="At most N messages per second.", show_default=False),
        ] = None,
        dry_run: DryRunOpt = False,
        skip_invalid: Annotated[
            bool,
            typer.Option(
                "--skip-invalid",
                help="Skip torn and invalid lines (each is named) and send the others. A torn line (a drain "
                "killed mid-write) loses nothing: its messages were never deleted from the queue.",
            ),
        ] = False,
    ) -> None:
        """Send the messages of a drain archive back to the queue. Example: txnalert replay dead.jsonl

        Every line is checked before anything is sent. A message id that appears more than once (a
        drain killed between fsync and delete drains it again) is sent once: replay keeps the ids it has
        sent in memory, one per archive line (about 130 bytes each). FIFO messages keep their group id
        and get a fresh deduplication id. Afterwards the queue's counts are re-read: exit 1 when it did
        not grow by the number sent.
        """
        # lazy: keeps --help fast
        from ..queue.inspect import queue_stats, settle_delays
        from ..queue.redrive import read_archive, replay

        _check_range("--rate", rate, 0.1)
        ctx = Ctx.load()
        role, name = _queue_name(ctx, dlq)
        summary = read_archive(archive, fifo=ctx.config.queue.fifo, queue=name, skip_invalid=skip_invalid)
        _warn_skipped(ctx.out, summary)
        aws = ctx.target()
        sqs = aws.client("sqs")
        stats = queue_stats(sqs, role, name, where=aws.describe_endpoint())
        unique = summary.messages - summary.duplicates
        skipped = {"skipped_invalid": summary.skipped_count, "skipped_invalid_lines": summary.skipped_lines}
        if dry_run:
            ctx.out.emit(
                {
                    "sent": 0,
                    "would_send": unique,
                    "duplicates": summary.duplicates,
                    "queue": name,
                    "dry_run": True,
                    **skipped,
                },
                lambda o: o.line(
                    f"would send {unique} messages from {archive} to {name} "
                    f"({summary.duplicates} repeated message ids skipped); dry run: nothing was sent"
                    + (f"\n{_skipped_line(summary)}" if summary.skipped_count else "")
                ),
            )
            return
        with progress_bar(ctx.out, unique, f"replaying to {name}") as advance:
            result = replay(
                sqs,
                stats.url,
                name,
                summary.stream(),
                rate=rate,
                progress=advance,
                before=stats,
                settle=settle_delays(aws),
            )
        result.skipped_invalid, result.skipped_invalid_lines = summary.skipped_count, summary.skipped_lines
        ctx.out.emit(result.as_dict(), lambda o: _render_replay(o, result, summary))
        _list_failures(ctx.out, result.failed, "messages could not be sent")
        mismatch = _report_check(ctx.out, result.check)
        if result.failed or mismatch:
            raise typer.Exit(1)

    @app.command("purge")
    def purge_command(
        dlq: DlqOpt = False,
        yes: YesOpt = False,
    ) -> None:
        """Delete every message of the queue, for good, after confirmation. Example: txnalert purge --dlq --yes

        Nothing is kept: `txnalert drain` keeps a copy. Without a terminal to ask on, --yes is required.
        An empty queue is left alone (PurgeQueue would lock the queue's purges for 60 seconds).
        """
        # lazy: keeps --help fast
        from ..queue.drain import purge
        from ..queue.inspect import queue_stats

        ctx = Ctx.load()
        role, name = _queue_name(ctx, dlq)
        if not yes and not ctx.can_ask():  # before any call
            raise UsageError(
                f"purge deletes every message of {name} for good: pass --yes to confirm (no terminal to ask on)"
            )
        aws = ctx.target()
        sqs = aws.client("sqs")
        stats = queue_stats(sqs, role, name, where=aws.describe_endpoint())
        count = stats.visible + stats.in_flight + stats.delayed
        if count == 0:
            ctx.out.emit(
                {"queue": name, "purged": 0},
                lambda o: o.line(f"{name} has no messages: nothing to purge"),
            )
            return
        ctx.confirm(
            yes=yes,
            what=f"purge would delete the {count} messages of {name}",
            question=(
                f"Purge {name} in {ctx.where()}: delete its {count} messages ({stats.visible} visible, "
                f"{stats.in_flight} in flight, {stats.delayed} delayed) for good? `txnalert drain` keeps a copy"
            ),
            declined="nothing was purged",
        )
        purge(sqs, stats.url, name)
        ctx.out.emit(
            {"queue": name, "purged": count},
            lambda o: o.line(f"purged {name}: {count} messages (SQS finishes deleting them within 60 seconds)"),
        )
