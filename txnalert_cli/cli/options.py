"""Shared options as Annotated aliases, and the per-command context built from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from ..config import Config
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
    str | None, typer.Option("--region", help="AWS region (overrides aws.region).", show_default=False)
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
        if self._aws is None:
            from ..aws import Aws

            self._aws = Aws.from_config(self.config, max_pool_connections=max_pool_connections)
        return self._aws
