"""`txnalert teardown`: delete, in reverse dependency order, exactly the resources the config names and that
carry its tags (`managed-by: txnalert` plus the config's `tags`).

A resource of the same name without those tags is left alone and reported (`skip`); a missing one is
reported as absent. Planning is read-only (get/list/describe); `apply_teardown` makes the deleting calls.

How each resource is recognised as ours:
- the SQS trigger (event source mapping): mappings have no tags of their own in older APIs, so a mapping
  from the config's queue to the config's function is ours when the function is ours. Mappings are listed
  by the queue's ARN (built from the name when the queue is gone) and matched on the function's ARN (built
  from the name when the function is gone). Lambda's DeleteFunction keeps the function's mappings: an
  orphan whose function no longer exists is ours by the function name the config names, and deleted.
  The mapping goes before the function (a mapping outliving its function leaves the queue pointing at
  nothing);
- the function, the role, the table and the queues: their tags (ListTags, ListRoleTags, ListTagsOfResource,
  ListQueueTags);
- SES identities and the configuration set: their tags (see `resources.sesv2_tags`).

What is ours but kept (`keep`), with the reason in the plan:
- SES identities, unless `include_identities` (`--include-identities`): an identity is account-wide, and
  other pipelines or applications often send as the same address or domain;
- a DLQ that a queue which is not deleted (the config's main queue when it is left alone, or any other
  queue) still names in its RedrivePolicy (SQS ListDeadLetterSourceQueues).

Queues holding messages (visible, in flight or delayed) are deleted only with `force`: the plan says how
many messages would be lost. The function's CloudWatch log group is not deleted (Lambda creates it, untagged,
and the logs may still be wanted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..config import Config
from ..errors import UsageError
from ..queue.inspect import find_queue_url
from .resources import (
    CONFIG_SET,
    FUNCTION,
    IDENTITY,
    MAPPING,
    QUEUE,
    ROLE,
    TABLE,
    account_id,
    apply_error,
    built_arn,
    find_mappings,
    if_exists,
    missing_tags,
    queue_arn_of,
    sesv2_tags,
    tags_dict,
    tags_text,
    unqualified_function_arn,
)

DELETE, KEEP, SKIP, ABSENT = "delete", "keep", "skip", "absent"
KEEP_IDENTITY = "kept (shared; --include-identities to delete)"


@dataclass
class Deletion:
    resource: str
    name: str
    action: str  # delete, keep (ours, but kept: see details), skip (exists but is not ours), absent
    details: dict[str, Any] = field(default_factory=dict)
    handle: dict[str, Any] = field(default_factory=dict)  # what the delete call needs (url, arn, uuid)

    def as_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "name": self.name, "action": self.action, "details": self.details}


@dataclass
class TeardownPlan:
    items: list[Deletion]

    @property
    def to_delete(self) -> list[Deletion]:
        return [i for i in self.items if i.action == DELETE]

    def counts(self) -> dict[str, int]:
        counts = {DELETE: 0, KEEP: 0, SKIP: 0, ABSENT: 0}
        for item in self.items:
            counts[item.action] += 1
        return counts

    def messages_at_risk(self) -> list[Deletion]:
        """Queues to delete that still hold messages."""
        return [i for i in self.items if i.action == DELETE and i.resource == QUEUE and i.details.get("messages")]

    def as_dict(self) -> dict[str, Any]:
        return {"resources": [i.as_dict() for i in self.items], "summary": self.counts()}


def _not_ours(have: dict[str, str], want: dict[str, str]) -> dict[str, Any] | None:
    """None when `have` carries every tag of `want`; else why the resource is left alone."""
    missing = missing_tags(have, want)
    if not missing:
        return None
    return {"reason": f"not tagged {tags_text(missing)}: not created by txnalert for this config, left alone"}


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


class TeardownPlanner:
    """Read-only: finds the config's resources and decides which are ours."""

    def __init__(self, aws: Any, config: Config, *, include_identities: bool = False) -> None:
        self.aws = aws
        self.config = config
        self.want = config.resource_tags
        self.include_identities = include_identities
        self.sqs = aws.client("sqs")
        self._account: str | None = None

    @property
    def account(self) -> str:
        if self._account is None:
            self._account = account_id(self.aws)
        return self._account

    def plan(self) -> TeardownPlan:
        config = self.config
        main_name, dlq_name = config.queue.name, config.queue.dlq.name
        function = self._function()
        main_url, dlq_url = find_queue_url(self.sqs, main_name), find_queue_url(self.sqs, dlq_name)
        main = self._queue(main_name, main_url)
        items = [
            self._mapping(function, main_url),
            function,
            self._role(),
            *([self._configuration_set(config.ses.configuration_set)] if config.ses.configuration_set else []),
            *(self._identity(identity) for identity in reversed(config.ses.identities)),
            self._table(),
            main,
            self._dlq(dlq_name, dlq_url, deleted=[main]),
        ]
        return TeardownPlan(items)

    def _verdict(self, resource: str, name: str, tags: dict[str, str], handle: dict[str, Any]) -> Deletion:
        reason = _not_ours(tags, self.want)
        if reason:
            return Deletion(resource, name, SKIP, reason, handle)
        return Deletion(resource, name, DELETE, {}, handle)

    def _function(self) -> Deletion:
        name = self.config.lambda_.function_name
        lam = self.aws.client("lambda")
        found = if_exists(FUNCTION, lambda: lam.get_function(FunctionName=name))
        if found is None:
            return Deletion(FUNCTION, name, ABSENT)
        arn = unqualified_function_arn(found["Configuration"]["FunctionArn"])
        tags = lam.list_tags(Resource=arn).get("Tags") or {}
        return self._verdict(FUNCTION, name, tags, {"arn": arn})

    def _mapping(self, function: Deletion, main_url: str | None) -> Deletion:
        """The trigger, listed by the queue's ARN whether or not the queue and the function still exist (a
        mapping outlives both)."""
        queue_name, function_name = self.config.queue.name, self.config.lambda_.function_name
        name = f"{queue_name} -> {function_name}"
        if main_url is not None:
            queue_arn = queue_arn_of(self.sqs, main_url)
        else:
            queue_arn = built_arn(self.aws, self.account, "sqs", queue_name)
        function_arn = function.handle.get("arn") or built_arn(
            self.aws, self.account, "lambda", f"function:{function_name}"
        )
        uuids = [m["UUID"] for m in find_mappings(self.aws.client("lambda"), queue_arn, function_arn)]
        if not uuids:
            return Deletion(MAPPING, name, ABSENT)
        handle = {"uuids": uuids}
        if function.action == SKIP:
            return Deletion(MAPPING, name, SKIP, {"reason": "its function is not ours, left alone"}, handle)
        details: dict[str, Any] = {}
        if function.action == ABSENT:
            details["reason"] = (
                f"orphaned: function {function_name} no longer exists (Lambda keeps a deleted function's "
                "triggers); ours by the function name the config names"
            )
        if len(uuids) > 1:
            details["uuids"] = uuids
        return Deletion(MAPPING, name, DELETE, details, handle)

    def _role(self) -> Deletion:
        name = self.config.lambda_.role_name
        iam = self.aws.client("iam")
        if if_exists(ROLE, lambda: iam.get_role(RoleName=name)) is None:
            return Deletion(ROLE, name, ABSENT)
        return self._verdict(ROLE, name, tags_dict(iam.list_role_tags(RoleName=name).get("Tags")), {})

    def _identity(self, identity: str) -> Deletion:
        found = if_exists(IDENTITY, lambda: self.aws.client("sesv2").get_email_identity(EmailIdentity=identity))
        if found is None:
            return Deletion(IDENTITY, identity, ABSENT)
        arn = built_arn(self.aws, self.account, "ses", f"identity/{identity}")
        verdict = self._verdict(IDENTITY, identity, sesv2_tags(self.aws, found, arn), {})
        if verdict.action == DELETE and not self.include_identities:
            return Deletion(IDENTITY, identity, KEEP, {"reason": KEEP_IDENTITY})
        return verdict

    def _configuration_set(self, name: str) -> Deletion:
        sesv2 = self.aws.client("sesv2")
        found = if_exists(CONFIG_SET, lambda: sesv2.get_configuration_set(ConfigurationSetName=name))
        if found is None:
            return Deletion(CONFIG_SET, name, ABSENT)
        arn = built_arn(self.aws, self.account, "ses", f"configuration-set/{name}")
        return self._verdict(CONFIG_SET, name, sesv2_tags(self.aws, found, arn), {})

    def _table(self) -> Deletion:
        name = self.config.idempotency.table
        ddb = self.aws.client("dynamodb")
        found = if_exists(TABLE, lambda: ddb.describe_table(TableName=name))
        if found is None:
            return Deletion(TABLE, name, ABSENT)
        tags = tags_dict(ddb.list_tags_of_resource(ResourceArn=found["Table"]["TableArn"]).get("Tags"))
        return self._verdict(TABLE, name, tags, {})

    def _queue(self, name: str, url: str | None) -> Deletion:
        if url is None:
            return Deletion(QUEUE, name, ABSENT)
        verdict = self._verdict(QUEUE, name, self.sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}, {"url": url})
        if verdict.action == DELETE:
            names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            names.append("ApproximateNumberOfMessagesDelayed")
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            messages = sum(int(attrs.get(n, 0)) for n in names)
            if messages:
                verdict.details = {"messages": messages}
        return verdict

    def _dlq(self, name: str, url: str | None, *, deleted: list[Deletion]) -> Deletion:
        """The DLQ, kept while a queue that is not deleted with it still sends its dead letters there."""
        verdict = self._queue(name, url)
        if verdict.action != DELETE or url is None:
            return verdict
        going = {d.handle.get("url") for d in deleted if d.action == DELETE}
        sources = [
            source
            for page in self.sqs.get_paginator("list_dead_letter_source_queues").paginate(QueueUrl=url)
            for source in page.get("queueUrls", [])
            if source not in going
        ]
        if not sources:
            return verdict
        names = ", ".join(sorted(_queue_name(source) for source in sources))
        if len(sources) == 1:
            reason = f"kept: queue {names} is not deleted and still sends its dead letters here (RedrivePolicy)"
        else:
            reason = f"kept: queues {names} are not deleted and still send their dead letters here (RedrivePolicy)"
        return Deletion(QUEUE, name, KEEP, {"reason": reason, "sources": sorted(sources)}, {"url": url})


def plan_teardown(aws: Any, config: Config, *, include_identities: bool = False) -> TeardownPlan:
    return TeardownPlanner(aws, config, include_identities=include_identities).plan()


def _messages(n: int) -> str:
    return f"{n} message{'s' if n != 1 else ''}"


def check_force(plan: TeardownPlan, force: bool) -> None:
    """Queues with messages need --force: a usage error before anything is deleted."""
    at_risk = plan.messages_at_risk()
    if at_risk and not force:
        held = " and ".join(f"queue {i.name} holds {_messages(i.details['messages'])}" for i in at_risk)
        raise UsageError(f"{held} that would be lost: pass --force to delete anyway (nothing was deleted)")


def apply_teardown(aws: Any, plan: TeardownPlan, *, force: bool = False) -> TeardownPlan:
    """Delete what the plan marks `delete`, in its order; stops at the first failure (ApplyError says what
    was deleted and what was not; running again continues: what is gone is then absent)."""
    check_force(plan, force)
    done: list[str] = []
    items = plan.to_delete
    for index, item in enumerate(items):
        try:
            _delete(aws, item)
        except Exception as exc:
            not_done = [f"{i.resource} {i.name}" for i in items[index:]]
            error = apply_error(exc, f"delete {item.resource} {item.name}", done, not_done)
            if error is None:
                raise
            raise error from exc
        done.append(f"{item.resource} {item.name}")
    return plan


def _delete(aws: Any, item: Deletion) -> None:
    from .package import is_emulator

    if item.resource == MAPPING:
        lam = aws.client("lambda")
        for uuid in item.handle["uuids"]:
            if_exists(MAPPING, partial(lam.delete_event_source_mapping, UUID=uuid))  # gone already: fine
    elif item.resource == FUNCTION:
        aws.client("lambda").delete_function(FunctionName=item.name)
    elif item.resource == ROLE:
        iam = aws.client("iam")
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=item.name):
            for policy in page["PolicyNames"]:
                iam.delete_role_policy(RoleName=item.name, PolicyName=policy)
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=item.name):
            for attached in page["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=item.name, PolicyArn=attached["PolicyArn"])
        for page in iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=item.name):
            for profile in page["InstanceProfiles"]:
                iam.remove_role_from_instance_profile(
                    InstanceProfileName=profile["InstanceProfileName"], RoleName=item.name
                )
        iam.delete_role(RoleName=item.name)
    elif item.resource == IDENTITY:
        aws.client("sesv2").delete_email_identity(EmailIdentity=item.name)
    elif item.resource == CONFIG_SET:
        aws.client("sesv2").delete_configuration_set(ConfigurationSetName=item.name)
    elif item.resource == TABLE:
        ddb = aws.client("dynamodb")
        ddb.delete_table(TableName=item.name)
        # Gone before we report it (and before a `setup` right after could try to create it again).
        delay = 1 if is_emulator(aws) else 2
        ddb.get_waiter("table_not_exists").wait(TableName=item.name, WaiterConfig={"Delay": delay, "MaxAttempts": 150})
    elif item.resource == QUEUE:
        aws.client("sqs").delete_queue(QueueUrl=item.handle["url"])
