"""`txnalert send-test` and `txnalert inspect-queue`."""

from __future__ import annotations

import functools
import json as jsonlib
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer

from ..errors import UsageError
from ..output import Output, progress_bar
from .options import Ctx, finish, settings


def _render_send(out: Output, result: Any) -> None:
    not_sent = f", not sent {result.not_sent}" if result.not_sent else ""
    out.line(
        f"sent {result.sent}, failed {result.failed}{not_sent} to {result.queue} in {result.elapsed_s:.2f} s "
        f"({result.rate:.0f} msgs/s)"
    )
    if result.fifo:
        reordered = f"; {result.reordered} re-sent out of order (see the warnings)" if result.reordered else ""
        lanes = "one thread" if result.threads == 1 else f"one of {result.threads} threads"
        out.line(f"FIFO queue: each account's transactions went through {lanes}, in order{reordered}")


def _report_send(out: Output, result: Any) -> None:
    """Failure reasons and warnings on stderr, with --json too (stdout keeps only the JSON)."""
    for warning in result.warnings:
        out.warn(warning)
    for error in result.errors:
        out.error(error)
    if result.more_errors:
        out.error(f"... and {result.more_errors} more failed transactions")
    if result.stopped_by is not None and result.not_sent and not result.interrupted:
        out.error(f"stopped: {result.not_sent} transactions were not sent")


def _render_inspect(out: Output, inspection: Any) -> None:
    out.table(
        ["QUEUE", "ROLE", "TYPE", "VISIBLE", "IN FLIGHT", "DELAYED", "VISIBILITY", "RETENTION", "MAX RECEIVES"],
        [
            (
                q.name,
                q.role,
                "fifo" if q.fifo else "standard",
                q.visible,
                q.in_flight,
                q.delayed,
                f"{q.visibility_timeout}s",
                f"{q.retention}s",
                q.max_receive_count,
            )
            for q in inspection.queues
        ],
    )
    if inspection.peeked_role:
        out.line("")
        if not inspection.messages:
            out.line(f"no messages to peek in the {inspection.peeked_role} queue")
        for message in inspection.messages:
            body = message.body if isinstance(message.body, str) else jsonlib.dumps(message.body)
            out.line(f"{message.message_id}  receives={message.receive_count}  {body}")


def register(app: typer.Typer) -> None:
    @app.command("send-test")
    def send_test(
        count: Annotated[
            int | None,
            typer.Option("--count", "-n", help="Transactions to generate, 1 to 1000000 [default: 1]."),
        ] = None,
        type_: Annotated[
            str | None, typer.Option("--type", help="deposit, withdrawal or mixed [default: deposit].")
        ] = None,
        amount: Annotated[
            str | None, typer.Option("--amount", help="Amount as a decimal string [default: random].")
        ] = None,
        currency: Annotated[
            str | None, typer.Option("--currency", help="ISO 4217 currency code [default: USD].")
        ] = None,
        email: Annotated[str | None, typer.Option("--email", help="Recipient [default: send_test.recipient].")] = None,
        account: Annotated[
            str | None, typer.Option("--account", help="Account id [default: random per transaction].")
        ] = None,
        from_file: Annotated[
            str | None,
            typer.Option(
                "--from-file",
                metavar="PATH",
                help="Send the transactions of a JSON Lines file "
                "(every line is checked first: nothing is sent if one is bad).",
            ),
        ] = None,
        rate: Annotated[
            float | None,
            typer.Option("--rate", min=0.1, help="At most this many messages per second (batches of up to N)."),
        ] = None,
        threads: Annotated[
            int,
            typer.Option(
                "--threads",
                min=1,
                max=32,
                help="Sending threads. FIFO queue: an account's transactions always go through the same "
                "thread, one batch after the other, so each account's order is kept.",
            ),
        ] = 4,
    ) -> None:
        """Send test transactions to the queue. Example: txnalert send-test --count 100 --type mixed

        Exit 0 when everything was sent; 1 when a transaction failed or was not sent; 130 on Ctrl-C
        (the batches in hand finish; the counts show what was and was not sent). Failure reasons go to
        stderr, with --json too. A FIFO queue gets each account's transactions in the order given (if
        SQS rejects one entry of a batch but accepts a later one of the same account, the re-sent entry
        lands after it: a warning names it).
        """
        from ..queue.sending import SendOptions, send_test

        ctx = Ctx.load(sends=True)
        options = SendOptions(
            count=count,
            type=type_,
            amount=amount,
            currency=currency,
            email=email,
            account=account,
            from_file=from_file,
            rate=rate,
            threads=threads,
            keep_ids=ctx.out.json_mode,
        )
        result = send_test(ctx.aws, ctx.config, options, progress=functools.partial(progress_bar, ctx.out))
        ctx.out.emit(result.as_dict(), lambda o: _render_send(o, result))
        _report_send(ctx.out, result)
        finish(result.exit_code, f"interrupted: {result.not_sent} transactions were not sent")

    @app.command("inspect-queue")
    def inspect_queue(
        peek: Annotated[
            int, typer.Option("--peek", min=0, max=100, help="Show up to N messages without consuming them.")
        ] = 0,
        dlq: Annotated[bool, typer.Option("--dlq", help="Peek the dead-letter queue instead.")] = False,
        watch: Annotated[bool, typer.Option("--watch", help="Refresh every 2 s until Ctrl-C.")] = False,
        show_pii: Annotated[
            bool,
            typer.Option(
                "--show-pii",
                help="Show peeked bodies raw. By default email addresses, account numbers and any run of 6 or "
                "more digits are masked.",
            ),
        ] = False,
    ) -> None:
        """Show queue and DLQ depth; peek at messages. Example: txnalert inspect-queue --peek 3

        Peeked bodies are masked: email addresses (c***@example.com), account numbers (****7890) and any run
        of 6 or more digits. --show-pii shows them raw, with a warning.
        """
        from ..queue.inspect import InspectOptions, inspect

        if watch and (settings().json or peek):
            raise UsageError("--watch cannot be combined with --json or --peek")
        options = InspectOptions(peek=peek, dlq=dlq, show_pii=show_pii)
        ctx = Ctx.load()
        aws = ctx.aws()
        if watch:
            _watch(ctx.out, lambda: inspect(aws, ctx.config))
            return
        inspection = inspect(aws, ctx.config, options)
        for warning in inspection.warnings:
            ctx.out.warn(warning)
        ctx.out.emit(inspection.as_dict(), lambda o: _render_inspect(o, inspection))


def _watch(out: Output, read: Callable[[], Any]) -> None:
    # lazy: rich, as in output.py
    from rich.console import Group
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

    def snapshot() -> Any:
        inspection = read()
        table = Table(box=None)
        for column in ("QUEUE", "ROLE", "VISIBLE", "IN FLIGHT", "DELAYED"):
            table.add_column(column)
        for q in inspection.queues:
            table.add_row(q.name, q.role, str(q.visible), str(q.in_flight), str(q.delayed))
        return Group(table, Text(f"updated {time.strftime('%H:%M:%S')} - Ctrl-C to stop", style="dim"))

    try:
        with Live(snapshot(), console=out.out, auto_refresh=False) as live:
            while True:
                time.sleep(2)
                live.update(snapshot(), refresh=True)
    except KeyboardInterrupt:  # Ctrl-C is how --watch ends (exit 0), not an interruption
        return
