"""The kind protocol, and what every kind shares.

A kind (an SQS queue, the idempotency table, an SES identity, ...) is one object implementing `Kind`: what the
config wants (`desired` -> specs), what exists (`read`, get/list/describe only), the difference (`diff` ->
a `Change` with typed `Details`), the changing calls (`apply`, `delete`), teardown's policy (`verdict`) and
doctor's rows (`checks`). The planner, the executor, teardown and doctor iterate the kinds of the registry
(`kinds/__init__.py`) and hold no per-kind code.

Specs declare their dependencies (`dependencies()`, as chalice's `Model.dependencies()`): the planner orders
them by these, and `Resolved` gives each kind what its dependencies are (their ARN or URL, or None while they
are still to be created), read once and shared, so that no ARN is passed by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar

from ...aws import Aws
from ...config import Config
from ...errors import ApplyError, TxnalertError, error_code, from_botocore
from .. import ses
from ..package import FunctionPackage, build_package
from ..policy import build_arn
from .model import CREATE, UNCHANGED, UPDATE, Change, Outputs, Row, Verdict
from .tags import ownership

# A new IAM role takes seconds to become assumable by Lambda (and a new policy to take effect): the calls that
# need it are retried with backoff on the errors that mean "not yet", for at most PROPAGATION_SECONDS.
PROPAGATION_SECONDS = 60.0
# How long a resource may stay in a transitional state (a trigger being updated) before we give up.
SETTLE_SECONDS = 60.0
_PROPAGATION_MESSAGES = (
    "cannot be assumed by lambda",
    "the role defined for the function cannot be assumed",
    "execution role does not have permissions",
)

S = TypeVar("S")
R = TypeVar("R")
_T = TypeVar("_T")


class RoleNotReady(TxnalertError):
    """Lambda kept refusing a new role (IAM propagation) for longer than we wait."""


# --- specs and what they resolve to ------------------------------------------------------------------


class SpecRef(NamedTuple):
    """A spec by its kind and name: what a dependency names."""

    kind: str
    name: str


class SpecBase:
    """What every spec (a frozen dataclass per kind) has: its kind, a name, its dependencies."""

    kind: ClassVar[str]

    @property
    def ref(self) -> SpecRef:
        return SpecRef(self.kind, self.name)  # type: ignore[attr-defined]

    def dependencies(self) -> list[SpecRef]:
        return []


@dataclass
class Plan:
    """The changes, in dependency order, and what the planner resolved (the executor goes on from there)."""

    changes: list[Change]
    resolved: Resolved | None = None
    actions: ClassVar[tuple[str, ...]] = (CREATE, UPDATE, UNCHANGED)

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != UNCHANGED]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.actions, 0)
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {"changes": [c.as_dict() for c in self.changes], "summary": self.counts()}


@dataclass(frozen=True)
class TeardownOptions:
    include_identities: bool = False  # --include-identities: SES identities are kept otherwise
    force: bool = False  # --force: delete queues that hold messages
    dry_run: bool = False


# --- what the kinds need beyond the config ------------------------------------------------------------------


class Env:
    """What `desired()` needs beyond the config. Planning (setup, deploy) builds the function's zip and looks up
    the sender's identity (SenderNotCovered before anything is planned); teardown and doctor only name the
    resources (`planning=False`: no zip, no lookup). The SES account is read once, when first asked for."""

    def __init__(
        self, aws: Aws, config: Config, *, planning: bool = True, package: FunctionPackage | None = None
    ) -> None:
        self.aws = aws
        self.config = config
        self.planning = planning
        self._package = package

    @property
    def region(self) -> str:
        return self.aws.region

    @property
    def emulator(self) -> bool:
        """The emulator or a local endpoint: moto runs no function code there (`txnalert worker` consumes)."""
        return self.aws.is_local

    @cached_property
    def package(self) -> FunctionPackage | None:
        if self._package is not None or not self.planning:
            return self._package
        return build_package(self.config)

    @cached_property
    def sender_identity(self) -> str | None:
        return ses.sender_identity(self.aws, self.config) if self.planning else None

    @cached_property
    def covering_identity(self) -> str | None:
        """The sender's identity, or None when nothing covers it (doctor's rows say so)."""
        return ses.covering_identity(self.aws, self.config)

    @cached_property
    def ses_account(self) -> ses.AccountStatus:
        return ses.account_status(self.aws)


@dataclass(frozen=True)
class Pace:
    """How the executor waits: `sleep` (injectable for tests), how long IAM propagation and a transitional
    state may take, and the Lambda waiters' delay (1 s on the emulator, where the first check passes)."""

    sleep: Callable[[float], None] = time.sleep
    propagation_seconds: float = PROPAGATION_SECONDS
    settle_seconds: float = SETTLE_SECONDS
    delay: int = 2

    @property
    def waiter_config(self) -> dict[str, int]:
        return {"Delay": self.delay, "MaxAttempts": 150}


class Resolved:
    """What the kinds know of each other's resources: each spec's remote state (read once, when first needed),
    and its outputs (from what was read, or recorded by the executor once created). A dependency outside the
    plan (`deploy` plans no queue) is looked up by its kind's `find`, which names the fix when it is missing.

    `forgiving` (doctor): a read that failed is reported by the row that asked first; the rows after see the
    resource as absent. `decided`: teardown's changes so far (a DLQ asks which queues go)."""

    def __init__(
        self, env: Env, kinds: Mapping[str, Kind[Any, Any]], specs: Sequence[Any] = (), *, forgiving: bool = False
    ) -> None:
        self.env = env
        self.aws = env.aws
        self._kinds = kinds
        self._specs: dict[SpecRef, Any] = {spec.ref: spec for spec in specs}
        self._remotes: dict[SpecRef, Any] = {}
        self._outputs: dict[SpecRef, Outputs | None] = {}
        self._failed: set[SpecRef] = set()
        self.forgiving = forgiving
        self.decided: dict[SpecRef, Change] = {}

    def remote(self, ref: SpecRef) -> Any:
        """What exists of a spec of this plan (None: nothing)."""
        if ref in self._remotes:
            return self._remotes[ref]
        if ref in self._failed:
            return None
        try:
            remote = self._kinds[ref.kind].read(self.aws, self._specs[ref], self)
        except Exception:
            if self.forgiving:
                self._failed.add(ref)
            raise
        self._remotes[ref] = remote
        return remote

    def outputs(self, ref: SpecRef) -> Outputs | None:
        """A dependency's outputs; None while it is still to be created."""
        if ref not in self._outputs:
            kind = self._kinds[ref.kind]
            if ref in self._specs:
                remote = self.remote(ref)
                self._outputs[ref] = None if remote is None else kind.outputs(remote)
            else:
                self._outputs[ref] = kind.find(self.aws, ref.name)
        return self._outputs[ref]

    def arn(self, ref: SpecRef) -> str | None:
        outputs = self.outputs(ref)
        return outputs.arn if outputs is not None else None

    def record(self, ref: SpecRef, outputs: Outputs) -> None:
        """A resource created or updated: its outputs for the changes after it."""
        self._outputs[ref] = outputs

    @property
    def account(self) -> str:
        """The account id of the credentials (STS GetCallerIdentity, once per Aws; moto: 123456789012)."""
        return self.aws.caller_account()

    def readable_account(self) -> str | None:
        """The account id, or None when the credentials may not read it (GetCallerIdentity denied)."""
        try:
            return self.account
        except Exception as exc:
            if error_code(exc) in ("AccessDenied", "AccessDeniedException"):
                return None
            raise

    def built_arn(self, service: str, resource: str) -> str:
        """The ARN of a regional resource by its name (it may not exist): a queue's is
        `built_arn("sqs", name)`, a function's `built_arn("lambda", f"function:{name}")`."""
        return build_arn(service, self.aws.region, self.account, resource)


# --- the protocol -------------------------------------------------------------------------------------------


class Kind(Protocol[S, R]):
    """One resource kind. `S` is its spec, `R` what `read` returns of an existing resource."""

    name: str  # the plan's RESOURCE column: "sqs-queue", "dynamodb-table", ...

    def desired(self, config: Config, env: Env) -> list[S]:
        """The specs the config wants ([] when it wants none), in order."""
        ...

    def read(self, aws: Aws, spec: S, deps: Resolved) -> R | None:
        """What exists (get/list/describe calls only); None when nothing does."""
        ...

    def diff(self, spec: S, remote: R | None, deps: Resolved) -> Change:
        """create, update (with what changes) or unchanged; ResourceConflict for what cannot be taken over.
        Reads only, through `deps`."""
        ...

    def outputs(self, remote: R) -> Outputs:
        """What an existing resource gives its dependents."""
        ...

    def apply(self, aws: Aws, change: Change, deps: Resolved, pace: Pace) -> Outputs:
        """The changing calls of a create or update; what the resource gives its dependents."""
        ...

    def delete(self, aws: Aws, remote: R) -> None: ...

    def verdict(self, aws: Aws, spec: S, remote: R, deps: Resolved, options: TeardownOptions) -> Verdict:
        """Teardown: delete (ours), keep (ours, but kept: why) or skip (not ours)."""
        ...

    def needs_force(self, change: Change) -> str | None:
        """Why deleting needs --force ("queue txq holds 3 messages"); None when it does not."""
        ...

    def find(self, aws: Aws, name: str) -> Outputs:
        """A dependency outside the plan: its outputs, or the error naming the fix when it does not exist."""
        ...

    def checks(self, specs: list[S], deps: Resolved) -> list[Row]:
        """Doctor's rows for this kind's specs."""
        ...

    def notes(self, changes: list[Change], *, emulator: bool, deleted: bool) -> list[str]:
        """What to tell after a plan (`deleted`: after a teardown that deleted) with these changes of the kind."""
        ...


class KindBase(Generic[S, R]):
    """Defaults for the optional parts of `Kind`: ownership by tags (`remote.tags`), no rows, no notes."""

    name: str = ""

    def outputs(self, remote: R) -> Outputs:
        return Outputs(arn=remote.arn)  # type: ignore[attr-defined]

    def verdict(self, aws: Aws, spec: S, remote: R, deps: Resolved, options: TeardownOptions) -> Verdict:
        return ownership(remote.tags, deps.env.config.resource_tags)  # type: ignore[attr-defined]

    def needs_force(self, change: Change) -> str | None:
        return None

    def find(self, aws: Aws, name: str) -> Outputs:
        raise TypeError(f"{self.name} {name} is not in the plan, and nothing depends on it")

    def checks(self, specs: list[S], deps: Resolved) -> list[Row]:
        return []

    def notes(self, changes: list[Change], *, emulator: bool, deleted: bool) -> list[str]:
        return []


# --- calls -----------------------------------------------------------------------------------------------


def if_exists(codes: tuple[str, ...], call: Callable[[], _T]) -> _T | None:
    """`call()`'s answer; None when AWS answers with one of `codes` (the service's "no such resource")."""
    try:
        return call()
    except Exception as exc:
        if error_code(exc) in codes:
            return None
        raise


def apply_error(exc: Exception, failed: str, done: list[str], not_done: list[str]) -> ApplyError | None:
    """The ApplyError for `failed` (what was being done) when `exc` is an AWS or txnalert error; None for
    anything else (a bug: let it propagate)."""
    translated = from_botocore(exc)
    if translated is None and isinstance(exc, TxnalertError):
        translated = exc
    if translated is None:
        return None
    return ApplyError(f"{failed} failed: {translated.message}", done, not_done)


def _propagating(exc: Exception) -> str | None:
    """The message of an error that means "IAM has not propagated the role yet"; None for any other."""
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
    if error_code(exc) == "InvalidParameterValueException" and any(
        text in message.lower() for text in _PROPAGATION_MESSAGES
    ):
        return message
    return None


def until_propagated(pace: Pace, call: Callable[[], _T], what: str) -> _T:
    """`call()`, retried with backoff (1, 2, 4, 8, 16, 16... s) while IAM has not propagated a new role or
    policy, for at most `pace.propagation_seconds`."""
    waited = 0.0
    delay = 1.0
    while True:
        try:
            return call()
        except Exception as exc:
            message = _propagating(exc)
            if message is None:
                raise
            if waited >= pace.propagation_seconds:
                raise RoleNotReady(
                    f"{what}: Lambda still cannot use the role after {waited:g} s ({message.rstrip('.')}); "
                    "IAM changes can take a minute to propagate: run the same command again"
                ) from None
        pause = min(delay, pace.propagation_seconds - waited)
        pace.sleep(pause)
        waited += pause
        delay = min(delay * 2, 16.0)
