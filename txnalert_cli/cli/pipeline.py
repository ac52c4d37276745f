"""`txnalert verify-identity`, `worker`, `outbox` and `demo`."""

from __future__ import annotations

import functools
from typing import Annotated, Any

import typer

from ..output import Output, live_line
from .options import Ctx, finish, output, uses, warn_config

MAX_LISTED_REASONS = 10


def _render_verify(out: Output, result: Any) -> None:
    out.table(
        ["IDENTITY", "TYPE", "STATUS"],
        [(i.identity, i.type, i.status) for i in result.identities],
    )
    for identity in result.identities:
        if identity.dkim_records:
            out.line("")
            out.line(f"DNS records to add for {identity.identity} (Easy DKIM):")
            out.table(["NAME", "TYPE", "VALUE"], [(r["name"], r["type"], r["value"]) for r in identity.dkim_records])
    a = result.account
    sandbox = {True: "yes", False: "no", None: "unknown (this endpoint does not serve SESv2 GetAccount)"}[a.sandbox]
    out.line("")
    out.line(f"SES sandbox: {sandbox}")
    out.line(
        f"send quota: max send rate {a.max_send_rate:g}/s, 24 h quota {a.max_24h_send:g}, "
        f"sent in the last 24 h {a.sent_last_24h:g}"
    )
    for warning in result.warnings:
        out.warn(warning)


def _render_worker(out: Output, stats: Any) -> None:
    out.line(
        f"received {stats.received}, succeeded {stats.succeeded}, failed {stats.failed}, "
        f"emails sent {stats.emails_sent} in {stats.elapsed_s:.2f} s ({stats.emails_per_second:.1f} emails/s)"
    )
    if stats.failures_by_reason:
        out.line("failures by reason:")
        ranked = sorted(stats.failures_by_reason.items(), key=lambda item: -item[1])
        for reason, count in ranked[:MAX_LISTED_REASONS]:
            out.line(f"  {count} × {reason}")
        if len(ranked) > MAX_LISTED_REASONS:
            out.line(f"  ... and {len(ranked) - MAX_LISTED_REASONS} more reasons")
    mrc, dlq = stats.max_receive_count, stats.dead_letter_queue or "the DLQ"
    if stats.dead_lettered:
        out.line(
            f"dead-lettered: {_count(stats.dead_lettered)} (received {mrc} of {mrc} times; "
            f"SQS moved {_it(stats.dead_lettered)} to {dlq})"
        )
    if stats.awaiting_dlq:
        n = stats.awaiting_dlq
        out.line(
            f"still failing: {_count(n)} after the last allowed receive ({mrc} of {mrc}), not yet moved: "
            f"SQS moves {_it(n)} to {dlq} once visible again"
        )
    retrying = stats.still_failing - stats.dead_lettered - stats.awaiting_dlq
    if retrying:
        out.line(
            f"still failing: {_count(retrying)} on the queue: SQS delivers {_it(retrying)} again after the "
            "visibility timeout"
        )
    for error in stats.errors[:10]:
        out.error(error)


def _count(records: int) -> str:
    return f"{records} record" if records == 1 else f"{records} records"


def _it(records: int) -> str:
    return "it" if records == 1 else "them"


def _render_outbox(out: Output, emails: list[Any]) -> None:
    if not emails:
        out.line("the outbox is empty")
        return
    out.table(["TO", "SUBJECT", "FIRST LINE"], [(", ".join(e.to), e.subject, e.first_line) for e in emails])
    out.line(f"{len(emails)} emails")


def _render_demo(out: Output, result: Any) -> None:
    from .resources import render_plan  # lazy: a renderer of another command module, imported when used

    out.line(f"Emulator: {result.endpoint} (in-process, gone when the demo ends)")
    out.line("")
    out.line("1. Plan applied")
    render_plan(out, result.plan, applied=True, dry_run=False)
    out.line("")
    out.line(
        f"2. Sent {result.sent_valid} transactions, {result.sent_duplicates} duplicates "
        f"and {result.sent_malformed} malformed messages"
    )
    w = result.worker
    out.line(
        f"3. Worker: {w.received} records received in {w.batches} batches, {w.succeeded} succeeded, "
        f"{w.failed} failed (retried until dead-lettered), {w.emails_sent} emails sent"
    )
    out.line("")
    out.line(f"4. Outbox: {len(result.outbox)} emails (a sample)")
    _render_outbox_sample(out, result.outbox[:3])
    out.line("")
    out.line(f"5. Dead-letter queue: {len(result.dlq)} messages")
    out.table(["MESSAGE", "REASON", "BODY"], [(m["message_id"][:8], m["reason"], m["body"][:60]) for m in result.dlq])
    out.line("")
    for check in result.checks:
        mark = "OK  " if check["ok"] else "FAIL"
        out.line(f"{mark} {check['check']}: expected {check['expected']}, got {check['actual']}")
    out.line(f"demo {'passed' if result.ok else 'FAILED'} in {result.elapsed_s:.1f} s")


def _render_outbox_sample(out: Output, emails: list[Any]) -> None:
    out.table(["TO", "SUBJECT", "TEXT"], [(", ".join(e.to), e.subject, e.first_line) for e in emails])


def register(app: typer.Typer) -> None:
    @app.command("verify-identity")
    def verify_identity(
        identities: Annotated[
            list[str] | None, typer.Argument(help="Email addresses or domains [default: ses.identities].")
        ] = None,
        wait: Annotated[bool, typer.Option("--wait", help="Poll until every identity is verified.")] = False,
        timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds --wait may take.")] = 300,
    ) -> None:
        """Start SES verification; show status, DKIM records, sandbox and quota.
        Example: txnalert verify-identity alerts@example.com --wait"""
        from ..infra.identities import verify  # lazy: keeps `txnalert --help` fast (infra imports botocore)

        ctx = Ctx.load()
        result = verify(ctx.aws(), ctx.config, identities or None, wait=wait, timeout=timeout)
        ctx.out.emit(result.as_dict(), lambda o: _render_verify(o, result))
        finish(result.exit_code)

    @app.command()
    def worker(
        until_empty: Annotated[
            bool, typer.Option("--until-empty", help="Stop when the queue and its in-flight messages are done.")
        ] = False,
        max_messages: Annotated[
            int | None, typer.Option("--max-messages", min=1, help="Stop after receiving N messages.")
        ] = None,
        retry_delay: Annotated[
            int | None,
            typer.Option(
                "--retry-delay",
                min=0,
                max=43200,
                help="Seconds before a failed record is retried [default: the queue's visibility timeout, as Lambda].",
            ),
        ] = None,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print the handler's log lines.")] = False,
    ) -> None:
        """Consume the queue with the handler, as Lambda's SQS trigger would. Example: txnalert worker --until-empty

        On a terminal, one live status line shows what it does and what it waits for. Exit status 0 when every
        record received was processed, 1 when a record was left failing (dead-lettered or to be retried) or a
        batch or delete failed, 130 after Ctrl-C (the first finishes the batch in hand, a second quits now).
        """
        # lazy: keeps --help fast
        from ..local.worker import WorkerOptions, run_worker
        from ..queue.entry import SILENT

        options = WorkerOptions(
            until_empty=until_empty, max_messages=max_messages, retry_delay=retry_delay, verbose=verbose
        )
        ctx = Ctx.load(sends=True)
        json = ctx.out.json_mode
        live = not json and ctx.out.err.is_terminal
        stats = run_worker(
            ctx.aws(),
            ctx.config,
            options,
            status=functools.partial(live_line, ctx.out),
            notify=None if json or live else ctx.out.info,
            notes=SILENT if json else ctx.out,
        )
        ctx.out.emit(stats.as_dict(), lambda o: _render_worker(o, stats))
        finish(stats.exit_code, "interrupted: stopped after the batch in hand")

    @app.command()
    def outbox(
        limit: Annotated[int, typer.Option("--limit", min=1, help="Show the last N emails.")] = 20,
    ) -> None:
        """List the emails the emulator accepted. Example: txnalert outbox --limit 5"""
        from ..local.outbox import fetch  # lazy: keeps --help fast

        ctx = Ctx.load()
        emails = fetch(ctx.aws().effective_endpoint("ses"))[-limit:]
        ctx.out.emit({"emails": [e.as_dict() for e in emails]}, lambda o: _render_outbox(o, emails))

    @app.command()
    @uses("config", "json")
    def demo(
        count: Annotated[int, typer.Option("--count", "-n", min=1, max=500, help="Valid transactions to send.")] = 25,
        config: Annotated[
            str | None,
            typer.Option("--config", "-c", metavar="PATH", help="Config file [default: the built-in example]."),
        ] = None,
    ) -> None:
        """Run the whole pipeline offline on a throwaway emulator. Example: txnalert demo --count 25"""
        # lazy: keeps --help fast
        from .. import config as config_module
        from ..local.demo import run_demo

        out = output()
        json = out.json_mode
        cfg = config_module.load(config) if config else config_module.builtin_example()
        warn_config(out, cfg, sends=True)
        result = run_demo(cfg, count=count, progress=None if json else out.info)
        out.emit(result.as_dict(), lambda o: _render_demo(o, result))
        if result.exit_code:
            raise typer.Exit(result.exit_code)
