"""Shared options as Annotated aliases, and the per-command context built from them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from ..config import Config
from ..errors import UsageError
from ..output import Output

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
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
ApplyYesOpt = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Apply without asking (against AWS; required there without a terminal)."),
]
DetailedExitcodeOpt = Annotated[
    bool,
    typer.Option(
        "--detailed-exitcode",
        help="With --dry-run: exit 0 when nothing would change, 3 when changes are pending (1 error, 2 usage).",
    ),
]


def stdin_is_terminal() -> bool:
    """Whether there is someone to ask: stdin is a terminal."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


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
    _aws: Any = None

    @classmethod
    def load(
        cls,
        config_path: str | None,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        json_mode: bool = False,
        sends: bool = False,
    ) -> Ctx:
        """sends: the command sends email (or messages that become email), so an uncovered sender is worth a warning."""
        from .. import config as config_module

        out = Output(json_mode)
        cfg = config_module.load(config_path).with_overrides(region=region, profile=profile, endpoint_url=endpoint_url)
        warn_config(out, cfg, sends=sends)
        return cls(config=cfg, out=out)

    def aws(self, max_pool_connections: int = 10) -> Any:
        """The command's AWS clients: the region resolved, and the account checked (aws.account_id) before
        any other call."""
        if self._aws is None:
            from ..aws import Aws

            aws = Aws.from_config(self.config, max_pool_connections=max_pool_connections)
            aws.check_account()
            self._aws = aws
        return self._aws

    def target(self, max_pool_connections: int = 10) -> Any:
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
            self.out.info(declined)
            raise typer.Exit(1)
