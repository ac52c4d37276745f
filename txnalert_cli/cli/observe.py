"""`txnalert smoke` and `txnalert logs`: prove a deployed pipeline works, and show what it logged."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..errors import UsageError
from ..output import Output
from . import render
from .options import Ctx, JsonLinesOpt, settings


def _render_smoke(out: Output, result: Any) -> None:
    out.line(
        f"smoke test: transaction {result.transaction_id} to {result.shown_recipient}"
        f"{' (worker in-process)' if result.worker else ''}"
    )
    for step in result.steps:
        mark = {True: "✔", False: "✘", None: "·"}[step.ok]
        at = "" if step.at_s is None else f"{step.at_s:6.2f} s"
        out.line(f"  {mark} {step.name:<26} {at:>9}  {step.detail}".rstrip())
    if result.ok:
        out.line(f"passed: email accepted by SES in {result.latency_s:.2f} s (SES message id {result.ses_message_id})")
    else:
        out.line(f"FAILED: {result.reason}")


def _render_doctor(out: Output, report: Any) -> None:
    from ..infra.doctor import MARKS  # lazy: keeps `txnalert --help` fast

    out.table(["", "CHECK", "DETAIL", "FIX"], [(MARKS[c.status], c.name, c.detail, c.fix) for c in report.checks])
    counts = {status: sum(1 for c in report.checks if c.status == status) for status in MARKS}
    out.line(f"{counts['ok']} ok, {counts['warn']} warnings, {counts['fail']} failures")


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor() -> None:
        """Audit every resource the config names; exit 1 on any failure. Example: txnalert doctor --json"""
        from ..infra import doctor as infra_doctor  # lazy: keeps `txnalert --help` fast (infra imports botocore)

        ctx = Ctx.load()
        report = infra_doctor.run(ctx.aws(), ctx.config)
        ctx.out.emit(report.as_dict(), lambda o: _render_doctor(o, report))
        if report.exit_code:
            raise typer.Exit(report.exit_code)

    @app.command()
    def smoke(
        timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds to wait for the email.")] = 120,
        scenario: Annotated[
            str, typer.Option("--scenario", help="success, bounce, complaint or ooto (SES mailbox simulator).")
        ] = "success",
        no_worker: Annotated[
            bool, typer.Option("--no-worker", help="On the emulator, do not run the worker in-process.")
        ] = False,
        junit: Annotated[str | None, typer.Option("--junit", metavar="PATH", help="Write a JUnit XML report.")] = None,
    ) -> None:
        """Send one transaction and wait until its email is accepted; exit 1 if not.
        Example: txnalert smoke --timeout 60 --junit smoke.xml

        Fails at once, naming the reason, when the handler fails the transaction for good (invalid, rejected by
        SES), or for a retryable reason when SQS's retry (one visibility timeout later) cannot come in time.
        """
        from ..local.smoke import check_junit_path, run_smoke, write_junit  # lazy: keeps --help fast

        ctx = Ctx.load(sends=True)
        if junit:
            check_junit_path(junit)  # before anything is sent
        result = run_smoke(
            ctx.aws(),
            ctx.config,
            timeout=timeout,
            scenario=scenario,
            worker=False if no_worker else None,
            notify=None if ctx.out.json_mode else ctx.out.info,
        )
        ctx.out.emit(result.as_dict(), lambda o: _render_smoke(o, result))
        if junit:
            write_junit(result, junit)
        if result.exit_code:
            raise typer.Exit(result.exit_code)

    @app.command()
    def logs(
        since: Annotated[str, typer.Option("--since", help="How far back: 30s, 10m, 2h, 1d.")] = "10m",
        follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
        txn: Annotated[str | None, typer.Option("--txn", metavar="ID", help="Only this transaction's events.")] = None,
        level: Annotated[
            str | None, typer.Option("--level", help="Minimum level: DEBUG, INFO, WARNING, ERROR.")
        ] = None,
        json_lines: JsonLinesOpt = False,
    ) -> None:
        """Show the function's log events, newest last. Example: txnalert logs --since 1h --level ERROR

        --json prints one JSON document, {"events": [...]}, once the events are read; --json-lines prints one
        JSON object per event as it comes (with --follow too)."""
        # lazy: keeps --help fast
        from ..logs import check_transaction_id, log_group, parse_level, parse_since, read_events

        check_transaction_id(txn)
        min_level = parse_level(level)
        since_ms = parse_since(since)
        if follow and settings().json and not json_lines:
            raise UsageError("--follow does not end, and --json prints one document at the end: use --json-lines")
        ctx = Ctx.load()
        group = log_group(ctx.config.lambda_.function_name)
        events = read_events(
            ctx.aws().client("logs"), group, since_ms=since_ms, txn=txn, min_level=min_level, follow=follow
        )
        try:
            count = render.log_events(ctx.out, events)
        except KeyboardInterrupt:
            if not follow:
                raise  # an interruption (130)
            return  # Ctrl-C is how --follow ends (exit 0)
        if count == 0 and not ctx.out.json_mode:
            ctx.out.info(f"no events in {group} since {since}" + (f" for transaction {txn}" if txn else ""))
