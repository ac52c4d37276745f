"""SQS queues: the main queue and its DLQ, one kind with two specs (the main queue depends on the DLQ, whose
ARN its RedrivePolicy names). Both get a TLS-only queue policy and SSE.

Ownership: a queue of the same name is adopted (txnalert adds its tags and sets the attributes it manages).
Teardown deletes a queue holding messages only with --force, and keeps a DLQ that a queue which is not deleted
(the config's main queue when it is left alone, or any other queue) still names in its RedrivePolicy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from ...aws import Aws, find_queue_url
from ...config import RETENTION_MAX, Config
from ...errors import ApplyError, QueueNotFound, ResourceConflict
from ..policy import denies_insecure_transport, normalize_policy, queue_policy
from .base import Env, KindBase, Pace, Resolved, SpecBase, SpecRef, TeardownOptions
from .model import (
    CREATE,
    DELETE,
    FAIL,
    KEEP,
    OK,
    REASON,
    UNCHANGED,
    UPDATE,
    WARN,
    AtRisk,
    Change,
    Details,
    Finding,
    NewTags,
    Note,
    Outputs,
    Row,
    Set,
    TagChanges,
    Update,
    Verdict,
    placeholder,
)
from .tags import adopting, ownership

NAME = "sqs-queue"
MAIN, DLQ = "main", "dlq"
# Attributes SQS fixes at creation: changing them means a new queue.
_IMMUTABLE = ("FifoQueue",)
# Attributes with a doctor row of their own; the queue rows leave them out.
_OWN_ROWS = {"VisibilityTimeout", "RedrivePolicy", "SqsManagedSseEnabled", "Policy"}
_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
_SETUP = "run `txnalert setup`"
# Doctor's rows of this kind, by rank (the trigger kind's "visibility timeout" is 12).
RANK_QUEUE, RANK_DLQ, RANK_MAX_RECEIVE, RANK_SSE, RANK_TLS, RANK_DEAD_LETTERS = 10, 11, 13, 14, 15, 16


@dataclass(frozen=True)
class QueueSpec(SpecBase):
    """An SQS queue as the config wants it. `redrive_to` names the DLQ of a main queue."""

    kind: ClassVar[str] = NAME
    role: str  # MAIN or DLQ
    name: str
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str]
    redrive_to: str | None = None
    max_receive_count: int | None = None

    def dependencies(self) -> list[SpecRef]:
        return [SpecRef(NAME, self.redrive_to)] if self.redrive_to else []


@dataclass
class QueueRemote:
    url: str
    attributes: dict[str, str]
    tags: dict[str, str]

    @property
    def arn(self) -> str:
        return str(self.attributes.get("QueueArn"))


@dataclass(frozen=True)
class QueueComputed:
    """The queue policy the planner built; None when the account was not readable (set after creating)."""

    policy: dict[str, Any] | None


def queue_arn_of(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _attributes(config: Config, *, dlq: bool) -> dict[str, str]:
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


def _attribute_changes(spec: QueueSpec, attrs: dict[str, str]) -> Details:
    """The attributes the queue has otherwise than the spec (compared case-blind, as SQS reports booleans)."""
    diff = Details()
    for key, want in spec.attributes.items():
        have = attrs.get(key)
        if key not in _IMMUTABLE and str(have).lower() != want.lower():
            diff[key] = Update(have, want)
    return diff


def _other_type_name(spec: QueueSpec) -> str:
    return spec.name[: -len(".fifo")] if spec.fifo else f"{spec.name}.fifo"


def _messages(n: int) -> str:
    return f"{n} message{'s' if n != 1 else ''}"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class QueueKind(KindBase[QueueSpec, QueueRemote]):
    name = NAME

    def desired(self, config: Config, env: Env) -> list[QueueSpec]:
        """The DLQ first, then the main queue with its redrive policy to the DLQ."""
        q = config.queue
        return [
            QueueSpec(DLQ, q.dlq.name, q.fifo, _attributes(config, dlq=True), config.resource_tags),
            QueueSpec(
                MAIN,
                q.name,
                q.fifo,
                _attributes(config, dlq=False),
                config.resource_tags,
                redrive_to=q.dlq.name,
                max_receive_count=q.dlq.max_receive_count,
            ),
        ]

    def read(self, aws: Aws, spec: QueueSpec, deps: Resolved) -> QueueRemote | None:
        sqs = aws.client("sqs")
        url = find_queue_url(sqs, spec.name)
        if url is None:
            return None
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return QueueRemote(url, attributes, sqs.list_queue_tags(QueueUrl=url).get("Tags") or {})

    def outputs(self, remote: QueueRemote) -> Outputs:
        return Outputs(arn=remote.arn, url=remote.url)

    def find(self, aws: Aws, name: str) -> Outputs:
        sqs = aws.client("sqs")
        url = find_queue_url(sqs, name)
        if url is None:
            raise QueueNotFound(
                f"queue {name!r} does not exist at {aws.describe_endpoint()}: run `txnalert setup` "
                "(or `txnalert create-queue`) first"
            )
        return Outputs(arn=queue_arn_of(sqs, url), url=url)

    # --- plan ---

    def diff(self, spec: QueueSpec, remote: QueueRemote | None, deps: Resolved) -> Change:
        if remote is None:
            return self._create(spec, deps)
        attrs = remote.attributes
        is_fifo = str(attrs.get("FifoQueue", "false")).lower() == "true"
        if is_fifo != spec.fifo:  # only possible with a hand-made queue whose name disagrees with its type
            raise ResourceConflict(f"queue {spec.name!r} exists with FifoQueue={str(is_fifo).lower()}")
        diff = _attribute_changes(spec, attrs)
        if spec.redrive_to:
            have_policy = _parse_redrive(attrs.get("RedrivePolicy"))
            dlq_arn = deps.arn(SpecRef(NAME, spec.redrive_to)) or placeholder(spec.redrive_to)
            want_policy = _redrive_policy(dlq_arn, spec.max_receive_count or 5)
            if have_policy != want_policy:
                diff["RedrivePolicy"] = Update(have_policy, want_policy)
        policy = queue_policy(remote.arn)
        if normalize_policy(attrs.get("Policy")) != normalize_policy(policy):  # as JSON, not as text
            diff["Policy"] = Update(_parse_json(attrs.get("Policy")), policy)
        details = adopting(diff, remote.tags, spec.tags)
        action = UPDATE if details else UNCHANGED
        return Change(NAME, spec.name, action, details, spec, remote, QueueComputed(policy), self.outputs(remote))

    def _create(self, spec: QueueSpec, deps: Resolved) -> Change:
        other = _other_type_name(spec)
        if find_queue_url(deps.aws.client("sqs"), other) is not None:
            want, have = ("FIFO", "standard") if spec.fifo else ("standard", "FIFO")
            raise ResourceConflict(
                f"queue.fifo asks for a {want} queue {spec.name!r} but a {have} queue {other!r} exists; "
                "a queue's type cannot change: delete it or set queue.fifo back"
            )
        details = Details({key: Set(value) for key, value in spec.attributes.items()})
        if spec.redrive_to:
            details["RedrivePolicy"] = Set(
                {"deadLetterTargetArn": placeholder(spec.redrive_to), "maxReceiveCount": spec.max_receive_count}
            )
        # Created with its policy: the queue's ARN is known from its name before it exists, when the
        # credentials may read their account; else the plan names it and the executor sets the policy
        # right after creating the queue, from the ARN SQS reports.
        account = deps.readable_account()
        policy = queue_policy(deps.built_arn("sqs", spec.name) if account else placeholder(spec.name))
        details["Policy"] = Set(policy)
        details["Tags"] = NewTags(dict(spec.tags))
        return Change(NAME, spec.name, CREATE, details, spec, computed=QueueComputed(policy if account else None))

    # --- apply ---

    def apply(self, aws: Aws, change: Change, deps: Resolved, pace: Pace) -> Outputs:
        spec: QueueSpec = change.spec
        sqs = aws.client("sqs")
        attributes = dict(spec.attributes)
        policy = change.computed.policy
        if policy is not None:
            attributes["Policy"] = json.dumps(policy)
        if spec.redrive_to:
            dlq_arn = deps.arn(SpecRef(NAME, spec.redrive_to))
            if dlq_arn is None:
                raise ApplyError(f"the DLQ {spec.redrive_to!r} has no ARN yet", [], [])
            attributes["RedrivePolicy"] = json.dumps(_redrive_policy(dlq_arn, spec.max_receive_count or 5))
        if change.action == CREATE:
            url = self._create_queue(sqs, change, attributes)
        else:
            url = change.remote.url
            self._update_queue(sqs, change, url, attributes)
        return Outputs(arn=queue_arn_of(sqs, url), url=url)

    def _create_queue(self, sqs: Any, change: Change, attributes: dict[str, str]) -> str:
        spec: QueueSpec = change.spec
        url = str(sqs.create_queue(QueueName=spec.name, Attributes=attributes, tags=spec.tags)["QueueUrl"])
        if change.computed.policy is None:  # the account was not readable when planning: the ARN SQS reports now
            policy = queue_policy(queue_arn_of(sqs, url))
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
            change.details["Policy"] = Set(policy)
        if "RedrivePolicy" in attributes:  # report the DLQ's real ARN
            change.details["RedrivePolicy"] = Set(json.loads(attributes["RedrivePolicy"]))
        return url

    def _update_queue(self, sqs: Any, change: Change, url: str, attributes: dict[str, str]) -> None:
        changed = {k: attributes[k] for k in change.details if k in attributes}
        if changed:
            # With the Policy every time: AWS keeps a queue's policy when a call leaves it out, but moto
            # erases it on any SetQueueAttributes without one.
            changed["Policy"] = attributes["Policy"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
        tags = change.details.get("Tags")
        if isinstance(tags, TagChanges):
            sqs.tag_queue(QueueUrl=url, Tags=tags.added)

    # --- teardown ---

    def delete(self, aws: Aws, remote: QueueRemote) -> None:
        aws.client("sqs").delete_queue(QueueUrl=remote.url)

    def verdict(
        self, aws: Aws, spec: QueueSpec, remote: QueueRemote, deps: Resolved, options: TeardownOptions
    ) -> Verdict:
        verdict = ownership(remote.tags, spec.tags)
        if verdict.action != DELETE:
            return verdict
        messages = sum(int(remote.attributes.get(n, 0)) for n in _COUNTS)
        if messages:
            verdict.details["messages"] = AtRisk(messages)
        if spec.role == DLQ:
            return self._kept_dlq(aws, spec, remote, deps) or verdict
        return verdict

    def _kept_dlq(self, aws: Aws, spec: QueueSpec, remote: QueueRemote, deps: Resolved) -> Verdict | None:
        """The DLQ is kept while a queue that is not deleted with it still sends its dead letters there."""
        going = {c.remote.url for ref, c in deps.decided.items() if ref.kind == NAME and c.action == DELETE}
        paginator = aws.client("sqs").get_paginator("list_dead_letter_source_queues")
        sources = [
            source
            for page in paginator.paginate(QueueUrl=remote.url)
            for source in page.get("queueUrls", [])
            if source not in going
        ]
        if not sources:
            return None
        names = ", ".join(sorted(source.rstrip("/").rsplit("/", 1)[-1] for source in sources))
        if len(sources) == 1:
            reason = f"kept: queue {names} is not deleted and still sends its dead letters here (RedrivePolicy)"
        else:
            reason = f"kept: queues {names} are not deleted and still send their dead letters here (RedrivePolicy)"
        return Verdict(KEEP, Details({REASON: Note(reason), "sources": Set(sorted(sources))}))

    def needs_force(self, change: Change) -> str | None:
        at_risk = change.details.get("messages")
        if not isinstance(at_risk, AtRisk):
            return None
        return f"queue {change.name} holds {_messages(at_risk.messages)}"

    def notes(self, changes: list[Change], *, emulator: bool, deleted: bool) -> list[str]:
        if deleted and not emulator and any(c.action == DELETE for c in changes):
            return ["note: SQS allows a deleted queue's name to be used again only after 60 seconds"]
        return []

    # --- doctor ---

    def checks(self, specs: list[QueueSpec], deps: Resolved) -> list[Row]:
        main, dlq = next(s for s in specs if s.role == MAIN), next(s for s in specs if s.role == DLQ)
        checks = QueueChecks(main, dlq, deps)
        return [
            Row("queue", RANK_QUEUE, lambda: checks.exists(main)),
            Row("dlq", RANK_DLQ, lambda: checks.exists(dlq)),
            Row("max receive count", RANK_MAX_RECEIVE, checks.max_receive_count),
            Row("encryption (SSE)", RANK_SSE, checks.sse),
            Row("TLS-only queue policy", RANK_TLS, checks.tls_only),
            Row("dead letters", RANK_DEAD_LETTERS, checks.dead_letters),
        ]


class QueueChecks:
    """Doctor's queue rows. Each row compares every attribute except those with a row of their own."""

    def __init__(self, main: QueueSpec, dlq: QueueSpec, deps: Resolved) -> None:
        self.main, self.dlq, self.deps = main, dlq, deps

    def _found(self, spec: QueueSpec) -> QueueRemote | None:
        remote = self.deps.remote(spec.ref)
        return remote if isinstance(remote, QueueRemote) else None

    def exists(self, spec: QueueSpec) -> Finding:
        change = KIND.diff(spec, self.deps.remote(spec.ref), self.deps)
        if change.action == CREATE:
            return Finding(FAIL, f"{spec.name} does not exist", _SETUP)
        differs = {k: v for k, v in change.details.items() if k not in _OWN_ROWS}
        if differs:
            text = "; ".join(
                f"{k}: {v.before} (config: {v.after})" if isinstance(v, Update) else f"{k} differs"
                for k, v in differs.items()
            )
            return Finding(WARN, f"{spec.name} differs from the config: {text}", _SETUP)
        return Finding(OK, f"{spec.name} exists with the configured attributes")

    def max_receive_count(self) -> Finding:
        main = self._found(self.main)
        if main is None:
            return Finding(FAIL, "the queue does not exist", _SETUP)
        try:
            policy = json.loads(main.attributes.get("RedrivePolicy") or "{}")
        except ValueError:
            policy = {}
        if not policy.get("deadLetterTargetArn"):
            return Finding(FAIL, "no redrive policy: a failing message is retried until it expires", _SETUP)
        count = int(policy.get("maxReceiveCount", 0))
        target = str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        if target != self.dlq.name:
            return Finding(FAIL, f"the redrive policy points at {target}, not {self.dlq.name}", _SETUP)
        if count < 5:
            return Finding(
                WARN,
                f"{count}: a throttled or failed batch may dead-letter messages early (AWS recommends >= 5)",
                "set queue.dlq.max_receive_count: 5 and run `txnalert setup`",
            )
        return Finding(OK, f"{count}, then {target}")

    def sse(self) -> Finding:
        found = [(spec, self._found(spec)) for spec in (self.main, self.dlq)]
        if all(remote is None for _, remote in found):
            return Finding(FAIL, "the queues do not exist", _SETUP)
        plain = [
            spec.name
            for spec, remote in found
            if remote is not None
            and str(remote.attributes.get("SqsManagedSseEnabled", "false")).lower() != "true"
            and not remote.attributes.get("KmsMasterKeyId")
        ]
        if plain:
            return Finding(FAIL, f"not encrypted at rest: {', '.join(plain)}", _SETUP)
        return Finding(OK, "both queues encrypted at rest")

    def tls_only(self) -> Finding:
        found = [(spec, self._found(spec)) for spec in (self.dlq, self.main)]
        if all(remote is None for _, remote in found):
            return Finding(FAIL, "the queues do not exist", _SETUP)
        open_ = [
            spec.name
            for spec, remote in found
            if remote is not None
            and not denies_insecure_transport(normalize_policy(remote.attributes.get("Policy")), remote.arn)
        ]
        if open_:
            return Finding(
                FAIL,
                f"{' and '.join(open_)} {'does' if len(open_) == 1 else 'do'} not deny requests without TLS "
                "(no Deny on aws:SecureTransport false)",
                _SETUP,
            )
        return Finding(OK, "both queues deny any request without TLS (aws:SecureTransport)")

    def dead_letters(self) -> Finding:
        dlq = self._found(self.dlq)
        if dlq is None:
            return Finding(FAIL, "the DLQ does not exist", _SETUP)
        count = sum(int(dlq.attributes.get(k, 0)) for k in _COUNTS[:2])
        if count == 0:
            return Finding(OK, "the DLQ is empty")
        # The one receive doctor makes: up to 10 DLQ messages, visibility timeout 0 (their receive count goes
        # up, which does not matter in a DLQ), for the oldest one's age.
        messages = (
            self.deps.aws.client("sqs")
            .receive_message(
                QueueUrl=dlq.url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["SentTimestamp"],
            )
            .get("Messages", [])
        )
        sent = [int(m.get("Attributes", {}).get("SentTimestamp", 0)) for m in messages]
        oldest = f", the oldest {_age(time.time() - min(sent) / 1000)} old" if sent else ""
        return Finding(
            WARN,
            f"{count} messages in the DLQ{oldest}",
            "see why with `txnalert inspect-queue --dlq --peek 5` and `txnalert logs --level WARNING`, "
            "then `txnalert redrive` or `txnalert drain --dlq`",
        )


KIND = QueueKind()
