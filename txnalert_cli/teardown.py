"""`txnalert teardown`: delete, in reverse dependency order, exactly the resources the config names and that
carry its tags (`managed-by: txnalert` plus the config's `tags`).

A resource of the same name without those tags is left alone and reported; a missing one is reported as
absent. Planning is read-only (get/list/describe); `apply_teardown` makes the deleting calls.

How each resource is recognised as ours:
- the SQS trigger (event source mapping): mappings have no tags of their own in older APIs, so a mapping
  from the config's queue to the config's function is ours when the function is ours. It is deleted before
  the function (a mapping outliving its function leaves the queue pointing at nothing);
- the function, the role, the table and the queues: their tags (ListTags, ListRoleTags, ListTagsOfResource,
  ListQueueTags);
- SES identities: the Tags of SESv2 GetEmailIdentity. moto answers ListTagsForResource on an identity with
  an empty list even when the identity was created with tags; GetEmailIdentity returns them on moto and AWS.

Queues holding messages (visible, in flight or delayed) are deleted only with `force`: the plan says how
many messages would be lost. The function's CloudWatch log group is not deleted (Lambda creates it, untagged,
and the logs may still be wanted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .errors import ApplyError, TxnalertError, UsageError, error_code, from_botocore
from .resources import FUNCTION, IDENTITY, MAPPING, QUEUE, ROLE, TABLE, find_mappings, unqualified_function_arn

DELETE, SKIP, ABSENT = "delete", "skip", "absent"


@dataclass
class Deletion:
    resource: str
    name: str
    action: str  # delete, skip (exists but is not ours), absent
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
        counts = {DELETE: 0, SKIP: 0, ABSENT: 0}
        for item in self.items:
            counts[item.action] += 1
        return counts

    def messages_at_risk(self) -> list[Deletion]:
        """Queues to delete that still hold messages."""
        return [i for i in self.to_delete if i.resource == QUEUE and i.details.get("messages", 0) > 0]

    def as_dict(self) -> dict[str, Any]:
        return {"resources": [i.as_dict() for i in self.items], "summary": self.counts()}


def _tags_list(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def _not_ours(have: dict[str, str], want: dict[str, str]) -> dict[str, Any] | None:
    """None when `have` carries every tag of `want`; else why the resource is left alone."""
    missing = {k: v for k, v in want.items() if have.get(k) != v}
    if not missing:
        return None
    wanted = ", ".join(f"{k}={v}" for k, v in sorted(missing.items()))
    return {"reason": f"not tagged {wanted}: not created by txnalert for this config, left alone"}


class TeardownPlanner:
    """Read-only: finds the config's resources and decides which are ours."""

    def __init__(self, aws: Any, config: Config) -> None:
        self.aws = aws
        self.config = config
        self.want = config.resource_tags

    def plan(self) -> TeardownPlan:
        config = self.config
        function = self._function()
        queue_urls = {name: self._queue_url(name) for name in (config.queue.name, config.queue.dlq.name)}
        items = [
            self._mapping(function, queue_urls[config.queue.name]),
            function,
            self._role(),
            *(self._identity(identity) for identity in reversed(config.ses.identities)),
            self._table(),
            self._queue(config.queue.name, queue_urls[config.queue.name]),
            self._queue(config.queue.dlq.name, queue_urls[config.queue.dlq.name]),
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
        try:
            config = lam.get_function(FunctionName=name)["Configuration"]
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            return Deletion(FUNCTION, name, ABSENT)
        arn = unqualified_function_arn(config["FunctionArn"])
        tags = lam.list_tags(Resource=arn).get("Tags") or {}
        return self._verdict(FUNCTION, name, tags, {"arn": arn})

    def _queue_url(self, name: str) -> str | None:
        sqs = self.aws.client("sqs")
        try:
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        except Exception as exc:
            if error_code(exc) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                return None
            raise

    def _queue_arn(self, queue_url: str | None) -> str:
        """The main queue's ARN; built from the account and region when the queue is gone (its mapping may
        not be: a mapping outlives its queue)."""
        if queue_url is not None:
            sqs = self.aws.client("sqs")
            return str(
                sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            )
        from .deploy import partition_for

        region = self.config.aws.region
        account = self.aws.client("sts").get_caller_identity()["Account"]
        return f"arn:{partition_for(region)}:sqs:{region}:{account}:{self.config.queue.name}"

    def _mapping(self, function: Deletion, queue_url: str | None) -> Deletion:
        name = f"{self.config.queue.name} -> {self.config.lambda_.function_name}"
        if function.action == ABSENT:
            return Deletion(MAPPING, name, ABSENT)
        queue_arn = self._queue_arn(queue_url)
        mappings = find_mappings(self.aws.client("lambda"), queue_arn, function.handle["arn"])
        if not mappings:
            return Deletion(MAPPING, name, ABSENT)
        uuids = [m["UUID"] for m in mappings]
        if function.action == SKIP:
            return Deletion(MAPPING, name, SKIP, {"reason": "its function is not ours, left alone"}, {"uuids": uuids})
        details = {"uuids": uuids} if len(uuids) > 1 else {}
        return Deletion(MAPPING, name, DELETE, details, {"uuids": uuids})

    def _role(self) -> Deletion:
        name = self.config.lambda_.role_name
        iam = self.aws.client("iam")
        try:
            iam.get_role(RoleName=name)
        except Exception as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            return Deletion(ROLE, name, ABSENT)
        tags = _tags_list(iam.list_role_tags(RoleName=name).get("Tags"))
        return self._verdict(ROLE, name, tags, {})

    def _identity(self, identity: str) -> Deletion:
        try:
            found = self.aws.client("sesv2").get_email_identity(EmailIdentity=identity)
        except Exception as exc:
            if error_code(exc) != "NotFoundException":
                raise
            return Deletion(IDENTITY, identity, ABSENT)
        return self._verdict(IDENTITY, identity, _tags_list(found.get("Tags")), {})

    def _table(self) -> Deletion:
        name = self.config.idempotency.table
        ddb = self.aws.client("dynamodb")
        try:
            table = ddb.describe_table(TableName=name)["Table"]
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            return Deletion(TABLE, name, ABSENT)
        tags = _tags_list(ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags"))
        return self._verdict(TABLE, name, tags, {})

    def _queue(self, name: str, url: str | None) -> Deletion:
        if url is None:
            return Deletion(QUEUE, name, ABSENT)
        sqs = self.aws.client("sqs")
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
        verdict = self._verdict(QUEUE, name, tags, {"url": url})
        if verdict.action == DELETE:
            names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            names.append("ApproximateNumberOfMessagesDelayed")
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            messages = sum(int(attrs.get(n, 0)) for n in names)
            if messages:
                verdict.details = {"messages": messages}
        return verdict


def plan_teardown(aws: Any, config: Config) -> TeardownPlan:
    return TeardownPlanner(aws, config).plan()


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
            translated = from_botocore(exc)
            if translated is None and isinstance(exc, TxnalertError):
                translated = exc
            if translated is None:
                raise
            not_done = [f"{i.resource} {i.name}" for i in items[index:]]
            raise ApplyError(
                f"delete {item.resource} {item.name} failed: {translated.message}", done, not_done
            ) from exc
        done.append(f"{item.resource} {item.name}")
    return plan


def _delete(aws: Any, item: Deletion) -> None:
    from .deploy import is_emulator

    if item.resource == MAPPING:
        lam = aws.client("lambda")
        for uuid in item.handle["uuids"]:
            try:
                lam.delete_event_source_mapping(UUID=uuid)
            except Exception as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
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
    elif item.resource == TABLE:
        ddb = aws.client("dynamodb")
        ddb.delete_table(TableName=item.name)
        # Gone before we report it (and before a `setup` right after could try to create it again).
        delay = 1 if is_emulator(aws) else 2
        ddb.get_waiter("table_not_exists").wait(TableName=item.name, WaiterConfig={"Delay": delay, "MaxAttempts": 150})
    elif item.resource == QUEUE:
        aws.client("sqs").delete_queue(QueueUrl=item.handle["url"])
