"""Desired resources -> a read-only plan (`Planner`), and `run`, the one call behind `setup`, `create-queue` and
`deploy`: plan, then (unless a dry run) confirm and apply (`apply.Executor`, the only code that makes changing
calls).

The kinds' specs (`kinds/`) come from the config in dependency order: DLQ, queue (both with a TLS-only queue
policy), idempotency table, SES identities, the SES configuration set (when `ses.configuration_set` names
one), the function's IAM role (with its one inline policy), the Lambda function, and its SQS trigger (the
event source mapping). The planner orders them by their declared dependencies (a topological sort, stable in
the registry's order), reads what exists (get/list/describe calls only) and returns a `Plan`: one `Change`
per resource, `create`, `update` (with the changed attributes) or `unchanged`. What does not exist yet is
referred to by placeholders such as `<arn of txq-dlq>` that the executor resolves as it goes. A dry run is
the same plan, printed.

What an existing resource of the same name may become (ownership) is each kind's: the IAM role and the Lambda
function are changed only when they carry every one of the config's tags (`managed-by: txnalert` plus `tags`),
else the plan fails with ResourceConflict; queues, the table, identities and the configuration set are
adopted (`adopt (untagged)` in the details); the trigger is adopted, never duplicated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..aws import Aws
from ..config import Config
from ..errors import PENDING_CHANGES, UsageError
from .apply import Executor
from .kinds import BY_NAME, KINDS
from .kinds.base import Env, Plan, Resolved, SpecRef
from .kinds.model import Change
from .package import FunctionPackage


def ordered(specs: Sequence[Any]) -> list[Any]:
    """The specs in dependency order: a topological sort by `dependencies()` (those in `specs`), stable in the
    given order (the registry's), so that a spec comes after everything it depends on."""
    pending = list(specs)
    present = {spec.ref for spec in pending}
    placed: set[SpecRef] = set()
    result = []
    while pending:
        ready = next(
            (s for s in pending if all(d in placed or d not in present for d in s.dependencies())),
            None,
        )
        if ready is None:
            raise ValueError(f"dependency cycle among {', '.join(str(s.ref) for s in pending)}")
        pending.remove(ready)
        placed.add(ready.ref)
        result.append(ready)
    return result


def desired_specs(config: Config, env: Env, kinds: Iterable[str] | None = None) -> list[Any]:
    """Every spec the config wants (of `kinds`, default all), in dependency order."""
    wanted = None if kinds is None else frozenset(kinds)
    specs = [s for k in KINDS if wanted is None or k.name in wanted for s in k.desired(config, env)]
    return ordered(specs)


class Planner:
    """Read-only: compares desired resources with what exists (get/list/describe calls only)."""

    def __init__(self, env: Env) -> None:
        self.env = env

    def plan(self, specs: Sequence[Any]) -> Plan:
        specs = ordered(specs)
        deps = Resolved(self.env, BY_NAME, specs)
        changes = [BY_NAME[spec.kind].diff(spec, deps.remote(spec.ref), deps) for spec in specs]
        return Plan(changes, deps)


def check_options(*, dry_run: bool, detailed_exitcode: bool) -> None:
    """A usage error before anything is read: --detailed-exitcode tells whether a dry run has changes."""
    if detailed_exitcode and not dry_run:
        raise UsageError("--detailed-exitcode needs --dry-run: it tells whether the plan has changes")


@dataclass
class PlanResult:
    """What `setup`, `create-queue` and `deploy` report: the plan, whether it was applied, and the notes to
    tell. `package`: the zip `deploy` was given (its JSON reports it)."""

    plan: Plan
    applied: bool
    dry_run: bool
    detailed_exitcode: bool = False
    package: FunctionPackage | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0; with --detailed-exitcode, PENDING_CHANGES (3) when the plan has changes."""
        return PENDING_CHANGES if self.detailed_exitcode and self.plan.pending else 0

    def as_dict(self) -> dict[str, Any]:
        data = {**self.plan.as_dict(), "applied": self.applied, "dry_run": self.dry_run}
        if self.package is not None:
            data["package"] = self.package.as_dict()
        return data


def run(
    aws: Aws,
    config: Config,
    *,
    kinds: Iterable[str] | None = None,
    dry_run: bool = False,
    detailed_exitcode: bool = False,
    confirm: Callable[[Plan], None] | None = None,
    package: FunctionPackage | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PlanResult:
    """Plan the pipeline's resources (or only those of `kinds`) and, unless dry_run, apply the plan.

    A sender SES would reject is a config error (SenderNotCovered) before anything is planned. `package`
    replaces the zip built from the installed handler and Powertools. `confirm` is called with a plan that has
    changes, before any of them is applied; it raises to stop. `sleep` is what the executor waits with."""
    check_options(dry_run=dry_run, detailed_exitcode=detailed_exitcode)
    env = Env(aws, config, package=package)
    plan = Planner(env).plan(desired_specs(config, env, kinds))
    applied = False
    if not dry_run and plan.pending:
        if confirm is not None:
            confirm(plan)
        Executor(aws, sleep=sleep).apply(plan)
        applied = True
    return PlanResult(plan, applied, dry_run, detailed_exitcode, package, notes(plan.changes, env))


def notes(changes: list[Change], env: Env, *, deleted: bool = False) -> list[str]:
    """What the kinds of these changes have to tell (the trigger on the emulator, a deleted queue's name)."""
    return [
        note
        for kind in KINDS
        for note in kind.notes([c for c in changes if c.resource == kind.name], emulator=env.emulator, deleted=deleted)
    ]
