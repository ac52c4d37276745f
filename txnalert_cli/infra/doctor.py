"""`txnalert doctor`: read everything the config names and say what is wrong, with the fix.

One row per check: ok (✔), warn (⚠) or fail (✘). The account's rows (credentials, region, the SES sandbox) are
here; every other row is its kind's (`checks`), and the report lists them all by rank. Each row reads what it
needs (each resource is read once and shared) and never changes anything, but for one receive: the DLQ's
oldest message age is read by receiving up to 10 DLQ messages with a visibility timeout of 0 (their receive
count goes up, which does not matter in a DLQ). Each misconfiguration turns exactly its own row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..aws import Aws
from ..config import Config
from ..errors import TxnalertError, from_botocore
from ..handler.contract import mask_account, mask_email
from . import ses
from .kinds import BY_NAME, KINDS
from .kinds.base import Env, Resolved
from .kinds.model import FAIL, MARKS, OK, WARN, Check, Finding, Row
from .plan import desired_specs

RANK_CREDENTIALS, RANK_REGION, RANK_SANDBOX = 0, 1, 22  # the sandbox after the SES identities' rows

__all__ = ["MARKS", "Check", "DoctorReport", "run"]


@dataclass
class DoctorReport:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    @property
    def exit_code(self) -> int:
        """1 when any row fails (✘)."""
        return 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.as_dict() for c in self.checks]}


class AccountChecks:
    """The rows about the account rather than a resource."""

    def __init__(self, deps: Resolved) -> None:
        self.deps = deps
        self.aws = deps.aws

    def rows(self) -> list[Row]:
        return [
            Row("credentials", RANK_CREDENTIALS, self.credentials, vital=True),  # nothing else can be read without
            Row("region", RANK_REGION, self.region),
            Row("sandbox", RANK_SANDBOX, self.sandbox),
        ]

    def credentials(self) -> Finding:
        identity = self.aws.client("sts").get_caller_identity()
        account = str(identity["Account"])
        principal = str(identity.get("Arn", "?")).replace(account, mask_account(account))
        return Finding(OK, f"account {mask_account(account)} as {principal}")

    def region(self) -> Finding:
        where = self.aws.effective_endpoint()
        target = f"emulator at {where}" if self.aws.is_local else (where or "AWS")
        return Finding(OK, f"{self.aws.region} ({target})")

    def sandbox(self) -> Finding:
        account = self.deps.env.ses_account
        recipient = self.deps.env.config.send_test.recipient
        receivable = ses.is_simulator(recipient) or any(
            s.status == ses.SUCCESS
            for s in ses.identity_statuses(self.aws, [recipient, recipient.rsplit("@", 1)[-1]], dkim=False)
        )
        if account.sandbox is False:
            return Finding(OK, "production access: any recipient")
        if account.sandbox is True and not receivable:
            return Finding(
                WARN,
                f"in the SES sandbox; cannot receive: {mask_email(recipient)}",
                "verify the recipient, use a mailbox simulator address, or request production access",
            )
        if account.sandbox is True:
            return Finding(
                WARN,
                "in the SES sandbox: only verified recipients receive (customers will not)",
                "request production access for the account",
            )
        return Finding(
            OK if receivable else WARN,
            "unknown on this endpoint (no SESv2 GetAccount)"
            + ("" if receivable else f"; {mask_email(recipient)} cannot receive if the account is in the sandbox"),
        )


def _check(row: Row) -> Check:
    """The row's finding; an error (a denied read, a conflict) fails the row with its message."""
    try:
        finding = row.run()
    except TxnalertError as exc:
        return Check(row.name, FAIL, exc.message)
    except Exception as exc:
        translated = from_botocore(exc)
        if translated is None:
            raise
        return Check(row.name, FAIL, translated.message)
    return Check(row.name, finding.status, finding.detail, finding.fix)


def run(aws: Aws, config: Config) -> DoctorReport:
    """Every row, in rank order; stops after a failed vital row (the credentials)."""
    env = Env(aws, config, planning=False)
    specs = desired_specs(config, env)
    deps = Resolved(env, BY_NAME, specs, forgiving=True)
    rows = AccountChecks(deps).rows()
    for kind in KINDS:
        rows.extend(kind.checks([s for s in specs if s.kind == kind.name], deps))
    checks = []
    for row in sorted(rows, key=lambda r: r.rank):
        check = _check(row)
        checks.append(check)
        if row.vital and check.status == FAIL:
            break
    return DoctorReport(checks)
