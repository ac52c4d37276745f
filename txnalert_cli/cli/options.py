"""Shared options, defined once, and what a command reads from them.

Global options (`--config/-c`, `--region`, `--profile`, `--endpoint-url`, `--json`) go before or after the command:
`txnalert --json -c x.yaml inspect-queue` and `txnalert inspect-queue --json -c x.yaml` are the same run. They are
not written in any command's signature: the root app's wiring passes every command (and the root callback)
through `with_global_options`, which appends them to the function's signature, so Typer parses them at either
place and each command's --help lists them. The value given after the command wins over the one given before it.

A command declares only its own options, and reads the global ones with `settings()`, or with `Ctx.load()`, which
loads the config they name and makes the command's `Output`. A command that takes only some of them says which
with `@uses("json", ...)`; one of the others given before it is a usage error. A command that declares one of them
itself (demo's `--config`, which defaults to the built-in example) keeps its own definition and help; a value given
before the command still applies to it. A command whose result streams declares `json_lines: JsonLinesOpt`: it
puts the run in JSON mode, one object per line.

Other options that several commands share (`--dry-run`, `--yes`, ...) are defined here too, as Annotated aliases.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ..errors import INTERRUPTED, Declined, Interrupted, UsageError
from ..output import Output

if TYPE_CHECKING:
    from ..aws import Aws
    from ..config import Config

# --- the global options -------------------------------------------------------------------------------

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        metavar="PATH",
        help="Config file (default: $TXNALERT_CONFIG, else ./txnalert.yaml).",
        show_default=False,
    ),
]
RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="AWS region (overrides aws.region, then $AWS_REGION, $AWS_DEFAULT_REGION, the profile's).",
        show_default=False,
    ),
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="Named AWS profile (overrides aws.profile).", show_default=False)
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        metavar="URL",
        help='Endpoint: "local" for `txnalert local up`, or a URL (overrides aws.endpoint_url).',
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

# name -> (the option, its default): the order of --help
GLOBAL_OPTIONS: dict[str, tuple[Any, Any]] = {
    "config": (ConfigOpt, None),
    "region": (RegionOpt, None),
    "profile": (ProfileOpt, None),
    "endpoint_url": (EndpointOpt, None),
    "json": (JsonOpt, False),
}

# --- options several commands share --------------------------------------------------------------------

JsonLinesOpt = Annotated[
    bool, typer.Option("--json-lines", help="Print JSON Lines: one JSON object per line, as they come.")
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]


def yes_option(help: str) -> Any:
    """`--yes`/`-y`: what it confirms differs per command, so each says it in its help."""
    return typer.Option("--yes", "-y", help=help)


ApplyYesOpt = Annotated[bool, yes_option("Apply without asking (against AWS; required there without a terminal).")]
YesOpt = Annotated[bool, yes_option("Do not ask for confirmation.")]
DetailedExitcodeOpt = Annotated[
    bool,
    typer.Option(
        "--detailed-exitcode",
        help="With --dry-run: exit 0 when nothing would change, 3 when changes are pending (1 error, 2 usage).",
    ),
]
MAX_THREADS = 16  # --threads of drain and redrive
DlqOpt = Annotated[bool, typer.Option("--dlq", help="Work on the dead-letter queue instead of the main queue.")]
ThreadsOpt = Annotated[int, typer.Option("--threads", help=f"Worker threads (1-{MAX_THREADS}).")]


# --- one run: the global options as given, merged, and the command's output ----------------------------


@dataclass
class Settings:
    """The global options of the running command: given after it, else before it, else the defaults."""

    config: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    json: bool = False
    json_lines: bool = False  # the command's --json-lines (JsonLinesOpt)


class Run:
    """One invocation of the CLI (the root group's `main` makes it): its arguments, the global options given
    before the command, the settings once the command's own are merged in, and the command's Output."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.root: dict[str, Any] = {}
        self.settings: Settings | None = None
        self._output: Output | None = None

    def merge(self, given: dict[str, Any], takes: Sequence[str], command: str) -> Settings:
        """The command's values over the root's; a root value for an option the command does not take is a
        usage error (never silently ignored)."""
        for name, value in self.root.items():
            if name not in takes and value != GLOBAL_OPTIONS[name][1]:
                raise UsageError(f"{_flag(name)} does not apply to `{command}`")
        values: dict[str, Any] = {}
        for name in takes:
            value = given.get(name, GLOBAL_OPTIONS[name][1])
            values[name] = value if value != GLOBAL_OPTIONS[name][1] else self.root.get(name, value)
        self.settings = Settings(**values, json_lines=bool(given.get("json_lines")))
        return self.settings

    def output(self) -> Output:
        """The command's Output, made once, in the mode the settings (or, when parsing failed before them, the
        raw arguments) ask for."""
        if self._output is None:
            if self.settings is not None:
                json_mode, json_lines = self.settings.json, self.settings.json_lines
            else:
                tokens = self.argv[: self.argv.index("--")] if "--" in self.argv else self.argv
                json_mode, json_lines = "--json" in tokens, "--json-lines" in tokens
            self._output = Output(json_mode, json_lines=json_lines)
        return self._output


_RUN: ContextVar[Run | None] = ContextVar("txnalert_run", default=None)


@contextmanager
def run(argv: Sequence[str]) -> Iterator[Run]:
    """The run of one invocation, current while it lasts."""
    token = _RUN.set(Run(argv))
    try:
        yield current_run()
    finally:
        _RUN.reset(token)


def current_run() -> Run:
    current = _RUN.get()
    if current is None:  # a command called without the root group's main (nothing given before it)
        current = Run(sys.argv[1:])
        _RUN.set(current)
    return current


def settings() -> Settings:
    """The running command's global options."""
    current = current_run()
    return current.settings if current.settings is not None else Settings(**current.root)


def output() -> Output:
    """The running command's Output (--json, --json-lines or people)."""
    return current_run().output()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# --- putting the global options on the root callback and on every command ------------------------------

F = TypeVar("F", bound=Callable[..., Any])
_CONTEXT = "_txnalert_context"


def uses(*names: str) -> Callable[[F], F]:
    """Mark a command that takes only these global options (default: all of them)."""
    unknown = set(names) - set(GLOBAL_OPTIONS)
    if unknown:
        raise ValueError(f"not global options: {sorted(unknown)}")

    def mark(function: F) -> F:
        function.__txnalert_global_options__ = names  # type: ignore[attr-defined]
        return function

    return mark


def with_global_options(function: Callable[..., Any], *, root: bool = False) -> Callable[..., Any]:
    """The function with the global options it takes appended to its signature (Typer then parses and documents
    them); calling it records their values in the current run (root: as given before the command) and calls
    the function with its own parameters only."""
    takes: tuple[str, ...] = getattr(function, "__txnalert_global_options__", tuple(GLOBAL_OPTIONS))
    signature = inspect.signature(function, eval_str=True)
    own = [name for name in takes if name in signature.parameters]
    added = [name for name in takes if name not in signature.parameters]
    parameters = [
        *signature.parameters.values(),
        *(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=option, default=default)
            for name in added
            for option, default in [GLOBAL_OPTIONS[name]]
        ),
        inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
    ]

    @functools.wraps(function)
    def wrapper(**kwargs: Any) -> Any:
        context: typer.Context = kwargs.pop(_CONTEXT)
        given = {name: kwargs.pop(name) for name in added}
        given.update({name: kwargs[name] for name in own})
        current = current_run()
        if root:
            current.root = given
        else:
            merged = current.merge({**given, "json_lines": kwargs.get("json_lines")}, takes, context.command_path)
            for name in own:
                kwargs[name] = getattr(merged, name)
        return function(**kwargs)

    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **{p.name: p.annotation for p in parameters},
        "return": signature.return_annotation,
    }
    return wrapper


def apply_global_options(app: typer.Typer) -> None:
    """Give every command of the app, and of its sub-apps, the global options (a pass after registration)."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = with_global_options(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            apply_global_options(group.typer_instance)


# --- what a command needs --------------------------------------------------------------------------------


def stdin_is_terminal() -> bool:
    """Whether there is someone to ask: stdin is a terminal."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def finish(code: int, interrupted: str = "interrupted") -> None:
    """Exit with a result's code once it is reported: 130 the one way, as `Interrupted` (the root app's error map
    prints `interrupted` and, with --json, the error object), any other non-zero as it is."""
    if code == INTERRUPTED:
        raise Interrupted(interrupted)
    if code:
        raise typer.Exit(code)


def warn_config(out: Output, config: Config, *, sends: bool) -> None:
    """The config's warnings; the uncovered-sender one only for commands that send."""
    for warning in config.warnings:
        out.warn(warning)
    if sends and config.sender_uncovered:
        out.warn(config.sender_uncovered)


@dataclass
class Ctx:
    """What a command needs: the validated config, AWS clients (lazily), and the output."""

    config: Config
    out: Output
    _aws: Aws | None = None

    @classmethod
    def load(cls, *, sends: bool = False) -> Ctx:
        """The config the global options name (with their --region, --profile and --endpoint-url), validated.

        sends: the command sends email (or messages that become email), so an uncovered sender is worth a warning."""
        from .. import config as config_module  # lazy: keeps --help fast

        given = settings()
        out = output()
        cfg = config_module.load(given.config).with_overrides(
            region=given.region, profile=given.profile, endpoint_url=given.endpoint_url
        )
        warn_config(out, cfg, sends=sends)
        return cls(config=cfg, out=out)

    def aws(self, max_pool_connections: int = 10) -> Aws:
        """The command's AWS clients: the region resolved, and the account checked (aws.account_id) before
        any other call."""
        if self._aws is None:
            from ..aws import Aws  # lazy: keeps --help fast

            aws = Aws.from_config(self.config, max_pool_connections=max_pool_connections)
            aws.check_account()
            self._aws = aws
        return self._aws

    def target(self, max_pool_connections: int = 10) -> Aws:
        """`aws()`, for a command that plans or changes something: first says what it works on, one line
        (`target: account ****9012, region us-east-1, endpoint AWS, config txnalert.yaml`), and puts the same
        in its JSON result as "target"."""
        aws = self.aws(max_pool_connections)
        target = aws.target()
        self.out.target = target
        if not self.out.json_mode:
            self.out.info(
                f"target: account {target['account']}, region {target['region']}, endpoint {target['endpoint']}, "
                f"config {target['config']}"
            )
        return aws

    def where(self) -> str:
        """The target in a question: "account ****9012 in us-east-1"."""
        target = self.out.target or {}
        return f"account {target.get('account', 'unknown')} in {target.get('region', 'unknown')}"

    @staticmethod
    def can_ask() -> bool:
        """Whether a question can be asked (stdin is a terminal)."""
        return stdin_is_terminal()

    def confirm(
        self,
        *,
        yes: bool,
        what: str,
        question: str,
        declined: str,
        preview: Callable[[Output], None] | None = None,
    ) -> None:
        """Ask before a change: `--yes` skips it; without a terminal to ask on, exit 2 saying to pass --yes.

        `what` completes "<what>: pass --yes to confirm", `preview` shows what would change (human mode),
        `declined` is said when the answer is no (then exit 1)."""
        if yes:
            return
        if not self.can_ask():
            raise UsageError(f"{what}: pass --yes to confirm (no terminal to ask)")
        if preview is not None and not self.out.json_mode:
            preview(self.out)
        if not typer.confirm(question, default=False, err=True):
            raise Declined(declined)
