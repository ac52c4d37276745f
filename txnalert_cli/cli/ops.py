"""`txnalert drain`, `redrive`, `replay` and `purge`: queue operations that lose nothing."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated

import typer

from ..output import Output, progress_bar
from .options import Ctx, DlqOpt, DryRunOpt, ThreadsOpt, YesOpt, finish, yes_option

if TYPE_CHECKING:
    from ..queue.drain import DrainResult, PurgeResult
    from ..queue.inspect import MoveCheck
    from ..queue.redrive import RedriveResult
    from ..queue.replay import ReplayResult

MAX_LISTED_FAILURES = 10


def _finish(result: DrainResult | RedriveResult | ReplayResult) -> None:
    """After the result is reported: raise the error that stopped the command, else exit with its code."""
    error = getattr(result, "error", None)
    if error is not None:
        raise error
    finish(result.exit_code, "interrupted: stopped after the batches in hand")


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


def _report_check(out: Output, check: MoveCheck | None) -> None:
    """The check's findings on stderr (problems make the command exit 1: the result's exit_code)."""
    if check is None:
        return
    for line in check.unconfirmed:
        out.warn(line)
    for line in check.problems:
        out.error(f"the counts do not add up: {line}")


# --- drain ------------------------------------------------------------------------------------------


def _render_drain(out: Output, result: DrainResult) -> None:
    c, removed = result.consumed, result.removed
    out.line(f"drained {c.deleted} messages from {result.queue} in {c.elapsed_s:.2f} s ({c.rate:.0f} msgs/s)")
    if result.archive:
        out.line(f"archive: {result.archive}")
    elif removed:
        out.line(f"archive: none (nothing was drained: the empty {removed} was removed)")
    else:
        out.line("archive: none (--no-archive)")
    _render_counts(out, result.check, "drain")


def _report_drain(out: Output, result: DrainResult) -> None:
    """What the result does not say on its own, on stderr: what --match did, failures, why it stopped."""
    from ..queue.consumer import VISIBILITY_TIMEOUT  # lazy: keeps --help fast

    c, stats, limit = result.consumed, result.stats, result.limit
    assert stats is not None
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
    if c.error is not None:
        return  # the error itself is reported last
    if c.interrupted:
        return  # `finish` says so
    early = result.early_stop
    if early is not None:
        out.error(early)
    _report_check(out, result.check)


# --- redrive ----------------------------------------------------------------------------------------


def _render_redrive(out: Output, result: RedriveResult) -> None:
    dlq, main = result.dlq, result.main
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


def _report_redrive(out: Output, result: RedriveResult) -> None:
    """A manual move's failures on stderr, then (unless an error stopped it) Ctrl-C or the counts' findings."""
    consumed = result.consumed
    if consumed is not None:
        _list_failures(out, consumed.errors, "messages were not moved and are still on the DLQ")
        _list_failures(out, consumed.delete_failed, "messages were sent but not deleted: they are on both queues")
        if consumed.error is not None:
            return  # the error itself is reported last
        if consumed.interrupted:
            return  # `finish` says so
    _report_check(out, result.check)


# --- replay -----------------------------------------------------------------------------------------


def _skipped_line(result: ReplayResult) -> str:
    count, lines = result.skipped_invalid, result.skipped_invalid_lines
    plural = "s" if count != 1 else ""
    numbers = ", ".join(str(n) for n in lines)
    more = f" and {count - len(lines)} more" if count > len(lines) else ""
    return f"skipped {count} invalid line{plural} (--skip-invalid): line{plural} {numbers}{more}"


def _render_replay(out: Output, result: ReplayResult, archive: str) -> None:
    if result.dry_run:
        out.line(
            f"would send {result.would_send} messages from {archive} to {result.queue} "
            f"({result.duplicates} repeated message ids skipped); dry run: nothing was sent"
            + (f"\n{_skipped_line(result)}" if result.skipped_invalid else "")
        )
        return
    out.line(
        f"sent {result.sent} messages from {archive} to {result.queue} "
        f"in {result.elapsed_s:.2f} s ({result.rate:.0f} msgs/s)"
    )
    if result.duplicates:
        out.line(f"skipped {result.duplicates} repeated message ids (each message is sent once)")
    if result.skipped_invalid:
        out.line(_skipped_line(result))
    _render_counts(out, result.check, "")


# --- purge ------------------------------------------------------------------------------------------


def _render_purge(out: Output, result: PurgeResult) -> None:
    if not result.purged:
        out.line(f"{result.queue} has no messages: nothing to purge")
    else:
        out.line(f"purged {result.queue}: {result.purged} messages (SQS finishes deleting them within 60 seconds)")


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
        from ..queue.drain import DrainOptions, drain_queue

        options = DrainOptions(dlq=dlq, to=to, no_archive=no_archive, yes=yes, limit=max_, match=match, threads=threads)
        ctx = Ctx.load()
        result = drain_queue(
            ctx.target, ctx.config, options, progress=functools.partial(progress_bar, ctx.out), notes=ctx.out
        )
        ctx.out.emit(result.as_dict(), lambda o: _render_drain(o, result))
        _report_drain(ctx.out, result)
        _finish(result)

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
        from ..queue.redrive import RedriveOptions, run

        options = RedriveOptions(limit=max_, rate=rate, dry_run=dry_run, threads=threads)
        ctx = Ctx.load()
        result = run(ctx.target, ctx.config, options, progress=functools.partial(progress_bar, ctx.out), notes=ctx.out)
        ctx.out.emit(result.as_dict(), lambda o: _render_redrive(o, result))
        _report_redrive(ctx.out, result)
        _finish(result)

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
        from ..queue.replay import ReplayOptions, run

        options = ReplayOptions(archive=archive, dlq=dlq, rate=rate, dry_run=dry_run, skip_invalid=skip_invalid)
        ctx = Ctx.load()
        result = run(ctx.target, ctx.config, options, progress=functools.partial(progress_bar, ctx.out), notes=ctx.out)
        ctx.out.emit(result.as_dict(), lambda o: _render_replay(o, result, archive))
        _list_failures(ctx.out, result.failed, "messages could not be sent")
        _report_check(ctx.out, result.check)
        _finish(result)

    @app.command("purge")
    def purge_command(
        dlq: DlqOpt = False,
        yes: YesOpt = False,
    ) -> None:
        """Delete every message of the queue, for good, after confirmation. Example: txnalert purge --dlq --yes

        Nothing is kept: `txnalert drain` keeps a copy. Without a terminal to ask on, --yes is required.
        An empty queue is left alone (PurgeQueue would lock the queue's purges for 60 seconds).
        """
        from ..queue.drain import PurgeOptions, purge_queue

        options = PurgeOptions(dlq=dlq, yes=yes)
        ctx = Ctx.load()
        result = purge_queue(ctx.target, ctx.config, options, ask=ctx)
        ctx.out.emit(result.as_dict(), lambda o: _render_purge(o, result))
