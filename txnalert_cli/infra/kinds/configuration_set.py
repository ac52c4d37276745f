"""The SES configuration set the handler sends with (`ses.configuration_set`; none when it is null). One of the
same name is adopted (tagged)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...config import Config
from .base import Env, Resolved
from .identity import SesKind, SesSpec
from .model import FAIL, OK, Finding, Row

NAME = "ses-configuration-set"
RANK = 21  # doctor's "configuration set" row, after "identities"


@dataclass(frozen=True)
class ConfigurationSetSpec(SesSpec):
    """The SES configuration set the handler sends with (`ses.configuration_set`)."""

    kind: ClassVar[str] = NAME


class ConfigurationSetKind(SesKind[ConfigurationSetSpec]):
    name = NAME
    arn_prefix = "configuration-set"

    def desired(self, config: Config, env: Env) -> list[ConfigurationSetSpec]:
        name = config.ses.configuration_set
        return [ConfigurationSetSpec(name=name, tags=config.resource_tags)] if name else []

    def get(self, sesv2: Any, name: str) -> dict[str, Any]:
        return dict(sesv2.get_configuration_set(ConfigurationSetName=name))

    def create(self, sesv2: Any, name: str, tags: list[dict[str, str]]) -> None:
        sesv2.create_configuration_set(ConfigurationSetName=name, Tags=tags)

    def remove(self, sesv2: Any, name: str) -> None:
        sesv2.delete_configuration_set(ConfigurationSetName=name)

    def checks(self, specs: list[ConfigurationSetSpec], deps: Resolved) -> list[Row]:
        return [Row("configuration set", RANK, lambda: _exists(specs, deps))]


def _exists(specs: list[ConfigurationSetSpec], deps: Resolved) -> Finding:
    if not specs:
        return Finding(OK, "none named (ses.configuration_set is null)")
    [spec] = specs
    if deps.remote(spec.ref) is None:
        return Finding(
            FAIL, f"{spec.name} does not exist: SES rejects every email sent with it", "run `txnalert setup`"
        )
    return Finding(OK, f"{spec.name} exists")


KIND = ConfigurationSetKind()
