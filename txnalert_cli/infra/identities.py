"""SES identities: start verification (through the plan/executor), report status, DKIM records, the
account's sandbox status and send quota."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..config import DOMAIN_RE, EMAIL_RE, SES_SIMULATOR_DOMAIN, Config, sender_identity_in
from ..errors import ConfigError, TxnalertError, UsageError, error_code
from .resources import IdentitySpec, Plan

SUCCESS = "Success"


class VerificationTimeout(TxnalertError):
    """--wait ran out before every identity was verified."""


class SenderNotCovered(ConfigError):
    """ses.sender is covered by no identity of ses.identities, and the account holds none verified: SES would
    reject every email. A config error (exit 2), raised before any change or send."""

    def __init__(self, config: Config) -> None:
        sender = config.ses.sender
        self.domain = sender.rsplit("@", 1)[-1]
        super().__init__(
            [
                f"{config.source}: ses.sender: {sender} is not covered by ses.identities, and the account has "
                f"neither {sender} nor {self.domain} as a verified SES identity: add {self.domain} (or {sender}) "
                "to ses.identities"
            ]
        )


@dataclass
class IdentityStatus:
    identity: str
    type: str  # email or domain
    status: str  # Success, Pending, Failed, TemporaryFailure, NotStarted
    dkim_records: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "type": self.type, "status": self.status, "dkim_records": self.dkim_records}


@dataclass
class AccountStatus:
    sandbox: bool | None  # None: the endpoint cannot tell (moto does not serve SESv2 GetAccount)
    max_send_rate: float
    max_24h_send: float
    sent_last_24h: float
    source: str  # "sesv2 GetAccount" or "ses GetSendQuota"

    def as_dict(self) -> dict[str, Any]:
        return {
            "sandbox": self.sandbox,
            "max_send_rate": self.max_send_rate,
            "max_24h_send": self.max_24h_send,
            "sent_last_24h": self.sent_last_24h,
            "source": self.source,
        }


@dataclass
class VerifyResult:
    plan: Plan
    identities: list[IdentityStatus]
    account: AccountStatus
    warnings: list[str]

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


def is_simulator(address: str) -> bool:
    return address.lower().endswith("@" + SES_SIMULATOR_DOMAIN)


def identity_statuses(aws: Any, identities: list[str], *, dkim: bool = True) -> list[IdentityStatus]:
    """Verification status of each identity; with dkim, a domain's DKIM CNAME records too."""
    ses = aws.client("ses")
    attributes = ses.get_identity_verification_attributes(Identities=identities)["VerificationAttributes"]
    domains = [i for i in identities if "@" not in i] if dkim else []
    dkim_attributes = ses.get_identity_dkim_attributes(Identities=domains)["DkimAttributes"] if domains else {}
    statuses = []
    for identity in identities:
        status = attributes.get(identity, {}).get("VerificationStatus", "NotStarted")
        records = []
        if "@" not in identity and dkim:
            tokens = dkim_attributes.get(identity, {}).get("DkimTokens", [])
            if not tokens:  # moto does not generate tokens with SESv2 CreateEmailIdentity; v1 does
                tokens = ses.verify_domain_dkim(Domain=identity)["DkimTokens"]
            records = [
                {"name": f"{t}._domainkey.{identity}", "type": "CNAME", "value": f"{t}.dkim.amazonses.com"}
                for t in tokens
            ]
        statuses.append(IdentityStatus(identity, "domain" if "@" not in identity else "email", status, records))
    return statuses


def sender_identity(aws: Any, config: Config) -> str:
    """The SES identity the sender is authorised by: the address itself when it is an identity, else its
    domain (SES matches the From address). The config's identities decide (setup creates them); a sender they
    do not cover is accepted only when the account already holds its address or domain verified (one SES
    GetIdentityVerificationAttributes call), else SenderNotCovered."""
    sender = config.ses.sender
    configured = sender_identity_in(sender, config.ses.identities)
    if configured is not None:
        return configured
    domain = sender.rsplit("@", 1)[-1]
    for status in identity_statuses(aws, [sender, domain], dkim=False):
        if status.status == SUCCESS:
            return status.identity
    raise SenderNotCovered(config)


def account_status(aws: Any) -> AccountStatus:
    """Sandbox status from SESv2 GetAccount; moto answers 404 there, so fall back to SES v1 GetSendQuota."""
    try:
        account = aws.client("sesv2").get_account()
        quota = account.get("SendQuota", {})
        return AccountStatus(
            sandbox=not account.get("ProductionAccessEnabled", False),
            max_send_rate=float(quota.get("MaxSendRate", 0)),
            max_24h_send=float(quota.get("Max24HourSend", 0)),
            sent_last_24h=float(quota.get("SentLast24Hours", 0)),
            source="sesv2 GetAccount",
        )
    except Exception as exc:
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status not in (404, 501) and error_code(exc) not in (
            "NotFoundException",
            "UnknownOperationException",
            "404",
        ):
            raise
    quota = aws.client("ses").get_send_quota()
    return AccountStatus(
        sandbox=None,
        max_send_rate=float(quota.get("MaxSendRate", 0)),
        max_24h_send=float(quota.get("Max24HourSend", 0)),
        sent_last_24h=float(quota.get("SentLast24Hours", 0)),
        source="ses GetSendQuota",
    )


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


def verify(
    aws: Any,
    config: Config,
    identities: list[str] | None = None,
    *,
    wait: bool = False,
    timeout: float = 300,
    poll_seconds: float = 5,
) -> VerifyResult:
    """Start verification of the identities that do not exist yet, then report their status."""
    from .resources import Executor, Planner

    names = list(identities or config.ses.identities)
    if not names:
        raise UsageError("no identities: name some, or set ses.identities in the config")
    for name in names:
        if not (EMAIL_RE.match(name) or DOMAIN_RE.match(name)):
            raise UsageError(f"{name!r} is neither an email address nor a domain")
    specs = [IdentitySpec(name=name, tags=config.resource_tags) for name in names]
    plan = Planner(aws).plan(specs)
    if plan.pending:
        Executor(aws).apply(plan)
    statuses = identity_statuses(aws, names)
    deadline = time.monotonic() + timeout
    while wait and not all(s.status == SUCCESS for s in statuses):
        if time.monotonic() >= deadline:
            pending = ", ".join(f"{s.identity} ({s.status})" for s in statuses if s.status != SUCCESS)
            raise VerificationTimeout(f"not verified after {timeout:.0f} s: {pending}")
        time.sleep(poll_seconds)
        statuses = identity_statuses(aws, names)
    account = account_status(aws)
    verified = {
        s.identity.lower()
        for s in identity_statuses(aws, sorted({*names, config.send_test.recipient}))
        if s.status == SUCCESS
    }
    return VerifyResult(plan, statuses, account, recipient_warnings(config, account, verified))
