"""What SES says, read only: the identities' verification status and DKIM records, the identity the sender is
authorised by, and the account's sandbox status and send quota.

Below the kinds (the identity and role kinds, the trigger's "auto" concurrency and doctor read these), and
below `identities.verify`, which plans and applies identities: so nothing here imports the planner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..aws import Aws
from ..config import SES_SIMULATOR_DOMAIN, Config, sender_identity_in
from ..errors import ConfigError, error_code

SUCCESS = "Success"
# How an endpoint without SESv2 GetAccount (moto) answers it.
_NO_GET_ACCOUNT_STATUS = (404, 501)
_NO_GET_ACCOUNT_CODES = ("NotFoundException", "UnknownOperationException", "404")


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


def is_simulator(address: str) -> bool:
    return address.lower().endswith("@" + SES_SIMULATOR_DOMAIN)


def _dkim_records(ses: Any, identity: str, attributes: dict[str, Any]) -> list[dict[str, str]]:
    tokens = attributes.get(identity, {}).get("DkimTokens", [])
    if not tokens:  # moto does not generate tokens with SESv2 CreateEmailIdentity; v1 does
        tokens = ses.verify_domain_dkim(Domain=identity)["DkimTokens"]
    return [{"name": f"{t}._domainkey.{identity}", "type": "CNAME", "value": f"{t}.dkim.amazonses.com"} for t in tokens]


def identity_statuses(aws: Aws, identities: list[str], *, dkim: bool = True) -> list[IdentityStatus]:
    """Verification status of each identity; with dkim, a domain's DKIM CNAME records too."""
    ses = aws.client("ses")
    attributes = ses.get_identity_verification_attributes(Identities=identities)["VerificationAttributes"]
    domains = [i for i in identities if "@" not in i] if dkim else []
    dkim_attributes = ses.get_identity_dkim_attributes(Identities=domains)["DkimAttributes"] if domains else {}
    statuses = []
    for identity in identities:
        status = attributes.get(identity, {}).get("VerificationStatus", "NotStarted")
        is_domain = "@" not in identity
        records = _dkim_records(ses, identity, dkim_attributes) if is_domain and dkim else []
        statuses.append(IdentityStatus(identity, "domain" if is_domain else "email", status, records))
    return statuses


def sender_identity(aws: Aws, config: Config) -> str:
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


def covering_identity(aws: Aws, config: Config) -> str | None:
    """`sender_identity`, or None when nothing covers the sender (doctor says so in its own row)."""
    try:
        return sender_identity(aws, config)
    except SenderNotCovered:
        return None


def _no_get_account(exc: Exception) -> bool:
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status in _NO_GET_ACCOUNT_STATUS or error_code(exc) in _NO_GET_ACCOUNT_CODES


def account_status(aws: Aws) -> AccountStatus:
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
        if not _no_get_account(exc):
            raise
    quota = aws.client("ses").get_send_quota()
    return AccountStatus(
        sandbox=None,
        max_send_rate=float(quota.get("MaxSendRate", 0)),
        max_24h_send=float(quota.get("Max24HourSend", 0)),
        sent_last_24h=float(quota.get("SentLast24Hours", 0)),
        source="ses GetSendQuota",
    )
