"""Desired resources -> a read-only plan -> an executor, the only code that makes changing calls.

Desired resources are plain dataclasses built from the config (`desired(config)`). The `Planner` reads
what exists (describe/get/list calls only) and returns a `Plan`: one `Change` per resource, `create`,
`update` (with the changed attributes) or `unchanged`. `Executor.apply(plan)` carries it out in order.
A dry run is the same plan, printed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .config import RETENTION_MAX, Config
from .errors import ApplyError, ResourceConflict, error_code, from_botocore

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"
QUEUE = "sqs-queue"
TABLE = "dynamodb-table"
IDENTITY = "ses-identity"

# The idempotency table's layout is the Powertools DynamoDB persistence layer's default (the handler's
# constants are the source of truth; they are repeated here so the CLI does not import the handler's
# boto3/powertools code to plan).
IDEMPOTENCY_KEY_ATTR = "id"
IDEMPOTENCY_EXPIRY_ATTR = "expiration"

# Attributes SQS fixes at creation: changing them means a new queue.
_IMMUTABLE_QUEUE_ATTRIBUTES = ("FifoQueue",)


# --- desired resources ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue as the config wants it. `redrive_to` names the DLQ of a main queue."""

    role: str  # "dlq" or "main"
    name: str
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str]
    redrive_to: str | None = None
    max_receive_count: int | None = None
    kind: str = QUEUE


def _queue_attributes(config: Config, *, dlq: bool) -> dict[str, str]:
    q = config.queue
    attributes = {
        "VisibilityTimeout": str(q.visibility_timeout),
        # Dead letters keep their original enqueue time on standard queues, so the DLQ keeps messages
        # for the maximum (14 days) to outlive the source queue's retention.
        "MessageRetentionPeriod": str(RETENTION_MAX if dlq else q.message_retention),
        "ReceiveMessageWaitTimeSeconds": str(q.receive_wait),
        "MaximumMessageSize": str(q.max_message_size),
        "DelaySeconds": "0",
        "SqsManagedSseEnabled": "true",
    }
    if q.fifo:
        attributes["FifoQueue"] = "true"
        attributes["ContentBasedDeduplication"] = "true"
    return attributes


def desired_queues(config: Config) -> list[QueueSpec]:
    """The DLQ first, then the main queue with its redrive policy to the DLQ."""
    q = config.queue
    return [
        QueueSpec(
            role="dlq",
            name=q.dlq.name,
            fifo=q.fifo,
            attributes=_queue_attributes(config, dlq=True),
            tags=config.resource_tags,
        ),
        QueueSpec(
            role="main",
            name=q.name,
            fifo=q.fifo,
            attributes=_queue_attributes(config, dlq=False),
            tags=config.resource_tags,
            redrive_to=q.dlq.name,
            max_receive_count=q.dlq.max_receive_count,
        ),
    ]


@dataclass(frozen=True)
class TableSpec:
    """The DynamoDB idempotency table: on-demand, TTL on the Powertools expiry attribute."""

    name: str
    tags: dict[str, str]
    key_attr: str = IDEMPOTENCY_KEY_ATTR
    ttl_attr: str = IDEMPOTENCY_EXPIRY_ATTR
    kind: str = TABLE


@dataclass(frozen=True)
class IdentitySpec:
    """An SES identity (an email address or a domain) that must be verified to send."""

    name: str
    tags: dict[str, str]
    kind: str = IDENTITY

    @property
    def is_domain(self) -> bool:
        return "@" not in self.name


def desired(config: Config) -> list[Any]:
    """Every resource of the pipeline, in dependency order."""
    return [
        *desired_queues(config),
        TableSpec(name=config.idempotency.table, tags=config.resource_tags),
        *(IdentitySpec(name=identity, tags=config.resource_tags) for identity in config.ses.identities),
    ]


# --- the plan -------------------------------------------------------------------------------------


@dataclass
class Change:
    resource: str
    name: str
    action: str
    details: dict[str, Any]
    spec: Any = None
    current: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "name": self.name, "action": self.action, "details": self.details}


@dataclass
class Plan:
    changes: list[Change]

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != UNCHANGED]

    def counts(self) -> dict[str, int]:
        counts = {CREATE: 0, UPDATE: 0, UNCHANGED: 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {"changes": [c.as_dict() for c in self.changes], "summary": self.counts()}


def _redrive_policy(dlq_arn: str, max_receive_count: int) -> dict[str, Any]:
    return {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}


def _parse_redrive(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        policy = json.loads(value)
        return {"deadLetterTargetArn": policy["deadLetterTargetArn"], "maxReceiveCount": int(policy["maxReceiveCount"])}
    except (ValueError, KeyError, TypeError):
        return {"raw": value}


def _other_type_name(spec: QueueSpec) -> str:
    return spec.name[: -len(".fifo")] if spec.fifo else f"{spec.name}.fifo"


class Planner:
    """Read-only: compares desired resources with what exists (describe/get/list calls only)."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.sqs = aws.client("sqs")

    def plan(self, specs: list[Any]) -> Plan:
        changes: list[Change] = []
        queue_arns: dict[str, str | None] = {}
        for spec in specs:
            if spec.kind == QUEUE:
                change = self._plan_queue(spec, queue_arns)
                queue_arns[spec.name] = change.current.get("arn")
            elif spec.kind == TABLE:
                change = self._plan_table(spec)
            elif spec.kind == IDENTITY:
                change = self._plan_identity(spec)
            else:  # pragma: no cover - guarded by desired()
                raise TypeError(f"no planner for {spec.kind}")
            changes.append(change)
        return Plan(changes)

    def _plan_table(self, spec: TableSpec) -> Change:
        ddb = self.aws.client("dynamodb")
        try:
            table = ddb.describe_table(TableName=spec.name)["Table"]
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            details = {
                "KeySchema": f"{spec.key_attr} (HASH, S)",
                "BillingMode": "PAY_PER_REQUEST",
                "TimeToLive": spec.ttl_attr,
                "Tags": dict(spec.tags),
            }
            return Change(TABLE, spec.name, CREATE, details, spec)
        key = [(k["AttributeName"], k["KeyType"]) for k in table.get("KeySchema", [])]
        if key != [(spec.key_attr, "HASH")]:
            raise ResourceConflict(
                f"table {spec.name!r} exists with key {key}, but the idempotency table needs a single "
                f"partition key {spec.key_attr!r}: use another idempotency.table"
            )
        current = {"arn": table["TableArn"]}
        diff: dict[str, Any] = {}
        billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        if billing != "PAY_PER_REQUEST":
            diff["BillingMode"] = {"from": billing, "to": "PAY_PER_REQUEST"}
        ttl = ddb.describe_time_to_live(TableName=spec.name).get("TimeToLiveDescription", {})
        ttl_on = ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
        have_ttl = ttl.get("AttributeName") if ttl_on else None
        if have_ttl != spec.ttl_attr:
            diff["TimeToLive"] = {"from": have_ttl, "to": spec.ttl_attr}
        tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", [])}
        tag_diff = {k: {"from": tags.get(k), "to": v} for k, v in spec.tags.items() if tags.get(k) != v}
        if tag_diff:
            diff["Tags"] = tag_diff
        return Change(TABLE, spec.name, UPDATE if diff else UNCHANGED, diff, spec, current)

    def _plan_identity(self, spec: IdentitySpec) -> Change:
        try:
            self.aws.client("sesv2").get_email_identity(EmailIdentity=spec.name)
        except Exception as exc:
            if error_code(exc) != "NotFoundException":
                raise
            kind = "domain (DKIM records to add)" if spec.is_domain else "email address (verification email)"
            return Change(IDENTITY, spec.name, CREATE, {"type": kind, "Tags": dict(spec.tags)}, spec)
        return Change(IDENTITY, spec.name, UNCHANGED, {}, spec)

    def _queue_url(self, name: str) -> str | None:
        try:
            return str(self.sqs.get_queue_url(QueueName=name)["QueueUrl"])
        except Exception as exc:
            if error_code(exc) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                return None
            raise

    def _plan_queue(self, spec: QueueSpec, queue_arns: dict[str, str | None]) -> Change:
        url = self._queue_url(spec.name)
        if url is None:
            other = _other_type_name(spec)
            if self._queue_url(other) is not None:
                want, have = ("FIFO", "standard") if spec.fifo else ("standard", "FIFO")
                raise ResourceConflict(
                    f"queue.fifo asks for a {want} queue {spec.name!r} but a {have} queue {other!r} exists; "
                    "a queue's type cannot change: delete it or set queue.fifo back"
                )
            details: dict[str, Any] = dict(spec.attributes)
            if spec.redrive_to:
                details["RedrivePolicy"] = {
                    "deadLetterTargetArn": f"<arn of {spec.redrive_to}>",
                    "maxReceiveCount": spec.max_receive_count,
                }
            details["Tags"] = dict(spec.tags)
            return Change(QUEUE, spec.name, CREATE, details, spec)

        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        current = {"url": url, "arn": attrs.get("QueueArn")}
        is_fifo = str(attrs.get("FifoQueue", "false")).lower() == "true"
        if is_fifo != spec.fifo:  # only possible with a hand-made queue whose name disagrees with its type
            raise ResourceConflict(f"queue {spec.name!r} exists with FifoQueue={str(is_fifo).lower()}")
        diff: dict[str, Any] = {}
        for key, want in spec.attributes.items():
            have = attrs.get(key)
            if key in _IMMUTABLE_QUEUE_ATTRIBUTES:
                continue
            if str(have).lower() != want.lower():
                diff[key] = {"from": have, "to": want}
        if spec.redrive_to:
            have_policy = _parse_redrive(attrs.get("RedrivePolicy"))
            dlq_arn = queue_arns.get(spec.redrive_to)
            want_policy = _redrive_policy(dlq_arn or f"<arn of {spec.redrive_to}>", spec.max_receive_count or 5)
            if have_policy != want_policy:
                diff["RedrivePolicy"] = {"from": have_policy, "to": want_policy}
        tags = self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {}) or {}
        tag_diff = {k: {"from": tags.get(k), "to": v} for k, v in spec.tags.items() if tags.get(k) != v}
        if tag_diff:
            diff["Tags"] = tag_diff
        return Change(QUEUE, spec.name, UPDATE if diff else UNCHANGED, diff, spec, current)


class Executor:
    """The only code that makes changing calls. Applies a plan in order; stops at the first failure."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.sqs = aws.client("sqs")

    def apply(self, plan: Plan) -> Plan:
        done: list[str] = []
        queue_arns: dict[str, str] = {c.name: c.current["arn"] for c in plan.changes if c.current.get("arn")}
        for index, change in enumerate(plan.changes):
            try:
                if change.action == UNCHANGED:
                    pass
                elif change.resource == QUEUE:
                    self._apply_queue(change, queue_arns)
                elif change.resource == TABLE:
                    self._apply_table(change)
                elif change.resource == IDENTITY:
                    self._apply_identity(change)
            except Exception as exc:
                translated = from_botocore(exc)
                reason = translated.message if translated else str(exc)
                if not translated and not isinstance(exc, ApplyError | ResourceConflict):
                    raise
                not_done = [f"{c.resource} {c.name}" for c in plan.changes[index:] if c.action != UNCHANGED]
                raise ApplyError(
                    f"{change.action} {change.resource} {change.name} failed: {reason}", done, not_done
                ) from exc
            if change.action != UNCHANGED:
                done.append(f"{change.resource} {change.name}")
        return plan

    def _apply_queue(self, change: Change, queue_arns: dict[str, str]) -> None:
        spec: QueueSpec = change.spec
        attributes = dict(spec.attributes)
        if spec.redrive_to:
            dlq_arn = queue_arns.get(spec.redrive_to)
            if dlq_arn is None:
                raise ApplyError(f"the DLQ {spec.redrive_to!r} has no ARN yet", [], [])
            attributes["RedrivePolicy"] = json.dumps(_redrive_policy(dlq_arn, spec.max_receive_count or 5))
        if change.action == CREATE:
            url = self.sqs.create_queue(QueueName=spec.name, Attributes=attributes, tags=spec.tags)["QueueUrl"]
        else:
            url = change.current["url"]
            changed = {k: attributes[k] for k in change.details if k in attributes}
            if changed:
                self.sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
            if "Tags" in change.details:
                self.sqs.tag_queue(QueueUrl=url, Tags={k: v["to"] for k, v in change.details["Tags"].items()})
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_arns[spec.name] = arn
        change.current = {"url": url, "arn": arn}
        if change.action == CREATE and "RedrivePolicy" in attributes:  # report the DLQ's real ARN
            change.details["RedrivePolicy"] = json.loads(attributes["RedrivePolicy"])

    def _apply_table(self, change: Change) -> None:
        spec: TableSpec = change.spec
        ddb = self.aws.client("dynamodb")
        if change.action == CREATE:
            ddb.create_table(
                TableName=spec.name,
                AttributeDefinitions=[{"AttributeName": spec.key_attr, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": spec.key_attr, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=[{"Key": k, "Value": v} for k, v in spec.tags.items()],
            )
            ddb.get_waiter("table_exists").wait(TableName=spec.name, WaiterConfig={"Delay": 2, "MaxAttempts": 60})
            ddb.update_time_to_live(
                TableName=spec.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attr}
            )
            change.current = {"arn": ddb.describe_table(TableName=spec.name)["Table"]["TableArn"]}
            return
        if "BillingMode" in change.details:
            ddb.update_table(TableName=spec.name, BillingMode="PAY_PER_REQUEST")
        if "TimeToLive" in change.details:
            have = change.details["TimeToLive"]["from"]
            if have:  # only one TTL attribute per table: switch the old one off first
                ddb.update_time_to_live(
                    TableName=spec.name, TimeToLiveSpecification={"Enabled": False, "AttributeName": have}
                )
            ddb.update_time_to_live(
                TableName=spec.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attr}
            )
        if "Tags" in change.details:
            ddb.tag_resource(
                ResourceArn=change.current["arn"],
                Tags=[{"Key": k, "Value": v["to"]} for k, v in change.details["Tags"].items()],
            )

    def _apply_identity(self, change: Change) -> None:
        spec: IdentitySpec = change.spec
        self.aws.client("sesv2").create_email_identity(
            EmailIdentity=spec.name, Tags=[{"Key": k, "Value": v} for k, v in spec.tags.items()]
        )


def plan_and_apply(
    aws: Any, config: Config, *, dry_run: bool, kinds: frozenset[str] | None = None
) -> tuple[Plan, bool]:
    """Plan the pipeline's resources (or only those of `kinds`) and, unless dry_run, apply the plan.

    Returns (plan, applied)."""
    specs = [spec for spec in desired(config) if kinds is None or spec.kind in kinds]
    plan = Planner(aws).plan(specs)
    if dry_run or not plan.pending:
        return plan, False
    return Executor(aws).apply(plan), True
