"""`txnalert teardown`: delete, in reverse dependency order, exactly the resources the config names and that
carry its tags (`managed-by: txnalert` plus the config's `tags`).

A resource of the same name without those tags is left alone and reported (`skip`); a missing one is
reported as absent. Planning is read-only (get/list/describe); `apply_teardown` makes the deleting calls.
What is ours is decided by each kind (`verdict`): by its tags, and for the SQS trigger (which has no tags)
by its function; what is ours but kept (`keep`, with the reason) too: SES identities unless
--include-identities, a DLQ another queue still uses. Queues holding messages are deleted only with --force
(the plan says how many messages would be lost). The function's CloudWatch log group is not deleted (Lambda
creates it, untagged, and the logs may still be wanted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..aws import Aws
from ..config import Config
from ..errors import UsageError
from .kinds import BY_NAME
from .kinds.base import Env, Plan, Resolved, TeardownOptions, apply_error
from .kinds.model import ABSENT, DELETE, TEARDOWN_ACTIONS, Change
from .plan import desired_specs, notes


@dataclass
class TeardownPlan(Plan):
    """The config's resources in reverse dependency order, each to delete, keep, skip (not ours) or absent."""

    actions = TEARDOWN_ACTIONS

    @property
    def to_delete(self) -> list[Change]:
        return [c for c in self.changes if c.action == DELETE]

    def at_risk(self) -> list[str]:
        """Why deleting needs --force (queues holding messages)."""
        return [why for c in self.to_delete if (why := BY_NAME[c.resource].needs_force(c))]


def plan_teardown(aws: Aws, config: Config, *, include_identities: bool = False) -> TeardownPlan:
    """Read-only: finds the config's resources and decides which are ours. Each is read once, when first
    needed (a trigger is looked for by its queue's and function's ARNs, whether or not they still exist)."""
    env = Env(aws, config, planning=False)
    specs = desired_specs(config, env)
    deps = Resolved(env, BY_NAME, specs)
    options = TeardownOptions(include_identities=include_identities)
    for spec in reversed(specs):
        kind = BY_NAME[spec.kind]
        remote = deps.remote(spec.ref)
        change = Change(spec.kind, spec.name, ABSENT, spec=spec, remote=remote)
        if remote is not None:
            verdict = kind.verdict(aws, spec, remote, deps, options)
            change.action, change.details = verdict.action, verdict.details
        deps.decided[spec.ref] = change
    return TeardownPlan(list(deps.decided.values()), deps)


def check_force(plan: TeardownPlan, force: bool) -> None:
    """Queues with messages need --force: a usage error before anything is deleted."""
    at_risk = plan.at_risk()
    if at_risk and not force:
        held = " and ".join(at_risk)
        raise UsageError(f"{held} that would be lost: pass --force to delete anyway (nothing was deleted)")


def apply_teardown(aws: Aws, plan: TeardownPlan, *, force: bool = False) -> TeardownPlan:
    """Delete what the plan marks `delete`, in its order; stops at the first failure (ApplyError says what
    was deleted and what was not; running again continues: what is gone is then absent)."""
    check_force(plan, force)
    done: list[str] = []
    items = plan.to_delete
    for index, change in enumerate(items):
        try:
            BY_NAME[change.resource].delete(aws, change.remote)
        except Exception as exc:
            error = apply_error(exc, f"delete {change}", done, [str(c) for c in items[index:]])
            if error is None:
                raise
            raise error from exc
        done.append(str(change))
    return plan


@dataclass
class TeardownResult:
    plan: TeardownPlan
    deleted: bool
    dry_run: bool
    notes: list[str] = field(default_factory=list)
    exit_code: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.plan.as_dict(), "deleted": self.deleted, "dry_run": self.dry_run}


def run(
    aws: Aws,
    config: Config,
    options: TeardownOptions,
    *,
    confirm: Callable[[TeardownPlan], None] | None = None,
) -> TeardownResult:
    """Plan the teardown and, unless a dry run, delete (after `confirm`, which raises to stop)."""
    plan = plan_teardown(aws, config, include_identities=options.include_identities)
    deleted = False
    if not options.dry_run and plan.to_delete:
        check_force(plan, options.force)
        if confirm is not None:
            confirm(plan)
        apply_teardown(aws, plan, force=options.force)
        deleted = True
    env = Env(aws, config, planning=False)
    return TeardownResult(plan, deleted, options.dry_run, notes(plan.to_delete if deleted else [], env, deleted=True))
