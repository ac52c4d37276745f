"""`txnalert local up|status|down`: the embedded emulator in the background."""

from __future__ import annotations

from typing import Annotated

import typer

from ..local import emulator
from ..output import Output
from .options import output, uses

app = typer.Typer(
    help="Run the embedded AWS emulator (moto) in the background. Example: txnalert local up",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _render(out: Output, status: emulator.EmulatorStatus, verb: str) -> None:
    if status.running:
        out.line(f"emulator {verb} at {status.url} (pid {status.pid})")
        out.line("use it with aws.endpoint_url: local (or --endpoint-url local)")
    else:
        out.line("emulator is not running; start it with `txnalert local up`")


@app.command()
@uses("json")
def up(
    port: Annotated[int, typer.Option("--port", help="Loopback port to listen on.")] = emulator.DEFAULT_PORT,
) -> None:
    """Start the emulator on 127.0.0.1 (detached). Example: txnalert local up --port 4566"""
    status, started = emulator.up(port)
    output().emit(
        {**status.as_dict(), "started": started},
        lambda o: _render(o, status, "started" if started else "already running"),
    )


@app.command()
@uses("json")
def status() -> None:
    """Show whether the emulator runs, its URL and pid. Example: txnalert local status"""
    current = emulator.status()
    output().emit(current.as_dict(), lambda o: _render(o, current, "running"))
    if not current.running:
        raise typer.Exit(1)


@app.command()
@uses("json")
def down() -> None:
    """Stop the emulator (its data is lost). Example: txnalert local down"""
    stopped = emulator.down()

    def render(o: Output) -> None:
        if stopped.pid is None:
            o.line("emulator was not running")
        else:
            o.line(f"emulator stopped (pid {stopped.pid})")

    output().emit({"stopped": stopped.pid is not None, "pid": stopped.pid}, render)
