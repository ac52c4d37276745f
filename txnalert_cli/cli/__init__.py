"""The root Typer app: it only wires the command modules and maps errors to messages and exit codes."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import TxnalertError, from_botocore


class TxnalertGroup(TyperGroup):
    """The one place that maps exceptions to a one-line message and an exit code (no traceback)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TxnalertError as exc:
            _report(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            translated = from_botocore(exc)
            if translated is None:
                raise
            _report(translated)
            raise typer.Exit(translated.exit_code) from None


def _report(exc: TxnalertError) -> None:
    for line in exc.lines():
        sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()


app = typer.Typer(
    cls=TxnalertGroup,
    name="txnalert",
    help="Build, check, exercise and operate the SQS -> Lambda -> SES transaction email pipeline, "
    "on AWS or fully offline.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"txnalert {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """txnalert: one YAML config, one tool for the whole alert pipeline."""


def _wire() -> None:
    from . import local, messages, observe, ops, pipeline, resources

    resources.register(app)
    messages.register(app)
    ops.register(app)
    pipeline.register(app)
    observe.register(app)
    app.add_typer(local.app, name="local")


_wire()


def main() -> None:
    app(prog_name="txnalert")
