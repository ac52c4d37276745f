"""The root Typer app: it only wires the command modules and maps errors to messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import Interrupted, TxnalertError, from_botocore
from . import local, messages, observe, ops, options, pipeline, resources


class TxnalertGroup(TyperGroup):
    """The one place that maps a failure to its message and exit code (no traceback): a TxnalertError (exit
    code its own), a botocore error (translated), Ctrl-C (`Interrupted`, 130), a usage error Click found (a bad
    flag: 2). With --json, a failed command still leaves a JSON object on stdout: `{"error": {"message": ...,
    "exit_code": ...}}` (unless its result is there already); the message goes to stderr as well."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        with options.run(argv) as run:
            try:
                # Not standalone: the failures come here instead of being printed by Typer.
                result = super().main(
                    args=argv, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra
                )
                code = result if isinstance(result, int) else 0  # an Exit's code, or the command's None
                if code:  # a command that exits non-zero has written its result (this is the safety net)
                    run.output().failure(f"exit status {code}", code)
            except Exception as exc:
                code = _fail(run, exc)
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None


def _fail(run: options.Run, exc: Exception) -> int:
    """The message (stderr) and, with --json, the JSON error object (stdout) of a failure; its exit code."""
    if isinstance(exc, typer.Abort):
        if isinstance(exc.__context__, KeyboardInterrupt):  # Ctrl-C at a question
            exc = Interrupted("interrupted")
        else:  # end of input at a question
            sys.stderr.write("Aborted!\n")
            run.output().failure("aborted", 1)
            return 1
    # A usage error Click found (no such option, a bad value...). Typer >= 0.26 vendors Click, so its exception
    # classes are not importable under a public name: they are known by what they have.
    if not isinstance(exc, TxnalertError) and callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):
        exc.show()
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        run.output().failure(message, exc.exit_code)
        return int(exc.exit_code)
    error = exc if isinstance(exc, TxnalertError) else from_botocore(exc)
    if error is None:
        raise exc  # a bug: the traceback is what shows it
    for line in error.lines():
        sys.stderr.write(f"{error.prefix}{line}\n")
    sys.stderr.flush()
    run.output().failure(error.message, error.exit_code)
    return error.exit_code


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


def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """txnalert: one YAML config, one tool for the whole alert pipeline."""


# The command modules import only typer and cli/options at module level (their library imports are inside the
# command functions), so this wiring, and `txnalert --help`, import no boto3, botocore, moto or yaml.
app.callback()(options.with_global_options(_root, root=True))
resources.register(app)
messages.register(app)
ops.register(app)
pipeline.register(app)
observe.register(app)
app.add_typer(local.app, name="local")
options.apply_global_options(app)


def main() -> None:
    app(prog_name="txnalert")
