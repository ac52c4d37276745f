"""`txnalert doctor`: read everything the config names and say what is wrong, with the fix.

Read-only, but for one receive: the DLQ's oldest message age is read by receiving up to 10 DLQ messages
with a visibility timeout of 0 (their receive count goes up, which does not matter in a DLQ). Each check
is one row: ok (✔), warn (⚠) or fail (✘). Each misconfiguration turns exactly its own row: the queue
rows compare every attribute except those with a row of their own (visibility, redrive, SSE, the TLS-only
queue policy).

The role-policy row checks every (action, resource) pair the handler uses, from what it does: SES
SendEmail/SendRawEmail on the identity the sender is authorised by and on the configuration set, the
DynamoDB item actions on the idempotency table, SQS receive/delete/get-attributes on the queue, and its
own logs (`deploy.function_policy` is the one list of them), against every policy of the role.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import VISIBILITY_FACTOR, Config
from ..errors import TxnalertError, error_code, from_botocore
from ..handler.contract import mask_account, mask_email

OK, WARN, FAIL = "ok", "warn", "fail"
MARKS = {OK: "✔", WARN: "⚠", FAIL: "✘"}
# Attributes with a row of their own; the queue rows leave them out.
_OWN_ROWS = {"VisibilityTimeout", "RedrivePolicy", "SqsManagedSseEnabled", "Policy"}


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass
class DoctorReport:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.as_dict() for c in self.checks]}


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    actions = statement.get("Action", [])
    resources = statement.get("Resource", [])
    actions = [actions] if isinstance(actions, str) else actions
    resources = [resources] if isinstance(resources, str) else resources
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
        fnmatch.fnmatchcase(resource, r) for r in resources
    )


def _grants(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """True when an Allow statement matches (action, resource) and no Deny statement does."""
    allowed = any(s.get("Effect") == "Allow" and _matches(s, action, resource) for s in statements)
    return allowed and not any(s.get("Effect") == "Deny" and _matches(s, action, resource) for s in statements)


def _denies_insecure_transport(policy: Any, queue_arn: str) -> bool:
    """A queue policy (parsed) with a Deny for everyone on every SQS action on the queue when
    aws:SecureTransport is false."""
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
            continue
        principal = statement.get("Principal")
        everyone = principal == "*" or (isinstance(principal, dict) and principal.get("AWS") in ("*", ["*"]))
        secure = ((statement.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
        values = [str(v).lower() for v in (secure if isinstance(secure, list) else [secure])]
        if everyone and values == ["false"] and _matches(statement, "sqs:*", queue_arn):
            return True
    return False


class Doctor:
    """Runs the checks; each reads what it needs and never changes anything (see the module note)."""

    def __init__(self, aws: Any, config: Config) -> None:
        self.aws = aws
        self.config = config
        self.checks: list[Check] = []
        self.account = ""
        self.queue_attrs: dict[str, dict[str, str]] = {}
        self.function: dict[str, Any] | None = None
        self.mapping: dict[str, Any] | None = None
        self.ses_account: Any = None

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, status, detail, fix))

    def run(self) -> DoctorReport:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("credentials", self.credentials),
            ("region", self.region),
            ("queue", lambda: self.queue("main")),
            ("dlq", lambda: self.queue("dlq")),
            ("visibility timeout", self.visibility),
            ("max receive count", self.max_receive_count),
            ("encryption (SSE)", self.sse),
            ("TLS-only queue policy", self.tls_only),
            ("dead letters", self.dead_letters),
            ("identities", self.identities),
            ("configuration set", self.configuration_set),
            ("sandbox", self.sandbox),
            ("function", self.function_check),
            ("trigger", self.trigger),
            ("concurrency vs SES rate", self.concurrency),
            ("role policy", self.role_policy),
            ("idempotency table", self.table),
        ]
        for name, step in steps:
            try:
                step()
            except TxnalertError as exc:
                self.add(name, FAIL, exc.message)
            except Exception as exc:
                translated = from_botocore(exc)
                if translated is None:
                    raise
                self.add(name, FAIL, translated.message)
            if name == "credentials" and self.checks[-1].status == FAIL:
                break  # nothing else can be read
        return DoctorReport(self.checks)

    # --- account ---

    def credentials(self) -> None:
        identity = self.aws.client("sts").get_caller_identity()
        self.account = str(identity["Account"])
        principal = str(identity.get("Arn", "?")).replace(self.account, mask_account(self.account))
        self.add("credentials", OK, f"account {mask_account(self.account)} as {principal}")

    def region(self) -> None:
        where = self.aws.effective_endpoint()
        target = f"emulator at {where}" if self.aws.is_local else (where or "AWS")
        self.add("region", OK, f"{self.aws.region} ({target})")

    # --- queues ---

    def queue(self, role: str) -> None:
        from .resources import CREATE, Planner, desired_queues

        spec = next(s for s in desired_queues(self.config) if s.role == role)
        name = "queue" if role == "main" else "dlq"
        planner = Planner(self.aws)
        change = planner._plan_queue(spec, {})
        if change.action == CREATE:
            self.add(name, FAIL, f"{spec.name} does not exist", "run `txnalert setup`")
            return
        url = change.current["url"]
        self.queue_attrs[role] = self.aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
        differs = {k: v for k, v in change.details.items() if k not in _OWN_ROWS}
        if differs:
            text = "; ".join(
                f"{k}: {v['from']} (config: {v['to']})" if "from" in v else f"{k} differs" for k, v in differs.items()
            )
            self.add(name, WARN, f"{spec.name} differs from the config: {text}", "run `txnalert setup`")
        else:
            self.add(name, OK, f"{spec.name} exists with the configured attributes")

    def _function_timeout(self) -> int:
        if self.function is None:
            try:
                self.function = self.aws.client("lambda").get_function_configuration(
                    FunctionName=self.config.lambda_.function_name
                )
            except Exception as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                self.function = {}
        return int(self.function.get("Timeout") or self.config.lambda_.timeout)

    def visibility(self) -> None:
        attrs = self.queue_attrs.get("main")
        if attrs is None:
            self.add("visibility timeout", FAIL, "the queue does not exist", "run `txnalert setup`")
            return
        vis, timeout = int(attrs.get("VisibilityTimeout", 0)), self._function_timeout()
        window = 0 if self.config.queue.fifo else self.config.lambda_.batch_window
        recommended = VISIBILITY_FACTOR * timeout + window
        rule = f"{VISIBILITY_FACTOR} x function timeout {timeout} s" + (f" + batch window {window} s" if window else "")
        fix = f"set queue.visibility_timeout >= {recommended} and run `txnalert setup`"
        if vis < timeout:
            self.add(
                "visibility timeout",
                FAIL,
                f"{vis} s is below the function timeout ({timeout} s): messages are processed twice",
                fix,
            )
        elif vis < recommended:
            self.add(
                "visibility timeout", WARN, f"{vis} s is below {rule} ({recommended} s), AWS's recommendation", fix
            )
        else:
            self.add("visibility timeout", OK, f"{vis} s >= {rule}")

    def max_receive_count(self) -> None:
        attrs = self.queue_attrs.get("main")
        if attrs is None:
            self.add("max receive count", FAIL, "the queue does not exist", "run `txnalert setup`")
            return
        try:
            policy = json.loads(attrs.get("RedrivePolicy") or "{}")
        except ValueError:
            policy = {}
        if not policy.get("deadLetterTargetArn"):
            self.add(
                "max receive count",
                FAIL,
                "no redrive policy: a failing message is retried until it expires",
                "run `txnalert setup`",
            )
            return
        count = int(policy.get("maxReceiveCount", 0))
        target = str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        if target != self.config.queue.dlq.name:
            self.add(
                "max receive count",
                FAIL,
                f"the redrive policy points at {target}, not {self.config.queue.dlq.name}",
                "run `txnalert setup`",
            )
        elif count < 5:
            self.add(
                "max receive count",
                WARN,
                f"{count}: a throttled or failed batch may dead-letter messages early (AWS recommends >= 5)",
                "set queue.dlq.max_receive_count: 5 and run `txnalert setup`",
            )
        else:
            self.add("max receive count", OK, f"{count}, then {target}")

    def sse(self) -> None:
        plain = []
        for role in ("main", "dlq"):
            attrs = self.queue_attrs.get(role)
            if attrs is None:
                continue
            if str(attrs.get("SqsManagedSseEnabled", "false")).lower() != "true" and not attrs.get("KmsMasterKeyId"):
                plain.append(self.config.queue.name if role == "main" else self.config.queue.dlq.name)
        if not self.queue_attrs:
            self.add("encryption (SSE)", FAIL, "the queues do not exist", "run `txnalert setup`")
        elif plain:
            self.add("encryption (SSE)", FAIL, f"not encrypted at rest: {', '.join(plain)}", "run `txnalert setup`")
        else:
            self.add("encryption (SSE)", OK, "both queues encrypted at rest")

    def tls_only(self) -> None:
        from .package import normalize_policy

        if not self.queue_attrs:
            self.add("TLS-only queue policy", FAIL, "the queues do not exist", "run `txnalert setup`")
            return
        open_ = []
        for role in ("dlq", "main"):
            attrs = self.queue_attrs.get(role)
            if attrs is not None and not _denies_insecure_transport(
                normalize_policy(attrs.get("Policy")), str(attrs.get("QueueArn"))
            ):
                open_.append(self.config.queue.name if role == "main" else self.config.queue.dlq.name)
        if open_:
            self.add(
                "TLS-only queue policy",
                FAIL,
                f"{' and '.join(open_)} {'does' if len(open_) == 1 else 'do'} not deny requests without TLS "
                "(no Deny on aws:SecureTransport false)",
                "run `txnalert setup`",
            )
        else:
            self.add("TLS-only queue policy", OK, "both queues deny any request without TLS (aws:SecureTransport)")

    def dead_letters(self) -> None:
        attrs = self.queue_attrs.get("dlq")
        if attrs is None:
            self.add("dead letters", FAIL, "the DLQ does not exist", "run `txnalert setup`")
            return
        count = sum(
            int(attrs.get(k, 0)) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        )
        if count == 0:
            self.add("dead letters", OK, "the DLQ is empty")
            return
        sqs = self.aws.client("sqs")
        url = sqs.get_queue_url(QueueName=self.config.queue.dlq.name)["QueueUrl"]
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["SentTimestamp"],
        ).get("Messages", [])
        sent = [int(m.get("Attributes", {}).get("SentTimestamp", 0)) for m in messages]
        oldest = f", the oldest {_age(time.time() - min(sent) / 1000)} old" if sent else ""
        self.add(
            "dead letters",
            WARN,
            f"{count} messages in the DLQ{oldest}",
            "see why with `txnalert inspect-queue --dlq --peek 5` and `txnalert logs --level WARNING`, "
            "then `txnalert redrive` or `txnalert drain --dlq`",
        )

    # --- SES ---

    def _sender_identity(self) -> str | None:
        """The identity the sender is authorised by (None: the config covers the sender with no identity and
        the account holds none verified)."""
        from .identities import SenderNotCovered, sender_identity

        try:
            return sender_identity(self.aws, self.config)
        except SenderNotCovered:
            return None

    def identities(self) -> None:
        """The configured identities are verified, and so is the sender's address or domain (SES rejects
        every email from an unverified sender)."""
        from ..config import sender_identity_in
        from .identities import SUCCESS, identity_statuses

        names = list(self.config.ses.identities)
        sender = self.config.ses.sender
        domain = sender.rsplit("@", 1)[-1]
        statuses = identity_statuses(self.aws, list(dict.fromkeys([*names, sender, domain])), dkim=False)
        verified = {s.identity.lower() for s in statuses if s.status == SUCCESS}
        problems, fixes = [], []
        bad = [f"{s.identity} ({s.status})" for s in statuses if s.identity in names and s.status != SUCCESS]
        if bad:
            problems.append(f"not verified: {', '.join(bad)}")
            fixes.append("run `txnalert verify-identity --wait`")
        configured = sender_identity_in(sender, names)
        if sender.lower() not in verified and domain.lower() not in verified:
            problems.append(f"sender {sender} is not a verified identity (neither the address nor {domain})")
            if configured is None:
                fixes.insert(
                    0,
                    f"add {domain} (or {sender}) to ses.identities, then run `txnalert setup` and "
                    "`txnalert verify-identity --wait`",
                )
            elif not bad:
                fixes.append("run `txnalert verify-identity --wait`")
        if problems:
            self.add("identities", FAIL, "; ".join(problems), "; ".join(fixes))
            return
        via = configured or self._sender_identity()
        outside = "" if configured else " (verified in the account)"
        self.add("identities", OK, f"verified: {', '.join(names)}; sender {sender} via {via}{outside}")

    def configuration_set(self) -> None:
        from .resources import CONFIG_SET, if_exists

        name = self.config.ses.configuration_set
        if not name:
            self.add("configuration set", OK, "none named (ses.configuration_set is null)")
            return
        sesv2 = self.aws.client("sesv2")
        if if_exists(CONFIG_SET, lambda: sesv2.get_configuration_set(ConfigurationSetName=name)) is None:
            self.add(
                "configuration set",
                FAIL,
                f"{name} does not exist: SES rejects every email sent with it",
                "run `txnalert setup`",
            )
        else:
            self.add("configuration set", OK, f"{name} exists")

    def sandbox(self) -> None:
        from .identities import account_status, identity_statuses, is_simulator

        self.ses_account = account_status(self.aws)
        recipient = self.config.send_test.recipient
        receivable = is_simulator(recipient) or any(
            s.status == "Success"
            for s in identity_statuses(self.aws, [recipient, recipient.rsplit("@", 1)[-1]], dkim=False)
        )
        if self.ses_account.sandbox is False:
            self.add("sandbox", OK, "production access: any recipient")
        elif self.ses_account.sandbox is True and not receivable:
            self.add(
                "sandbox",
                WARN,
                f"in the SES sandbox; cannot receive: {mask_email(recipient)}",
                "verify the recipient, use a mailbox simulator address, or request production access",
            )
        elif self.ses_account.sandbox is True:
            self.add(
                "sandbox",
                WARN,
                "in the SES sandbox: only verified recipients receive (customers will not)",
                "request production access for the account",
            )
        else:
            self.add(
                "sandbox",
                OK if receivable else WARN,
                "unknown on this endpoint (no SESv2 GetAccount)"
                + ("" if receivable else f"; {mask_email(recipient)} cannot receive if the account is in the sandbox"),
            )

    # --- Lambda ---

    def function_check(self) -> None:
        from .package import HANDLER_ENTRY

        self._function_timeout()
        fn = self.function or {}
        name = self.config.lambda_.function_name
        if not fn:
            self.add("function", FAIL, f"{name} does not exist", "run `txnalert setup` (or `txnalert deploy`)")
            return
        problems = []
        if fn.get("State", "Active") != "Active":
            problems.append(f"state {fn.get('State')} ({fn.get('StateReason', '')})")
        if fn.get("LastUpdateStatus", "Successful") != "Successful":
            problems.append(f"last update {fn.get('LastUpdateStatus')} ({fn.get('LastUpdateStatusReason', '')})")
        if fn.get("Handler") != HANDLER_ENTRY:
            problems.append(f"handler {fn.get('Handler')} (built: {HANDLER_ENTRY})")
        if fn.get("Runtime") != self.config.lambda_.runtime:
            problems.append(f"runtime {fn.get('Runtime')} (config: {self.config.lambda_.runtime})")
        if problems:
            self.add("function", FAIL, f"{name}: " + "; ".join(problems), "run `txnalert deploy`")
        else:
            self.add("function", OK, f"{name} Active, last update Successful, {fn.get('Runtime')}, {fn.get('Handler')}")

    def trigger(self) -> None:
        from .package import is_emulator
        from .resources import ENABLED_STATES, find_mappings

        fn = self.function or {}
        main = self.queue_attrs.get("main")
        if not fn or main is None:
            self.add("trigger", FAIL, "needs the queue and the function", "run `txnalert setup`")
            return
        found = find_mappings(self.aws.client("lambda"), main["QueueArn"], fn["FunctionArn"])
        if not found:
            self.add("trigger", FAIL, "no event source mapping from the queue to the function", "run `txnalert setup`")
            return
        self.mapping = found[0]
        m, lam = found[0], self.config.lambda_
        problems, notes = [], []
        enabled = m.get("State") in ENABLED_STATES
        emulator = is_emulator(self.aws)
        if emulator and enabled:
            problems.append("enabled on the emulator: moto deletes or dead-letters messages without running the code")
        elif not emulator and not enabled:
            problems.append(f"state {m.get('State')}: nothing consumes the queue")
        if "ReportBatchItemFailures" not in (m.get("FunctionResponseTypes") or []):
            problems.append("ReportBatchItemFailures is off: one bad record retries (and re-sends) the whole batch")
        if int(m.get("BatchSize", 0)) != lam.batch_size:
            notes.append(f"batch size {m.get('BatchSize')} (config: {lam.batch_size})")
        if not self.config.queue.fifo and int(m.get("MaximumBatchingWindowInSeconds", 0) or 0) != lam.batch_window:
            notes.append(f"batching window {m.get('MaximumBatchingWindowInSeconds')} s (config: {lam.batch_window} s)")
        state = "disabled on the emulator (`txnalert worker` consumes)" if emulator else m.get("State")
        if problems:
            self.add("trigger", FAIL, "; ".join(problems + notes), "run `txnalert setup`")
        elif notes:
            self.add("trigger", WARN, "; ".join(notes), "run `txnalert setup`")
        else:
            self.add("trigger", OK, f"{state}, batch {lam.batch_size}, ReportBatchItemFailures on")

    def concurrency(self) -> None:
        from .identities import account_status
        from .package import EMAILS_PER_SECOND_PER_INVOCATION, concurrency_for_send_rate

        if self.mapping is None:
            self.add("concurrency vs SES rate", FAIL, "no trigger to check", "run `txnalert setup`")
            return
        rate = (self.ses_account or account_status(self.aws)).max_send_rate
        limit = (self.mapping.get("ScalingConfig") or {}).get("MaximumConcurrency")
        fits = concurrency_for_send_rate(rate)
        batch = int(self.mapping.get("BatchSize", self.config.lambda_.batch_size))
        if not limit:
            self.add(
                "concurrency vs SES rate",
                WARN,
                f"no MaximumConcurrency: up to 1000 invocations x {batch} records against SES's {rate:g} emails/s",
                "set lambda.max_concurrency: auto and run `txnalert setup`",
            )
            return
        peak = int(limit) * EMAILS_PER_SECOND_PER_INVOCATION
        detail = (
            f"MaximumConcurrency {limit} x batch {batch}: up to {int(limit) * batch} emails in flight, "
            f"~{peak}/s, SES max send rate {rate:g}/s"
        )
        if int(limit) > fits:
            self.add(
                "concurrency vs SES rate",
                WARN,
                detail + f" (at most {fits} invocations fit)",
                "set lambda.max_concurrency: auto and run `txnalert setup`",
            )
        elif peak > rate and not self.aws.is_local:
            # Even Lambda's minimum concurrency (2) outruns the quota: throttled records are retried by SQS,
            # and a record throttled max_receive_count times is dead-lettered.
            self.add(
                "concurrency vs SES rate",
                WARN,
                detail + ": throttled records are retried, and dead-lettered after max_receive_count throttles",
                "request a higher SES sending quota (production access)",
            )
        else:
            note = " (moto's fixed stand-in quota)" if peak > rate else ""
            self.add("concurrency vs SES rate", OK, detail + note)

    def _role_documents(self, role: str) -> list[tuple[str, dict[str, Any]]]:
        """Every policy that grants the role something: its inline policies and attached managed ones."""
        from .package import normalize_policy

        iam = self.aws.client("iam")
        documents: list[tuple[str, dict[str, Any]]] = []
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
            for name in page.get("PolicyNames", []):
                document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                documents.append((f"inline {name}", normalize_policy(document)))
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
            for attached in page.get("AttachedPolicies", []):
                arn = attached["PolicyArn"]
                version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
                documents.append((f"managed {attached['PolicyName']}", normalize_policy(document)))
        return documents

    def role_policy(self) -> None:
        """Least privilege, checked both ways: every (action, resource) the handler needs is granted, and
        nothing else is: no "*", no wildcard ARN, no extra action, no NotAction/NotResource, in any policy
        of the role (inline or attached)."""
        from .package import PolicyInputs, function_policy

        role = self.config.lambda_.role_name
        try:
            documents = self._role_documents(role)
        except Exception as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            self.add("role policy", FAIL, f"role {role} does not exist", "run `txnalert setup`")
            return
        # What SES authorises the sender by; when nothing covers it (the identities row fails), the domain's
        # identity, which that row's fix adds.
        sender_identity = self._sender_identity() or self.config.ses.sender.rsplit("@", 1)[-1]
        inputs = PolicyInputs.from_config(self.config, self.aws.region, sender_identity)
        required = function_policy(inputs, self.account)["Statement"]
        pairs = [(a, r) for st in required for a in st["Action"] for r in st["Resource"]]
        needed = {(a.lower(), r) for a, r in pairs}
        statements: list[dict[str, Any]] = []
        star, broad, extra = [], [], []
        for label, document in documents:
            for statement in document.get("Statement", []):
                if not isinstance(statement, dict):
                    continue
                statements.append(statement)
                if statement.get("Effect") != "Allow":
                    continue
                if "NotAction" in statement or "NotResource" in statement:
                    broad.append(f"NotAction/NotResource in {label}")
                    continue
                for resource in statement.get("Resource", []):
                    if resource == "*":
                        star.append(label)
                        continue
                    for action in statement.get("Action", []):
                        if (action.lower(), resource) not in needed:
                            extra.append(f"{action} on {resource} ({label})")
        missing = sorted(f"{a} on {r}" for a, r in pairs if not _grants(statements, a, r))
        problems = []
        if star:
            problems.append('"Resource": "*" in ' + ", ".join(sorted(set(star))))
        problems.extend(broad)
        if extra:
            shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
            problems.append(f"grants beyond what the handler needs: {shown}")
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            problems.append(f"missing {shown}")
        if problems:
            self.add(
                "role policy",
                FAIL,
                f"{role}: " + "; ".join(problems),
                "run `txnalert setup` (it rewrites the inline policy and removes other grants)",
            )
        else:
            self.add("role policy", OK, f'{role}: least privilege, no "*" resource, covers every handler action')

    def table(self) -> None:
        from .resources import IDEMPOTENCY_EXPIRY_ATTR, IDEMPOTENCY_KEY_ATTR

        ddb = self.aws.client("dynamodb")
        name = self.config.idempotency.table
        try:
            table = ddb.describe_table(TableName=name)["Table"]
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            self.add(
                "idempotency table",
                FAIL,
                f"{name} does not exist: every delivery would send again",
                "run `txnalert setup`",
            )
            return
        ttl = ddb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        problems = []
        if [(k["AttributeName"], k["KeyType"]) for k in table.get("KeySchema", [])] != [(IDEMPOTENCY_KEY_ATTR, "HASH")]:
            problems.append("wrong key schema")
        if table.get("TableStatus") != "ACTIVE":
            problems.append(f"status {table.get('TableStatus')}")
        if (
            ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING")
            or ttl.get("AttributeName") != IDEMPOTENCY_EXPIRY_ATTR
        ):
            problems.append(f"TTL is not on {IDEMPOTENCY_EXPIRY_ATTR}: records never expire")
        if problems:
            self.add("idempotency table", FAIL, f"{name}: " + "; ".join(problems), "run `txnalert setup`")
        else:
            self.add("idempotency table", OK, f"{name}, TTL on {IDEMPOTENCY_EXPIRY_ATTR}")


def run_doctor(aws: Any, config: Config) -> DoctorReport:
    return Doctor(aws, config).run()
