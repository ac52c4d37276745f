"""`txnalert verify-identity`: start verification of SES identities (planned and applied as the identity kind),
then report their status, DKIM records, the account's sandbox status and send quota (`ses.py` reads them)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..aws import Aws
from ..config import DOMAIN_RE, EMAIL_RE, Config
from ..errors import TxnalertError, UsageError
from .apply import Executor
from .kinds.base import Env, Plan
from .kinds.identity import IdentitySpec
from .plan import Planner
from .ses import SUCCESS, AccountStatus, IdentityStatus, account_status, identity_statuses, is_simulator


class VerificationTimeout(TxnalertError):
    """--wait ran out before every identity was verified."""


@dataclass
class VerifyResult:
    plan: Plan
    identities: list[IdentityStatus]
    account: AccountStatus
    warnings: list[str]
    exit_code: int = 0

    @property
    def all_verified(self) -> bool:
        return all(i.status == SUCCESS for i in self.identities)

    def as_dict(self) -> dict[str, Any]:
        return {
            "changes": [c.as_dict() for c in self.plan.changes],
            "identities": [i.as_dict() for i in self.identities],
            "account": self.account.as_dict(),
            "warnings": self.warnings,
        }


def recipient_warnings(config: Config, account: AccountStatus, verified: set[str]) -> list[str]:
    recipient = config.send_test.recipient
    domain = recipient.rsplit("@", 1)[-1].lower()
    if is_simulator(recipient) or recipient.lower() in verified or domain in verified:
        return []
    if account.sandbox is True:
        return [
            f"the account is in the SES sandbox and send_test.recipient {recipient} is not verified: "
            "SES will reject it (verify it, use a mailbox simulator address, or request production access)"
        ]
    if account.sandbox is None:
        return [
            f"sandbox status is unknown here; if the account is in the SES sandbox, send_test.recipient "
            f"{recipient} must be verified (or use a mailbox simulator address)"
        ]
    return []


def _names(config: Config, identities: list[str] | None) -> list[str]:
    names = list(identities or config.ses.identities)
    if not names:
        raise UsageError("no identities: name some, or set ses.identities in the config")
    for name in names:
        if not (EMAIL_RE.match(name) or DOMAIN_RE.match(name)):
            raise UsageError(f"{name!r} is neither an email address nor a domain")
    return names


def _wait(
    aws: Aws, names: list[str], *, timeout: float, poll_seconds: float, sleep: Callable[[float], None]
) -> list[IdentityStatus]:
    """The identities' statuses once every one is verified; VerificationTimeout after `timeout`."""
    statuses = identity_statuses(aws, names)
    deadline = time.monotonic() + timeout
    while not all(s.status == SUCCESS for s in statuses):
        if time.monotonic() >= deadline:
            pending = ", ".join(f"{s.identity} ({s.status})" for s in statuses if s.status != SUCCESS)
            raise VerificationTimeout(f"not verified after {timeout:.0f} s: {pending}")
        sleep(poll_seconds)
        statuses = identity_statuses(aws, names)
    return statuses


def verify(
    aws: Aws,
    config: Config,
    identities: list[str] | None = None,
    *,
    wait: bool = False,
    timeout: float = 300,
    poll_seconds: float = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> VerifyResult:
    """Start verification of the identities that do not exist yet, then report their status."""
    names = _names(config, identities)
    env = Env(aws, config, planning=False)
    plan = Planner(env).plan([IdentitySpec(name=name, tags=config.resource_tags) for name in names])
    if plan.pending:
        Executor(aws).apply(plan)
    if wait:
        statuses = _wait(aws, names, timeout=timeout, poll_seconds=poll_seconds, sleep=sleep)
    else:
        statuses = identity_statuses(aws, names)
    account = account_status(aws)
    verified = {
        s.identity.lower()
        for s in identity_statuses(aws, sorted({*names, config.send_test.recipient}))
        if s.status == SUCCESS
    }
    return VerifyResult(plan, statuses, account, recipient_warnings(config, account, verified))
