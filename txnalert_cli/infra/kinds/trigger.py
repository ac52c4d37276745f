"""The SQS trigger: the event source mapping from the config's queue to the config's function.

The trigger has no tags: the mapping from the queue to the function (by the function's ARN, built from its
name when the function does not exist) is adopted and updated, never duplicated. Lambda keeps a deleted
function's mappings: such an orphan is re-attached to the function created again under the same name, and
teardown deletes it (ours by the function name the config names). Mappings are listed by the queue's ARN
(built from its name when the queue is gone) and matched on the function's ARN.

On the emulator the trigger is created disabled: moto would not run the function's code (`txnalert worker`
consumes there).

MaximumConcurrency "auto": see `concurrency_for_send_rate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from ...aws import Aws
from ...config import MAX_CONCURRENCY_MAX, MAX_CONCURRENCY_MIN, VISIBILITY_FACTOR, Config
from ...errors import ApplyError, TxnalertError
from . import function, queue
from .base import Env, KindBase, Pace, Resolved, SpecBase, SpecRef, TeardownOptions, if_exists, until_propagated
from .model import (
    CREATE,
    DELETE,
    FAIL,
    OK,
    REASON,
    SKIP,
    UNCHANGED,
    UPDATE,
    WARN,
    Change,
    Details,
    Finding,
    Note,
    Outputs,
    Row,
    Set,
    Update,
    Verdict,
    placeholder,
)
from .tags import ownership, unqualified_function_arn

NAME = "event-source-mapping"
NOT_FOUND = ("ResourceNotFoundException",)
# Event source mapping states: the ones that mean "enabled" (also for doctor), and the transitional ones an
# update must wait out (for at most Pace.settle_seconds).
ENABLED_STATES: tuple[str, ...] = ("Enabled", "Enabling", "Creating", "Updating")
TRANSITIONAL_STATES: tuple[str, ...] = ("Creating", "Enabling", "Disabling", "Updating")
# One invocation sends its batch sequentially, one SES call at a time; an SES call takes about 100 ms
# (plus the idempotency table's reads and writes), so one invocation sends at most about 10 emails/s.
EMAILS_PER_SECOND_PER_INVOCATION = 10
# Doctor's rows of this kind, by rank: the queue's visibility against the function's timeout goes with the
# queue rows; the trigger and its concurrency after the function.
RANK_VISIBILITY, RANK_TRIGGER, RANK_CONCURRENCY = 12, 31, 32
EMULATOR_NOTE = (
    "note: on the emulator the SQS trigger is created disabled (moto would not run the function's code): "
    "`txnalert worker` is the consumer there"
)
_SETUP = "run `txnalert setup`"
_AUTO = "set lambda.max_concurrency: auto and run `txnalert setup`"
_CONCURRENCY = "concurrency vs SES rate"


class MappingNotSettled(TxnalertError):
    """An event source mapping stayed in a transitional state for longer than we wait."""


def concurrency_for_send_rate(max_send_rate: float) -> int:
    """MaximumConcurrency for `lambda.max_concurrency: auto`, from the SES account's max send rate (emails/s).

        max_concurrency = clamp(floor(max_send_rate / 10), 2, 1000)

    One invocation sends its batch one email at a time: each email is an SES call (~100 ms) after the
    idempotency table's write, so one invocation sends at most ~10 emails/s, and N concurrent invocations at
    most ~10 x N. floor(rate / 10) invocations therefore stay within the account's rate. 2 is the lowest
    MaximumConcurrency Lambda accepts: below a 20 emails/s quota (the sandbox's 1/s, a new account's 14/s)
    two invocations can exceed the rate for a moment; SES then throttles, the handler reports those records
    as batch item failures and SQS delivers them again after the visibility timeout, nothing is lost.
    1000 is Lambda's maximum."""
    by_rate = int(max_send_rate // EMAILS_PER_SECOND_PER_INVOCATION) if max_send_rate > 0 else 0
    return max(MAX_CONCURRENCY_MIN, min(MAX_CONCURRENCY_MAX, by_rate))


@dataclass(frozen=True)
class MappingSpec(SpecBase):
    """The SQS trigger: queue -> function. `max_concurrency` None means "auto" (from the SES send rate);
    `enabled` is False on the emulator, where moto would not run our code (`txnalert worker` consumes there)."""

    kind: ClassVar[str] = NAME
    queue_name: str
    function_name: str
    fifo: bool
    batch_size: int
    batch_window: int
    max_concurrency: int | None
    enabled: bool

    @property
    def name(self) -> str:
        return f"{self.queue_name} -> {self.function_name}"

    @property
    def queue_ref(self) -> SpecRef:
        return SpecRef(queue.NAME, self.queue_name)

    @property
    def function_ref(self) -> SpecRef:
        return SpecRef(function.NAME, self.function_name)

    def dependencies(self) -> list[SpecRef]:
        return [self.queue_ref, self.function_ref]


@dataclass
class MappingRemote:
    """The mappings from the queue to the function: the first is adopted (never a second one); teardown deletes
    them all."""

    mappings: list[dict[str, Any]]

    @property
    def first(self) -> dict[str, Any]:
        return self.mappings[0]

    @property
    def uuids(self) -> list[str]:
        return [m["UUID"] for m in self.mappings]


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


def _have(mapping: dict[str, Any]) -> dict[str, Any]:
    """What a mapping has of the parameters we manage."""
    return {
        "BatchSize": mapping.get("BatchSize"),
        "MaximumBatchingWindowInSeconds": mapping.get("MaximumBatchingWindowInSeconds", 0),
        "FunctionResponseTypes": sorted(mapping.get("FunctionResponseTypes") or []),
        "ScalingConfig": {"MaximumConcurrency": (mapping.get("ScalingConfig") or {}).get("MaximumConcurrency")},
        "Enabled": mapping.get("State") in ENABLED_STATES,
    }


class TriggerKind(KindBase[MappingSpec, MappingRemote]):
    name = NAME

    def desired(self, config: Config, env: Env) -> list[MappingSpec]:
        lam = config.lambda_
        return [
            MappingSpec(
                queue_name=config.queue.name,
                function_name=lam.function_name,
                fifo=config.queue.fifo,
                batch_size=lam.batch_size,
                batch_window=lam.batch_window,
                max_concurrency=None if isinstance(lam.max_concurrency, str) else lam.max_concurrency,
                enabled=not env.emulator,
            )
        ]

    def read(self, aws: Aws, spec: MappingSpec, deps: Resolved) -> MappingRemote | None:
        """Mappings outlive their function (DeleteFunction keeps them) and their queue: looked for even when
        either is still to be created (or gone), by the ARN it will have (the same name gives the same ARN)."""
        queue_arn = deps.arn(spec.queue_ref) or deps.built_arn("sqs", spec.queue_name)
        function_arn = deps.arn(spec.function_ref) or deps.built_arn("lambda", f"function:{spec.function_name}")
        found = find_mappings(aws.client("lambda"), queue_arn, function_arn)
        return MappingRemote(found) if found else None

    def outputs(self, remote: MappingRemote) -> Outputs:
        return Outputs(arn=remote.first.get("EventSourceMappingArn"))

    def _max_concurrency(self, spec: MappingSpec, deps: Resolved) -> tuple[int, str]:
        if spec.max_concurrency is not None:
            return spec.max_concurrency, "lambda.max_concurrency"
        rate = deps.env.ses_account.max_send_rate
        return concurrency_for_send_rate(rate), f"auto: SES max send rate {rate:g}/s"

    # --- plan ---

    def diff(self, spec: MappingSpec, remote: MappingRemote | None, deps: Resolved) -> Change:
        max_concurrency, basis = self._max_concurrency(spec, deps)
        params = mapping_parameters(spec, max_concurrency)
        if remote is None:
            details = Details(
                EventSourceArn=Set(deps.arn(spec.queue_ref) or placeholder(spec.queue_name)),
                FunctionName=Set(spec.function_name),
            )
            details.update({k: Set(v) for k, v in params.items()})
            details["MaximumConcurrencyFrom"] = Set(basis)
            return Change(NAME, spec.name, CREATE, details, spec, computed=params)
        mapping = remote.first  # adopted; never a second one
        details = Details()
        if deps.arn(spec.function_ref) is None:  # an orphan of a deleted function: re-attached once it is created
            details["Function"] = Update(
                f"{mapping.get('FunctionArn')} (deleted; Lambda kept its trigger)",
                f"{spec.function_name} (created above)",
            )
        have = _have(mapping)
        details.update({k: Update(have[k], v) for k, v in params.items() if have[k] != v})
        action = UPDATE if details else UNCHANGED
        return Change(NAME, spec.name, action, details, spec, remote, params, self.outputs(remote))

    # --- apply ---

    def apply(self, aws: Aws, change: Change, deps: Resolved, pace: Pace) -> Outputs:
        spec: MappingSpec = change.spec
        lam = aws.client("lambda")
        params = change.computed
        if change.action == CREATE:
            queue_arn = deps.arn(spec.queue_ref)
            if queue_arn is None:  # pragma: no cover - the queue is applied before (a dependency)
                raise ApplyError(f"the queue {spec.queue_name!r} has no ARN yet", [], [])
            mapping = until_propagated(
                pace,
                lambda: lam.create_event_source_mapping(
                    EventSourceArn=queue_arn, FunctionName=spec.function_name, **params
                ),
                f"create the trigger {spec.name}",
            )
            change.details["EventSourceArn"] = Set(queue_arn)
            return Outputs(arn=mapping.get("EventSourceMappingArn"))
        if "Function" in change.details:  # an orphan: point it at the function created above (same name)
            params = {"FunctionName": spec.function_name, **params}
        what = f"update the trigger {spec.name}"
        uuid = change.remote.first["UUID"]
        self._settled(aws, pace, uuid, what)
        until_propagated(pace, lambda: lam.update_event_source_mapping(UUID=uuid, **params), what)
        return self.outputs(change.remote)

    @staticmethod
    def _settled(aws: Aws, pace: Pace, uuid: str, what: str) -> dict[str, Any]:
        """The mapping once it is out of a transitional state (an update in one fails with ResourceInUse);
        MappingNotSettled after `pace.settle_seconds`."""
        lam = aws.client("lambda")
        waited = 0.0
        while True:
            mapping: dict[str, Any] = lam.get_event_source_mapping(UUID=uuid)
            state = mapping.get("State")
            if state not in TRANSITIONAL_STATES:
                return mapping
            if waited >= pace.settle_seconds:
                raise MappingNotSettled(
                    f"{what}: the trigger {uuid} is still {state} after {waited:g} s (Lambda is applying an "
                    "earlier change to it): run the same command again in a minute"
                )
            pause = min(pace.delay, pace.settle_seconds - waited)
            pace.sleep(pause)
            waited += pause

    # --- teardown ---

    def delete(self, aws: Aws, remote: MappingRemote) -> None:
        lam = aws.client("lambda")
        for uuid in remote.uuids:
            if_exists(NOT_FOUND, partial(lam.delete_event_source_mapping, UUID=uuid))  # gone already: fine

    def verdict(
        self, aws: Aws, spec: MappingSpec, remote: MappingRemote, deps: Resolved, options: TeardownOptions
    ) -> Verdict:
        """Ours when its function is ours, or gone (an orphan, ours by the function name the config names)."""
        fn = deps.remote(spec.function_ref)
        if fn is not None and ownership(fn.tags, deps.env.config.resource_tags).action != DELETE:
            return Verdict(SKIP, Details({REASON: Note("its function is not ours, left alone")}))
        details = Details()
        if fn is None:
            details[REASON] = Note(
                f"orphaned: function {spec.function_name} no longer exists (Lambda keeps a deleted function's "
                "triggers); ours by the function name the config names"
            )
        if len(remote.mappings) > 1:
            details["uuids"] = Set(remote.uuids)
        return Verdict(DELETE, details)

    def notes(self, changes: list[Change], *, emulator: bool, deleted: bool) -> list[str]:
        return [EMULATOR_NOTE] if emulator and changes and not deleted else []

    # --- doctor ---

    def checks(self, specs: list[MappingSpec], deps: Resolved) -> list[Row]:
        rows = []
        for spec in specs:
            checks = TriggerChecks(spec, deps)
            rows += [
                Row("visibility timeout", RANK_VISIBILITY, checks.visibility),
                Row("trigger", RANK_TRIGGER, checks.trigger),
                Row(_CONCURRENCY, RANK_CONCURRENCY, checks.concurrency),
            ]
        return rows


class TriggerChecks:
    """Doctor's rows on the queue, the function and the mapping between them."""

    def __init__(self, spec: MappingSpec, deps: Resolved) -> None:
        self.spec, self.deps = spec, deps
        self.config = deps.env.config

    def _ends(self) -> tuple[Any, Any]:
        """The queue and the function, as read (None: absent)."""
        return self.deps.remote(self.spec.queue_ref), self.deps.remote(self.spec.function_ref)

    def _mapping(self) -> dict[str, Any] | None:
        """The mapping, when the queue and the function exist."""
        main, fn = self._ends()
        remote = self.deps.remote(self.spec.ref) if main is not None and fn is not None else None
        return remote.first if remote is not None else None

    def visibility(self) -> Finding:
        main = self.deps.remote(self.spec.queue_ref)
        if main is None:
            return Finding(FAIL, "the queue does not exist", _SETUP)
        fn = self.deps.remote(self.spec.function_ref)
        vis = int(main.attributes.get("VisibilityTimeout", 0))
        timeout = int((fn.configuration.get("Timeout") if fn is not None else None) or self.config.lambda_.timeout)
        window = 0 if self.config.queue.fifo else self.config.lambda_.batch_window
        recommended = VISIBILITY_FACTOR * timeout + window
        rule = f"{VISIBILITY_FACTOR} x function timeout {timeout} s" + (f" + batch window {window} s" if window else "")
        fix = f"set queue.visibility_timeout >= {recommended} and run `txnalert setup`"
        if vis < timeout:
            return Finding(
                FAIL, f"{vis} s is below the function timeout ({timeout} s): messages are processed twice", fix
            )
        if vis < recommended:
            return Finding(WARN, f"{vis} s is below {rule} ({recommended} s), AWS's recommendation", fix)
        return Finding(OK, f"{vis} s >= {rule}")

    def trigger(self) -> Finding:
        main, fn = self._ends()
        if fn is None or main is None:
            return Finding(FAIL, "needs the queue and the function", _SETUP)
        m = self._mapping()
        if m is None:
            return Finding(FAIL, "no event source mapping from the queue to the function", _SETUP)
        lam = self.config.lambda_
        emulator = self.deps.env.emulator
        problems, notes = self._problems(m, emulator), self._differences(m)
        if problems:
            return Finding(FAIL, "; ".join(problems + notes), _SETUP)
        if notes:
            return Finding(WARN, "; ".join(notes), _SETUP)
        state = "disabled on the emulator (`txnalert worker` consumes)" if emulator else m.get("State")
        return Finding(OK, f"{state}, batch {lam.batch_size}, ReportBatchItemFailures on")

    def _differences(self, m: dict[str, Any]) -> list[str]:
        """What the mapping has otherwise than the config (a warning: it still works)."""
        lam = self.config.lambda_
        notes = []
        if int(m.get("BatchSize", 0)) != lam.batch_size:
            notes.append(f"batch size {m.get('BatchSize')} (config: {lam.batch_size})")
        if not self.config.queue.fifo and int(m.get("MaximumBatchingWindowInSeconds", 0) or 0) != lam.batch_window:
            notes.append(f"batching window {m.get('MaximumBatchingWindowInSeconds')} s (config: {lam.batch_window} s)")
        return notes

    @staticmethod
    def _problems(m: dict[str, Any], emulator: bool) -> list[str]:
        problems = []
        enabled = m.get("State") in ENABLED_STATES
        if emulator and enabled:
            problems.append("enabled on the emulator: moto deletes or dead-letters messages without running the code")
        elif not emulator and not enabled:
            problems.append(f"state {m.get('State')}: nothing consumes the queue")
        if "ReportBatchItemFailures" not in (m.get("FunctionResponseTypes") or []):
            problems.append("ReportBatchItemFailures is off: one bad record retries (and re-sends) the whole batch")
        return problems

    def concurrency(self) -> Finding:
        mapping = self._mapping()
        if mapping is None:
            return Finding(FAIL, "no trigger to check", _SETUP)
        rate = self.deps.env.ses_account.max_send_rate
        limit = (mapping.get("ScalingConfig") or {}).get("MaximumConcurrency")
        batch = int(mapping.get("BatchSize", self.config.lambda_.batch_size))
        if not limit:
            return Finding(
                WARN,
                f"no MaximumConcurrency: up to 1000 invocations x {batch} records against SES's {rate:g} emails/s",
                _AUTO,
            )
        fits = concurrency_for_send_rate(rate)
        peak = int(limit) * EMAILS_PER_SECOND_PER_INVOCATION
        detail = (
            f"MaximumConcurrency {limit} x batch {batch}: up to {int(limit) * batch} emails in flight, "
            f"~{peak}/s, SES max send rate {rate:g}/s"
        )
        if int(limit) > fits:
            return Finding(WARN, detail + f" (at most {fits} invocations fit)", _AUTO)
        if peak > rate and not self.deps.aws.is_local:
            # Even Lambda's minimum concurrency (2) outruns the quota: throttled records are retried by SQS,
            # and a record throttled max_receive_count times is dead-lettered.
            return Finding(
                WARN,
                detail + ": throttled records are retried, and dead-lettered after max_receive_count throttles",
                "request a higher SES sending quota (production access)",
            )
        note = " (moto's fixed stand-in quota)" if peak > rate else ""
        return Finding(OK, detail + note)


KIND = TriggerKind()
