"""Desired resources -> a read-only plan -> an executor, the only code that makes changing calls.

Desired resources are plain dataclasses built from the config (`desired(config)`), in dependency order:
DLQ, queue (both with a TLS-only queue policy), idempotency table, SES identities, the SES configuration set
(when `ses.configuration_set` names one), the function's IAM role (with its one inline policy), the Lambda
function, and its SQS trigger (the event source mapping). The `Planner` reads what exists
(get/list/describe calls only) and returns a `Plan`: one `Change` per resource, `create`, `update` (with
the changed attributes) or `unchanged`. What does not exist yet is referred to by placeholders such as
`<arn of txq-dlq>` that the executor resolves as it goes. `Executor.apply(plan)` carries the plan out in
order and stops at the first failure, saying what was done and what was not. A dry run is the same plan,
printed.

What an existing resource of the same name may become (ownership)
    txnalert marks what it creates with the config's tags (`managed-by: txnalert` plus `tags`).
    - The IAM role and the Lambda function are changed only when they carry every one of those tags.
      Otherwise the plan fails with ResourceConflict and changes nothing: taking them over would replace
      another owner's code, or strip the role's other policies (least privilege: the role keeps only
      txnalert's inline policy, and the plan says which policies it would `remove`).
    - Queues, the idempotency table, SES identities and the configuration set of the same name are adopted:
      txnalert adds its tags and sets the attributes it manages; nothing is deleted and no data is touched.
      When such a resource lacks `managed-by: txnalert`, the plan's details say `adopt (untagged)`.
    - The trigger has no tags: the mapping from the config's queue to the config's function (by the
      function's ARN, built from its name when the function does not exist) is adopted and updated, never
      duplicated. Lambda keeps a deleted function's mappings; such an orphan is re-attached to the
      function created again under the same name.

A function whose `State` or `LastUpdateStatus` is `Failed` is never `unchanged`: it is planned as an update
(code and configuration uploaded again). When a Lambda waiter gives up, the error says what the function
reports (`StateReason`, `LastUpdateStatusReason`), and the plan stops there: no trigger is attached to a
function that is not Active.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import MANAGED_BY_KEY, MANAGED_BY_VALUE, RETENTION_MAX, Config, check_region_fits
from ..errors import (
    ApplyError,
    QueueNotFound,
    ResourceConflict,
    TxnalertError,
    error_code,
    from_botocore,
)
from ..handler import layout
from ..queue.inspect import NOT_FOUND_CODES as QUEUE_NOT_FOUND_CODES
from ..queue.inspect import find_queue_url

if TYPE_CHECKING:
    from .package import FunctionPackage, PolicyInputs

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"
QUEUE = "sqs-queue"
TABLE = "dynamodb-table"
IDENTITY = "ses-identity"
CONFIG_SET = "ses-configuration-set"
ROLE = "iam-role"
FUNCTION = "lambda-function"
MAPPING = "event-source-mapping"
KINDS = (QUEUE, TABLE, IDENTITY, CONFIG_SET, ROLE, FUNCTION, MAPPING)  # dependency order
LAMBDA_KINDS = frozenset({ROLE, FUNCTION, MAPPING})  # what `txnalert deploy` plans

# A new IAM role takes seconds to become assumable by Lambda (and a new policy to take effect): these calls
# are retried with backoff on the errors that mean "not yet", for at most ROLE_PROPAGATION_SECONDS.
ROLE_PROPAGATION_SECONDS = 60.0
_PROPAGATION_MESSAGES = (
    "cannot be assumed by lambda",
    "the role defined for the function cannot be assumed",
    "execution role does not have permissions",
)
# Event source mapping states: the ones that mean "enabled" (also for doctor), and the transitional ones an
# update must wait out, for at most MAPPING_SETTLE_SECONDS.
ENABLED_STATES: tuple[str, ...] = ("Enabled", "Enabling", "Creating", "Updating")
TRANSITIONAL_STATES: tuple[str, ...] = ("Creating", "Enabling", "Disabling", "Updating")
MAPPING_SETTLE_SECONDS = 60.0

# How the plan's details say that an existing resource without `managed-by: txnalert` is taken over.
ADOPT_UNTAGGED = "adopt (untagged)"

# The idempotency table's layout: the handler's (handler/layout.py, standard library only) is the one definition.
IDEMPOTENCY_KEY_ATTR = layout.KEY_ATTR
IDEMPOTENCY_EXPIRY_ATTR = layout.EXPIRY_ATTR

# Attributes SQS fixes at creation: changing them means a new queue.
_IMMUTABLE_QUEUE_ATTRIBUTES = ("FifoQueue",)

# A function in one of these is planned as an update: (status field, its healthy value, the reason field).
_FUNCTION_FAILED = (("State", "Active", "StateReason"), ("LastUpdateStatus", "Successful", "LastUpdateStatusReason"))


class RoleNotReady(TxnalertError):
    """Lambda kept refusing a new role (IAM propagation) for longer than we wait."""


class MappingNotSettled(TxnalertError):
    """An event source mapping stayed in a transitional state for longer than we wait."""


class FunctionNotReady(TxnalertError):
    """A Lambda waiter gave up: the function is Failed, or did not settle in time."""


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


@dataclass(frozen=True)
class ConfigurationSetSpec:
    """The SES configuration set the handler sends with (`ses.configuration_set`)."""

    name: str
    tags: dict[str, str]
    kind: str = CONFIG_SET


@dataclass(frozen=True)
class RoleSpec:
    """The function's IAM role: trusted by Lambda only, one inline least-privilege policy."""

    name: str
    policy_inputs: PolicyInputs
    tags: dict[str, str]
    description: str = "txnalert: the transaction email function's role (SQS -> Lambda -> SES)"
    kind: str = ROLE

    @property
    def policy_name(self) -> str:
        from .package import INLINE_POLICY_NAME

        return INLINE_POLICY_NAME

    def trust_policy(self) -> dict[str, Any]:
        from .package import trust_policy

        return trust_policy()

    def policy(self, account: str) -> dict[str, Any]:
        from .package import function_policy

        return function_policy(self.policy_inputs, account)


@dataclass(frozen=True)
class FunctionSpec:
    """The Lambda function: its code (the zip), configuration and environment."""

    name: str
    role_name: str
    runtime: str
    timeout: int
    memory: int
    architecture: str
    environment: dict[str, str]
    tags: dict[str, str]
    package: FunctionPackage
    description: str = "txnalert: one alert email per transaction (SQS -> SES)"
    kind: str = FUNCTION

    @property
    def handler(self) -> str:
        return self.package.handler

    @property
    def layers(self) -> list[str]:
        return list(self.package.layers)


@dataclass(frozen=True)
class MappingSpec:
    """The SQS trigger: queue -> function. `max_concurrency` None means "auto" (from the SES send rate);
    `enabled` is False on the emulator, where moto would not run our code (`txnalert worker` consumes there)."""

    queue_name: str
    function_name: str
    fifo: bool
    batch_size: int
    batch_window: int
    max_concurrency: int | None
    enabled: bool
    kind: str = MAPPING

    @property
    def name(self) -> str:
        return f"{self.queue_name} -> {self.function_name}"


def desired(
    config: Config,
    *,
    region: str,
    kinds: frozenset[str] | None = None,
    emulator: bool = False,
    package: FunctionPackage | None = None,
    sender_identity: str | None = None,
) -> list[Any]:
    """Every resource of the pipeline (or only those of `kinds`), in dependency order.

    `region` is the command's resolved region (`Aws.region`). The function's zip is built only when the
    function is wanted and no `package` is given. The role needs `sender_identity`, the SES identity the
    sender is authorised by (`identities.sender_identity`)."""

    def wanted(kind: str) -> bool:
        return kinds is None or kind in kinds

    specs: list[Any] = []
    if wanted(QUEUE):
        specs.extend(desired_queues(config))
    if wanted(TABLE):
        specs.append(TableSpec(name=config.idempotency.table, tags=config.resource_tags))
    if wanted(IDENTITY):
        specs.extend(IdentitySpec(name=identity, tags=config.resource_tags) for identity in config.ses.identities)
    if wanted(CONFIG_SET) and config.ses.configuration_set:
        specs.append(ConfigurationSetSpec(name=config.ses.configuration_set, tags=config.resource_tags))
    lam = config.lambda_
    if wanted(ROLE):
        from .package import PolicyInputs

        if sender_identity is None:
            raise ValueError("desired(): the role's policy needs sender_identity (identities.sender_identity)")
        inputs = PolicyInputs.from_config(config, region, sender_identity)
        specs.append(RoleSpec(name=lam.role_name, policy_inputs=inputs, tags=config.resource_tags))
    if wanted(FUNCTION):
        from .package import build_package, function_environment

        check_region_fits(config, region)
        specs.append(
            FunctionSpec(
                name=lam.function_name,
                role_name=lam.role_name,
                runtime=lam.runtime,
                timeout=lam.timeout,
                memory=lam.memory,
                architecture=lam.architecture,
                environment=function_environment(config),
                tags=config.resource_tags,
                package=package or build_package(config),
            )
        )
    if wanted(MAPPING):
        specs.append(
            MappingSpec(
                queue_name=config.queue.name,
                function_name=lam.function_name,
                fifo=config.queue.fifo,
                batch_size=lam.batch_size,
                batch_window=lam.batch_window,
                max_concurrency=None if isinstance(lam.max_concurrency, str) else lam.max_concurrency,
                enabled=not emulator,
            )
        )
    return specs


# --- the plan -------------------------------------------------------------------------------------


@dataclass
class Change:
    resource: str
    name: str
    action: str
    details: dict[str, Any]
    spec: Any = None
    current: dict[str, Any] = field(default_factory=dict)
    resolved: dict[str, Any] = field(default_factory=dict)  # what the planner computed for the executor

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


def _parse_json(value: str | None) -> Any:
    """A JSON attribute (a queue's Policy) as a document; None when unset; the text itself when not JSON."""
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _other_type_name(spec: QueueSpec) -> str:
    return spec.name[: -len(".fifo")] if spec.fifo else f"{spec.name}.fifo"


def _tag_diff(have: dict[str, str], want: dict[str, str]) -> dict[str, Any]:
    return {k: {"from": have.get(k), "to": v} for k, v in want.items() if have.get(k) != v}


def tags_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """[{"Key": k, "Value": v}, ...] (IAM, DynamoDB, SESv2) -> {k: v}."""
    return {t["Key"]: t["Value"] for t in tags or []}


def _tags_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def missing_tags(have: dict[str, str], want: dict[str, str]) -> dict[str, str]:
    """The tags of `want` that `have` lacks (or carries with another value): empty when the resource is ours."""
    return {k: v for k, v in want.items() if have.get(k) != v}


def tags_text(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _adopting(diff: dict[str, Any], have: dict[str, str], want: dict[str, str]) -> dict[str, Any]:
    """An adoptable resource's update details: `Ownership: adopt (untagged)` first when txnalert did not create
    it (no `managed-by: txnalert`), then `diff` (its attributes), then the tags to add."""
    details: dict[str, Any] = {}
    if have.get(MANAGED_BY_KEY) != MANAGED_BY_VALUE:
        details["Ownership"] = ADOPT_UNTAGGED
    details.update(diff)
    tag_diff = _tag_diff(have, want)
    if tag_diff:
        details["Tags"] = tag_diff
    return details


def _refuse_unowned(what: str, name: str, have: dict[str, str], want: dict[str, str], rename: str) -> None:
    """ResourceConflict unless the resource carries the config's tags: it is never changed then."""
    missing = missing_tags(have, want)
    if not missing:
        return
    why = f"no {MANAGED_BY_KEY} tag" if MANAGED_BY_KEY in missing else f"not tagged {tags_text(missing)}"
    raise ResourceConflict(
        f"{what} {name!r} exists and was not created by txnalert for this config ({why}): set {rename} to another "
        f"name, or tag it {tags_text(missing)} to let txnalert manage it"
    )


def placeholder(what: str) -> str:
    """How the plan refers to the ARN of something that does not exist yet."""
    return f"<arn of {what}>"


def unqualified_function_arn(arn: str) -> str:
    """arn:aws:lambda:r:a:function:name[:qualifier] -> arn:aws:lambda:r:a:function:name."""
    return ":".join(arn.split(":")[:7])


def account_id(aws: Any) -> str:
    """The account id of the credentials (STS GetCallerIdentity, once per Aws; moto: 123456789012)."""
    return str(aws.caller_account())


_T = TypeVar("_T")
# The error codes with which each service says "no such resource".
NOT_FOUND_CODES: dict[str, tuple[str, ...]] = {
    QUEUE: QUEUE_NOT_FOUND_CODES,
    TABLE: ("ResourceNotFoundException",),
    IDENTITY: ("NotFoundException",),
    CONFIG_SET: ("NotFoundException",),
    ROLE: ("NoSuchEntity",),
    FUNCTION: ("ResourceNotFoundException",),
    MAPPING: ("ResourceNotFoundException",),
}


def if_exists(kind: str, call: Callable[[], _T]) -> _T | None:
    """`call()`'s answer; None when AWS answers that the resource (of `kind`) does not exist."""
    try:
        return call()
    except Exception as exc:
        if error_code(exc) in NOT_FOUND_CODES[kind]:
            return None
        raise


def queue_arn_of(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def built_arn(aws: Any, account: str, service: str, resource: str) -> str:
    """The ARN of a regional resource by its name (it may not exist): a queue's is
    `built_arn(aws, account, "sqs", name)`, a function's `built_arn(aws, account, "lambda", f"function:{name}")`."""
    from .package import build_arn

    return build_arn(service, aws.region, account, resource)


def sesv2_tags(aws: Any, found: dict[str, Any], arn: str) -> dict[str, str]:
    """An SES identity's or configuration set's tags: the `Tags` of GetEmailIdentity/GetConfigurationSet
    (`found`) and ListTagsForResource on its ARN.

    On AWS both read the same tags. moto keeps two stores: the tags given to CreateEmailIdentity are
    returned by GetEmailIdentity only, the tags added by TagResource by ListTagsForResource only (for a
    configuration set, ListTagsForResource has both); reading both lets a resource tagged after its
    creation be recognised on the emulator too."""
    tags = tags_dict(found.get("Tags"))
    listed = aws.client("sesv2").list_tags_for_resource(ResourceArn=arn).get("Tags")
    return {**tags, **tags_dict(listed)}


def apply_error(exc: Exception, failed: str, done: list[str], not_done: list[str]) -> ApplyError | None:
    """The ApplyError for `failed` (what was being done) when `exc` is an AWS or txnalert error; None for
    anything else (a bug: let it propagate)."""
    translated = from_botocore(exc)
    if translated is None and isinstance(exc, TxnalertError):
        translated = exc
    if translated is None:
        return None
    return ApplyError(f"{failed} failed: {translated.message}", done, not_done)


def function_problem(name: str, response: dict[str, Any], waited_s: float, *, was_failed: bool = False) -> str:
    """Why a Lambda waiter gave up on function `name`, from its last GetFunction answer (`response`)."""
    error = response.get("Error") or {}
    if error:
        return f"function {name}: {error.get('Message') or error.get('Code') or 'GetFunction failed'}"
    function = response.get("Configuration") or {}
    still = "still " if was_failed else ""
    again = " after its code and configuration were uploaded again" if was_failed else ""
    if function.get("State") == "Failed":
        return f"function {name} is {still}Failed{again}: {function.get('StateReason') or 'no reason given'}"
    if function.get("LastUpdateStatus") == "Failed":
        reason = function.get("LastUpdateStatusReason") or "no reason given"
        return f"function {name}: its last update {still}Failed{again}: {reason}"
    return (
        f"function {name} is still {function.get('State')} (last update {function.get('LastUpdateStatus')}) "
        f"after {waited_s:g} s: run the same command again in a minute"
    )


def find_mappings(lam: Any, queue_arn: str, function_arn: str) -> list[dict[str, Any]]:
    """The event source mappings from `queue_arn` to the function (any qualifier), oldest API order.

    Listed by the queue's ARN and matched on the function's ARN: moto filters a FunctionName literally (a
    mapping created with the function's name is not found by its ARN), the queue ARN is unambiguous."""
    want = unqualified_function_arn(function_arn)
    found = []
    for page in lam.get_paginator("list_event_source_mappings").paginate(EventSourceArn=queue_arn):
        for mapping in page.get("EventSourceMappings", []):
            if unqualified_function_arn(str(mapping.get("FunctionArn", ""))) == want:
                found.append(mapping)
    return found


def mapping_parameters(spec: MappingSpec, max_concurrency: int) -> dict[str, Any]:
    """The CreateEventSourceMapping/UpdateEventSourceMapping parameters we manage."""
    params: dict[str, Any] = {"BatchSize": spec.batch_size}
    if not spec.fifo:  # FIFO queues have no batching window
        params["MaximumBatchingWindowInSeconds"] = spec.batch_window
    params["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    params["ScalingConfig"] = {"MaximumConcurrency": max_concurrency}
    params["Enabled"] = spec.enabled
    return params


class Planner:
    """Read-only: compares desired resources with what exists (get/list/describe calls only)."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.sqs = aws.client("sqs")
        self._account: str | None = None
        # What the plan knows so far, for the resources planned after: None = will be created.
        self.queue_arns: dict[str, str | None] = {}
        self.role_arns: dict[str, str | None] = {}
        self.function_arns: dict[str, str | None] = {}

    @property
    def account(self) -> str:
        """The account id of the credentials (STS GetCallerIdentity; moto: 123456789012)."""
        if self._account is None:
            self._account = account_id(self.aws)
        return self._account

    def readable_account(self) -> str | None:
        """The account id, or None when the credentials may not read it (GetCallerIdentity denied)."""
        try:
            return self.account
        except Exception as exc:
            if error_code(exc) in ("AccessDenied", "AccessDeniedException"):
                return None
            raise

    def plan(self, specs: list[Any]) -> Plan:
        changes: list[Change] = []
        for spec in specs:
            if spec.kind == QUEUE:
                change = self._plan_queue(spec, self.queue_arns)
                self.queue_arns[spec.name] = change.current.get("arn")
            elif spec.kind == TABLE:
                change = self._plan_table(spec)
            elif spec.kind == IDENTITY:
                change = self._plan_identity(spec)
            elif spec.kind == CONFIG_SET:
                change = self._plan_configuration_set(spec)
            elif spec.kind == ROLE:
                change = self._plan_role(spec)
                self.role_arns[spec.name] = change.current.get("arn")
            elif spec.kind == FUNCTION:
                change = self._plan_function(spec)
                self.function_arns[spec.name] = change.current.get("arn")
            elif spec.kind == MAPPING:
                change = self._plan_mapping(spec)
            else:  # pragma: no cover - guarded by desired()
                raise TypeError(f"no planner for {spec.kind}")
            changes.append(change)
        return Plan(changes)

    # --- IAM role ---

    def _plan_role(self, spec: RoleSpec) -> Change:
        from .package import LAMBDA_PRINCIPAL, normalize_policy, policy_grants

        iam = self.aws.client("iam")
        want_policy = spec.policy(self.account)
        resolved = {"policy": want_policy}
        found = if_exists(ROLE, lambda: iam.get_role(RoleName=spec.name))
        if found is None:
            details = {
                "AssumeRolePolicy": LAMBDA_PRINCIPAL,
                "InlinePolicy": spec.policy_name,
                "Grants": policy_grants(want_policy),
                "Tags": dict(spec.tags),
            }
            return Change(ROLE, spec.name, CREATE, details, spec, resolved=resolved)
        role = found["Role"]
        tags = tags_dict(iam.list_role_tags(RoleName=spec.name).get("Tags"))
        _refuse_unowned("role", spec.name, tags, spec.tags, "lambda.role_name")
        diff: dict[str, Any] = {}
        trust = role.get("AssumeRolePolicyDocument")
        if normalize_policy(trust) != normalize_policy(spec.trust_policy()):
            diff["AssumeRolePolicy"] = {"from": trust, "to": spec.trust_policy()}
        inline = [
            n
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=spec.name)
            for n in page["PolicyNames"]
        ]
        have_policy = None
        if spec.policy_name in inline:
            have_policy = iam.get_role_policy(RoleName=spec.name, PolicyName=spec.policy_name)["PolicyDocument"]
        if normalize_policy(have_policy) != normalize_policy(want_policy):
            diff["InlinePolicy"] = {"from": have_policy, "to": want_policy}
        others = sorted(n for n in inline if n != spec.policy_name)
        attached = sorted(
            p["PolicyArn"]
            for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=spec.name)
            for p in page["AttachedPolicies"]
        )
        if others or attached:  # least privilege: the role grants what our one policy grants, nothing else
            diff["OtherPolicies"] = {"from": others + attached, "to": []}
        current = {"arn": role["Arn"], "other_inline": others, "attached": attached}
        return Change(ROLE, spec.name, UPDATE if diff else UNCHANGED, diff, spec, current, resolved)

    def _role_arn(self, name: str) -> str | None:
        """The role's ARN: from the plan (None: it will be created), else from IAM."""
        if name in self.role_arns:
            return self.role_arns[name]
        found = if_exists(ROLE, lambda: self.aws.client("iam").get_role(RoleName=name))
        if found is None:
            raise ResourceConflict(f"the function's role {name!r} does not exist: run `txnalert deploy`")
        arn = str(found["Role"]["Arn"])
        self.role_arns[name] = arn
        return arn

    # --- Lambda function ---

    def _plan_function(self, spec: FunctionSpec) -> Change:
        lam = self.aws.client("lambda")
        role_arn = self._role_arn(spec.role_name) or placeholder(f"role {spec.role_name}")
        package = spec.package
        want = {
            "Runtime": spec.runtime,
            "Handler": spec.handler,
            "Timeout": spec.timeout,
            "MemorySize": spec.memory,
            "Architecture": spec.architecture,
            "Layers": spec.layers,
            "Role": role_arn,
            "Environment": dict(spec.environment),
        }
        function = if_exists(FUNCTION, lambda: lam.get_function(FunctionName=spec.name))
        if function is None:
            details = {k: v for k, v in want.items() if k != "Layers" or v}
            details.update(CodeSha256=package.code_sha256, CodeSize=package.size, Tags=dict(spec.tags))
            return Change(FUNCTION, spec.name, CREATE, details, spec)
        config = function["Configuration"]
        _refuse_unowned("function", spec.name, function.get("Tags") or {}, spec.tags, "lambda.function_name")
        if config.get("PackageType", "Zip") != "Zip":
            raise ResourceConflict(
                f"function {spec.name!r} exists as a container image function; txnalert deploys a zip: "
                "delete it or set another lambda.function_name"
            )
        diff: dict[str, Any] = {}
        for status, healthy, reason in _FUNCTION_FAILED:  # never "unchanged": uploaded again (see the note)
            if config.get(status) == "Failed":
                diff[status] = {"from": "Failed", "to": healthy}
                diff[reason] = config.get(reason) or "no reason given"
        have = {
            "Runtime": config.get("Runtime"),
            "Handler": config.get("Handler"),
            "Timeout": config.get("Timeout"),
            "MemorySize": config.get("MemorySize"),
            "Architecture": (config.get("Architectures") or ["x86_64"])[0],
            "Layers": [layer["Arn"] for layer in config.get("Layers") or []],
            "Role": config.get("Role"),
        }
        diff.update({k: {"from": have[k], "to": want[k]} for k in have if have[k] != want[k]})
        have_env = (config.get("Environment") or {}).get("Variables") or {}
        if have_env != want["Environment"]:
            keys = sorted(k for k in {*have_env, *want["Environment"]} if have_env.get(k) != want["Environment"].get(k))
            diff["Environment"] = {
                "from": {k: have_env.get(k) for k in keys},
                "to": {k: want["Environment"].get(k) for k in keys},
            }
        if config.get("CodeSha256") != package.code_sha256:
            diff["CodeSha256"] = {"from": config.get("CodeSha256"), "to": package.code_sha256}
        current = {"arn": unqualified_function_arn(config["FunctionArn"])}
        return Change(FUNCTION, spec.name, UPDATE if diff else UNCHANGED, diff, spec, current)

    # --- event source mapping ---

    def _queue_arn(self, name: str) -> str | None:
        """The queue's ARN: from the plan (None: it will be created), else from SQS."""
        if name in self.queue_arns:
            return self.queue_arns[name]
        url = find_queue_url(self.sqs, name)
        if url is None:
            raise QueueNotFound(
                f"queue {name!r} does not exist at {self.aws.describe_endpoint()}: run `txnalert setup` "
                "(or `txnalert create-queue`) first"
            )
        arn = queue_arn_of(self.sqs, url)
        self.queue_arns[name] = arn
        return arn

    def _function_arn(self, name: str) -> str | None:
        if name in self.function_arns:
            return self.function_arns[name]
        found = if_exists(FUNCTION, lambda: self.aws.client("lambda").get_function(FunctionName=name))
        if found is None:
            raise ResourceConflict(f"function {name!r} does not exist: run `txnalert deploy`")
        arn = unqualified_function_arn(found["Configuration"]["FunctionArn"])
        self.function_arns[name] = arn
        return arn

    def _max_concurrency(self, spec: MappingSpec) -> tuple[int, str]:
        if spec.max_concurrency is not None:
            return spec.max_concurrency, "lambda.max_concurrency"
        from .identities import account_status
        from .package import concurrency_for_send_rate

        rate = account_status(self.aws).max_send_rate
        return concurrency_for_send_rate(rate), f"auto: SES max send rate {rate:g}/s"

    def _plan_mapping(self, spec: MappingSpec) -> Change:
        queue_arn = self._queue_arn(spec.queue_name)
        function_arn = self._function_arn(spec.function_name)
        max_concurrency, basis = self._max_concurrency(spec)
        params = mapping_parameters(spec, max_concurrency)
        resolved = {"params": params}
        # Mappings outlive their function (DeleteFunction keeps them) and their queue: look for one even when
        # either is still to be created, by the ARN it will have (the same name gives the same ARN).
        existing = find_mappings(
            self.aws.client("lambda"),
            queue_arn or built_arn(self.aws, self.account, "sqs", spec.queue_name),
            function_arn or built_arn(self.aws, self.account, "lambda", f"function:{spec.function_name}"),
        )
        if not existing:
            details = {
                "EventSourceArn": queue_arn or placeholder(spec.queue_name),
                "FunctionName": spec.function_name,
                **params,
                "MaximumConcurrencyFrom": basis,
            }
            return Change(MAPPING, spec.name, CREATE, details, spec, resolved=resolved)
        mapping = existing[0]  # adopted; never a second one
        have = {
            "BatchSize": mapping.get("BatchSize"),
            "MaximumBatchingWindowInSeconds": mapping.get("MaximumBatchingWindowInSeconds", 0),
            "FunctionResponseTypes": sorted(mapping.get("FunctionResponseTypes") or []),
            "ScalingConfig": {"MaximumConcurrency": (mapping.get("ScalingConfig") or {}).get("MaximumConcurrency")},
            "Enabled": mapping.get("State") in ENABLED_STATES,
        }
        diff: dict[str, Any] = {}
        if function_arn is None:  # an orphan of a deleted function: re-attached once the function is created
            diff["Function"] = {
                "from": f"{mapping.get('FunctionArn')} (deleted; Lambda kept its trigger)",
                "to": f"{spec.function_name} (created above)",
            }
        diff.update({k: {"from": have[k], "to": v} for k, v in params.items() if have[k] != v})
        current = {"uuid": mapping["UUID"], "state": mapping.get("State"), "arn": mapping.get("EventSourceMappingArn")}
        return Change(MAPPING, spec.name, UPDATE if diff else UNCHANGED, diff, spec, current, resolved)

    def _plan_table(self, spec: TableSpec) -> Change:
        ddb = self.aws.client("dynamodb")
        found = if_exists(TABLE, lambda: ddb.describe_table(TableName=spec.name))
        if found is None:
            details = {
                "KeySchema": f"{spec.key_attr} (HASH, S)",
                "BillingMode": "PAY_PER_REQUEST",
                "TimeToLive": spec.ttl_attr,
                "Tags": dict(spec.tags),
            }
            return Change(TABLE, spec.name, CREATE, details, spec)
        table = found["Table"]
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
        tags = tags_dict(ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags"))
        diff = _adopting(diff, tags, spec.tags)
        return Change(TABLE, spec.name, UPDATE if diff else UNCHANGED, diff, spec, current)

    def _plan_identity(self, spec: IdentitySpec) -> Change:
        found = if_exists(IDENTITY, lambda: self.aws.client("sesv2").get_email_identity(EmailIdentity=spec.name))
        if found is None:
            kind = "domain (DKIM records to add)" if spec.is_domain else "email address (verification email)"
            return Change(IDENTITY, spec.name, CREATE, {"type": kind, "Tags": dict(spec.tags)}, spec)
        arn = built_arn(self.aws, self.account, "ses", f"identity/{spec.name}")
        diff = _adopting({}, sesv2_tags(self.aws, found, arn), spec.tags)
        return Change(IDENTITY, spec.name, UPDATE if diff else UNCHANGED, diff, spec, {"arn": arn})

    def _plan_configuration_set(self, spec: ConfigurationSetSpec) -> Change:
        sesv2 = self.aws.client("sesv2")
        found = if_exists(CONFIG_SET, lambda: sesv2.get_configuration_set(ConfigurationSetName=spec.name))
        if found is None:
            return Change(CONFIG_SET, spec.name, CREATE, {"Tags": dict(spec.tags)}, spec)
        arn = built_arn(self.aws, self.account, "ses", f"configuration-set/{spec.name}")
        diff = _adopting({}, sesv2_tags(self.aws, found, arn), spec.tags)
        return Change(CONFIG_SET, spec.name, UPDATE if diff else UNCHANGED, diff, spec, {"arn": arn})

    def _plan_queue(self, spec: QueueSpec, queue_arns: dict[str, str | None]) -> Change:
        from .package import normalize_policy, queue_policy

        url = find_queue_url(self.sqs, spec.name)
        if url is None:
            other = _other_type_name(spec)
            if find_queue_url(self.sqs, other) is not None:
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
            # Created with its policy: the queue's ARN is known from its name before it exists, when the
            # credentials may read their account; else the plan names it and the executor sets the policy
            # right after creating the queue, from the ARN SQS reports.
            account = self.readable_account()
            arn = built_arn(self.aws, account, "sqs", spec.name) if account else placeholder(spec.name)
            policy = queue_policy(arn)
            details["Policy"] = policy
            details["Tags"] = dict(spec.tags)
            return Change(QUEUE, spec.name, CREATE, details, spec, resolved={"policy": policy if account else None})

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
        policy = queue_policy(str(attrs["QueueArn"]))
        if normalize_policy(attrs.get("Policy")) != normalize_policy(policy):  # as JSON, not as text
            diff["Policy"] = {"from": _parse_json(attrs.get("Policy")), "to": policy}
        diff = _adopting(diff, self.sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}, spec.tags)
        return Change(QUEUE, spec.name, UPDATE if diff else UNCHANGED, diff, spec, current, {"policy": policy})


def _tags_to(change: Change) -> dict[str, str]:
    """The tags an update adds or changes: the `to` side of its Tags details."""
    return {k: v["to"] for k, v in change.details["Tags"].items()}


class Executor:
    """The only code that makes changing calls. Applies a plan in order; stops at the first failure.

    `sleep` is what the IAM propagation retries and the mapping state waits sleep with (injectable for tests);
    they give up after `propagation_seconds` and `settle_seconds`."""

    def __init__(
        self,
        aws: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        propagation_seconds: float = ROLE_PROPAGATION_SECONDS,
        settle_seconds: float = MAPPING_SETTLE_SECONDS,
    ) -> None:
        self.aws = aws
        self.sqs = aws.client("sqs")
        self.sleep = sleep
        self.propagation_seconds = propagation_seconds
        self.settle_seconds = settle_seconds

    def apply(self, plan: Plan) -> Plan:
        done: list[str] = []
        queue_arns: dict[str, str] = {
            c.name: c.current["arn"] for c in plan.changes if c.resource == QUEUE and c.current.get("arn")
        }
        role_arns: dict[str, str] = {c.name: c.current["arn"] for c in plan.changes if c.resource == ROLE and c.current}
        function_arns: dict[str, str] = {
            c.name: c.current["arn"] for c in plan.changes if c.resource == FUNCTION and c.current
        }
        for index, change in enumerate(plan.changes):
            try:
                if change.action == UNCHANGED:
                    pass
                elif change.resource == QUEUE:
                    self._apply_queue(change, queue_arns)
                elif change.resource == TABLE:
                    self._apply_table(change)
                elif change.resource in (IDENTITY, CONFIG_SET):
                    self._apply_ses(change)
                elif change.resource == ROLE:
                    self._apply_role(change, role_arns)
                elif change.resource == FUNCTION:
                    self._apply_function(change, role_arns, function_arns)
                elif change.resource == MAPPING:
                    self._apply_mapping(change, queue_arns)
            except Exception as exc:
                not_done = [f"{c.resource} {c.name}" for c in plan.changes[index:] if c.action != UNCHANGED]
                error = apply_error(exc, f"{change.action} {change.resource} {change.name}", done, not_done)
                if error is None:
                    raise
                raise error from exc
            if change.action != UNCHANGED:
                done.append(f"{change.resource} {change.name}")
        return plan

    # --- waiting and retrying ---

    @property
    def _waiter_config(self) -> dict[str, int]:
        from .package import is_emulator

        # Lambda settles in seconds; the emulator at once (the first check passes, no sleep at all).
        return {"Delay": 1 if is_emulator(self.aws) else 2, "MaxAttempts": 150}

    def _until_propagated(self, call: Callable[[], Any], what: str) -> Any:
        """`call()`, retried with backoff (1, 2, 4, 8, 16, 16... s) while IAM has not propagated a new role or
        policy, for at most `propagation_seconds`."""
        waited = 0.0
        delay = 1.0
        while True:
            try:
                return call()
            except Exception as exc:
                message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
                propagating = error_code(exc) == "InvalidParameterValueException" and any(
                    text in message.lower() for text in _PROPAGATION_MESSAGES
                )
                if not propagating:
                    raise
                if waited >= self.propagation_seconds:
                    raise RoleNotReady(
                        f"{what}: Lambda still cannot use the role after {waited:g} s ({message.rstrip('.')}); "
                        "IAM changes can take a minute to propagate: run the same command again"
                    ) from None
            pause = min(delay, self.propagation_seconds - waited)
            self.sleep(pause)
            waited += pause
            delay = min(delay * 2, 16.0)

    # --- IAM role ---

    def _apply_role(self, change: Change, role_arns: dict[str, str]) -> None:
        spec: RoleSpec = change.spec
        iam = self.aws.client("iam")
        policy = json.dumps(change.resolved["policy"])
        if change.action == CREATE:
            role = iam.create_role(
                RoleName=spec.name,
                AssumeRolePolicyDocument=json.dumps(spec.trust_policy()),
                Description=spec.description,
                Tags=_tags_list(spec.tags),
            )["Role"]
            iam.put_role_policy(RoleName=spec.name, PolicyName=spec.policy_name, PolicyDocument=policy)
            change.current = {"arn": role["Arn"]}
        else:
            if "AssumeRolePolicy" in change.details:
                iam.update_assume_role_policy(RoleName=spec.name, PolicyDocument=json.dumps(spec.trust_policy()))
            if "InlinePolicy" in change.details:
                iam.put_role_policy(RoleName=spec.name, PolicyName=spec.policy_name, PolicyDocument=policy)
            if "OtherPolicies" in change.details:
                for name in change.current.get("other_inline", []):
                    iam.delete_role_policy(RoleName=spec.name, PolicyName=name)
                for arn in change.current.get("attached", []):
                    iam.detach_role_policy(RoleName=spec.name, PolicyArn=arn)
        role_arns[spec.name] = change.current["arn"]

    # --- Lambda function ---

    def _apply_function(self, change: Change, role_arns: dict[str, str], function_arns: dict[str, str]) -> None:
        spec: FunctionSpec = change.spec
        lam = self.aws.client("lambda")
        role_arn = role_arns.get(spec.role_name)
        if role_arn is None:
            role_arn = str(self.aws.client("iam").get_role(RoleName=spec.role_name)["Role"]["Arn"])
        configuration = {
            "Role": role_arn,
            "Runtime": spec.runtime,
            "Handler": spec.handler,
            "Timeout": spec.timeout,
            "MemorySize": spec.memory,
            "Layers": spec.layers,
            "Environment": {"Variables": dict(spec.environment)},
        }
        if change.action == CREATE:
            created = self._until_propagated(
                lambda: lam.create_function(
                    FunctionName=spec.name,
                    Code={"ZipFile": spec.package.data},
                    PackageType="Zip",
                    Architectures=[spec.architecture],
                    Description=spec.description,
                    Tags=dict(spec.tags),
                    Publish=False,
                    **configuration,
                ),
                f"create function {spec.name}",
            )
            self._wait_function("function_active_v2", spec.name)
            change.current = {"arn": unqualified_function_arn(created["FunctionArn"])}
            change.details["Role"] = role_arn  # the real ARN instead of the placeholder
            function_arns[spec.name] = change.current["arn"]
            return
        failed = any(status in change.details for status, _, _ in _FUNCTION_FAILED)
        # No update while one runs; a Failed last update is over (it is what this update fixes).
        self._wait_function("function_updated_v2", spec.name, failed_ok=failed)
        if failed or "CodeSha256" in change.details or "Architecture" in change.details:
            lam.update_function_code(
                FunctionName=spec.name, ZipFile=spec.package.data, Architectures=[spec.architecture], Publish=False
            )
            self._wait_function("function_updated_v2", spec.name, was_failed=failed)
        if failed or {"Role", "Runtime", "Handler", "Timeout", "MemorySize", "Layers", "Environment"} & set(
            change.details
        ):
            self._until_propagated(
                lambda: lam.update_function_configuration(FunctionName=spec.name, **configuration),
                f"update function {spec.name}",
            )
            self._wait_function("function_updated_v2", spec.name, was_failed=failed)
        if "State" in change.details:  # was Failed: Active again, or the plan stops here (before the trigger)
            self._wait_function("function_active_v2", spec.name, was_failed=True)
        if "Role" in change.details:
            change.details["Role"]["to"] = role_arn
        function_arns[spec.name] = change.current["arn"]

    def _wait_function(self, waiter: str, name: str, *, failed_ok: bool = False, was_failed: bool = False) -> None:
        """A Lambda waiter (function_active_v2, function_updated_v2); when it gives up, FunctionNotReady with
        what the function reports (its StateReason or LastUpdateStatusReason), never botocore's "Waiter ...
        failed". `failed_ok`: a Failed last update is no reason to stop (it is what the update fixes);
        `was_failed`: the function was Failed before its code and configuration were uploaded again."""
        from botocore.exceptions import WaiterError

        config = self._waiter_config
        try:
            self.aws.client("lambda").get_waiter(waiter).wait(FunctionName=name, WaiterConfig=config)
        except WaiterError as exc:
            response = exc.last_response or {}
            if failed_ok and (response.get("Configuration") or {}).get("LastUpdateStatus") == "Failed":
                return
            raise FunctionNotReady(
                function_problem(name, response, config["Delay"] * config["MaxAttempts"], was_failed=was_failed)
            ) from None

    # --- event source mapping ---

    def _settled_mapping(self, uuid: str, what: str) -> dict[str, Any]:
        """The mapping once it is out of a transitional state (an update in one fails with ResourceInUse);
        MappingNotSettled after `settle_seconds`."""
        lam = self.aws.client("lambda")
        waited = 0.0
        while True:
            mapping: dict[str, Any] = lam.get_event_source_mapping(UUID=uuid)
            state = mapping.get("State")
            if state not in TRANSITIONAL_STATES:
                return mapping
            if waited >= self.settle_seconds:
                raise MappingNotSettled(
                    f"{what}: the trigger {uuid} is still {state} after {waited:g} s (Lambda is applying an "
                    "earlier change to it): run the same command again in a minute"
                )
            pause = min(self._waiter_config["Delay"], self.settle_seconds - waited)
            self.sleep(pause)
            waited += pause

    def _apply_mapping(self, change: Change, queue_arns: dict[str, str]) -> None:
        spec: MappingSpec = change.spec
        lam = self.aws.client("lambda")
        params = change.resolved["params"]
        if change.action == CREATE:
            queue_arn = queue_arns.get(spec.queue_name)
            if queue_arn is None:
                queue_arn = queue_arn_of(self.sqs, self.sqs.get_queue_url(QueueName=spec.queue_name)["QueueUrl"])
            mapping = self._until_propagated(
                lambda: lam.create_event_source_mapping(
                    EventSourceArn=queue_arn, FunctionName=spec.function_name, **params
                ),
                f"create the trigger {spec.name}",
            )
            change.current = {"uuid": mapping["UUID"], "state": mapping.get("State")}
            change.details["EventSourceArn"] = queue_arn
            return
        if "Function" in change.details:  # an orphan: point it at the function created above (same name)
            params = {"FunctionName": spec.function_name, **params}
        what = f"update the trigger {spec.name}"
        self._settled_mapping(change.current["uuid"], what)
        self._until_propagated(lambda: lam.update_event_source_mapping(UUID=change.current["uuid"], **params), what)

    def _apply_queue(self, change: Change, queue_arns: dict[str, str]) -> None:
        spec: QueueSpec = change.spec
        attributes = dict(spec.attributes)
        policy = change.resolved["policy"]
        if policy is not None:
            attributes["Policy"] = json.dumps(policy)
        if spec.redrive_to:
            dlq_arn = queue_arns.get(spec.redrive_to)
            if dlq_arn is None:
                raise ApplyError(f"the DLQ {spec.redrive_to!r} has no ARN yet", [], [])
            attributes["RedrivePolicy"] = json.dumps(_redrive_policy(dlq_arn, spec.max_receive_count or 5))
        if change.action == CREATE:
            url = self.sqs.create_queue(QueueName=spec.name, Attributes=attributes, tags=spec.tags)["QueueUrl"]
            if policy is None:  # the account was not readable when planning: the ARN SQS reports now
                from .package import queue_policy

                policy = queue_policy(queue_arn_of(self.sqs, url))
                self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
                change.details["Policy"] = policy
        else:
            url = change.current["url"]
            changed = {k: attributes[k] for k in change.details if k in attributes}
            if changed:
                # With the Policy every time: AWS keeps a queue's policy when a call leaves it out, but moto
                # erases it on any SetQueueAttributes without one.
                changed["Policy"] = attributes["Policy"]
                self.sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
            if "Tags" in change.details:
                self.sqs.tag_queue(QueueUrl=url, Tags=_tags_to(change))
        arn = queue_arn_of(self.sqs, url)
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
                Tags=_tags_list(spec.tags),
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
            ddb.tag_resource(ResourceArn=change.current["arn"], Tags=_tags_list(_tags_to(change)))

    def _apply_ses(self, change: Change) -> None:
        """An SES identity or configuration set: created with its tags, or (adopted) tagged."""
        spec: IdentitySpec | ConfigurationSetSpec = change.spec
        sesv2 = self.aws.client("sesv2")
        if change.action == CREATE and spec.kind == IDENTITY:
            sesv2.create_email_identity(EmailIdentity=spec.name, Tags=_tags_list(spec.tags))
        elif change.action == CREATE:
            sesv2.create_configuration_set(ConfigurationSetName=spec.name, Tags=_tags_list(spec.tags))
        elif "Tags" in change.details:
            sesv2.tag_resource(ResourceArn=change.current["arn"], Tags=_tags_list(_tags_to(change)))


def plan_and_apply(
    aws: Any,
    config: Config,
    *,
    dry_run: bool,
    kinds: frozenset[str] | None = None,
    package: FunctionPackage | None = None,
    sleep: Callable[[float], None] = time.sleep,
    confirm: Callable[[Plan], None] | None = None,
) -> tuple[Plan, bool]:
    """Plan the pipeline's resources (or only those of `kinds`) and, unless dry_run, apply the plan.

    `package` replaces the zip built from the installed handler and Powertools. `confirm` is called with a
    plan that has changes, before any of them is applied; it raises to stop. Returns (plan, applied)."""
    from .identities import sender_identity
    from .package import is_emulator

    # Before anything is planned or changed: a sender SES would reject is a config error (SenderNotCovered).
    sender = sender_identity(aws, config) if kinds is None or ROLE in kinds else None
    specs = desired(
        config, region=aws.region, kinds=kinds, emulator=is_emulator(aws), package=package, sender_identity=sender
    )
    plan = Planner(aws).plan(specs)
    if dry_run or not plan.pending:
        return plan, False
    if confirm is not None:
        confirm(plan)
    return Executor(aws, sleep=sleep).apply(plan), True
