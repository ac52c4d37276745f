"""`txnalert send-test` and `txnalert inspect-queue`."""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from ..errors import UsageError
from ..output import Output
from .options import ConfigOpt, Ctx, EndpointOpt, JsonOpt, ProfileOpt, RegionOpt


@contextmanager
def progress_bar(out: Output, total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on a terminal (not with --json); a no-op elsewhere."""
    if not out.interactive:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=out.err, transient=True
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def _render_send(out: Output, result: Any, queue: str) -> None:
    out.line(
        f"sent {result.sent}, failed {result.failed} to {queue} in {result.elapsed_s:.2f} s ({result.rate:.0f} msgs/s)"
    )
    for error in result.errors[:10]:
        out.error(error)


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
            int | None, typer.Option("--count", "-n", min=1, help="Transactions to generate [default: 1].")
        ] = None,
        type_: Annotated[str, typer.Option("--type", help="deposit, withdrawal or mixed.")] = "deposit",
        amount: Annotated[
            str | None, typer.Option("--amount", help="Amount as a decimal string [default: random].")
        ] = None,
        currency: Annotated[str, typer.Option("--currency", help="ISO 4217 currency code.")] = "USD",
        email: Annotated[str | None, typer.Option("--email", help="Recipient [default: send_test.recipient].")] = None,
        account: Annotated[
            str | None, typer.Option("--account", help="Account id [default: random per transaction].")
        ] = None,
        from_file: Annotated[
            str | None, typer.Option("--from-file", metavar="PATH", help="Send the transactions of a JSON Lines file.")
        ] = None,
        rate: Annotated[
            float | None, typer.Option("--rate", min=0.1, help="At most this many messages per second.")
        ] = None,
        threads: Annotated[int, typer.Option("--threads", min=1, max=32, help="Sending threads.")] = 4,
        config: ConfigOpt = None,
        json: JsonOpt = False,
        region: RegionOpt = None,
        profile: ProfileOpt = None,
        endpoint_url: EndpointOpt = None,
    ) -> None:
        """Send test transactions to the queue. Example: txnalert send-test --count 100 --type mixed"""
        from .. import sending
        from ..queues import queue_url

        ctx = Ctx.load(config, region=region, profile=profile, endpoint_url=endpoint_url, json_mode=json)
        if from_file is not None:
            given = [
                name
                for name, value in (
                    ("--count", count),
                    ("--amount", amount),
                    ("--email", email),
                    ("--account", account),
                )
                if value is not None
            ]
            if given:
                raise UsageError(f"--from-file cannot be combined with {', '.join(given)}")
            total, stream = sending.read_file(from_file)
            transactions = stream()
        else:
            options = sending.GenerateOptions(
                count=count or 1,
                type=type_,
                amount=amount,
                currency=currency.upper(),
                email=email or ctx.config.send_test.recipient,
                account=account,
            )
            total, transactions = options.count, sending.generate(options)
        aws = ctx.aws(max_pool_connections=threads + 2)
        sqs = aws.client("sqs")
        url = queue_url(sqs, ctx.config.queue.name, where=aws.describe_endpoint())
        sender = sending.Sender(sqs, url, fifo=ctx.config.queue.fifo, threads=threads, rate=rate, keep_ids=json)
        with progress_bar(ctx.out, total, "sending") as advance:
            result = sender.send(transactions, total, progress=advance)
        ctx.out.emit(result.as_dict(), lambda o: _render_send(o, result, ctx.config.queue.name))
        if result.failed:
            raise typer.Exit(1)

    @app.command("inspect-queue")
    def inspect_queue(
        peek: Annotated[
            int, typer.Option("--peek", min=0, max=100, help="Show up to N messages without consuming them.")
        ] = 0,
        dlq: Annotated[bool, typer.Option("--dlq", help="Peek the dead-letter queue instead.")] = False,
        watch: Annotated[bool, typer.Option("--watch", help="Refresh every 2 s until Ctrl-C.")] = False,
        config: ConfigOpt = None,
        json: JsonOpt = False,
        region: RegionOpt = None,
        profile: ProfileOpt = None,
        endpoint_url: EndpointOpt = None,
    ) -> None:
        """Show queue and DLQ depth; peek at messages. Example: txnalert inspect-queue --peek 3"""
        from ..queues import inspect

        if watch and (json or peek):
            raise UsageError("--watch cannot be combined with --json or --peek")
        ctx = Ctx.load(config, region=region, profile=profile, endpoint_url=endpoint_url, json_mode=json)
        aws = ctx.aws()
        if watch:
            _watch(ctx.out, lambda: inspect(aws, ctx.config))
            return
        inspection = inspect(aws, ctx.config, peek_count=peek, dlq=dlq)
        if peek and inspection.messages:
            limit = ctx.config.queue.dlq.max_receive_count
            ctx.out.warn(
                f"peeking is a receive: each peeked message's receive count went up by one "
                f"(it counts toward max_receive_count = {limit})"
            )
        ctx.out.emit(inspection.as_dict(), lambda o: _render_inspect(o, inspection))


def _watch(out: Output, read: Callable[[], Any]) -> None:
    from rich.live import Live

    def snapshot() -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

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
    except KeyboardInterrupt:
        return
