"""The executor: carries a plan out in its (dependency) order, the only code that calls the kinds' `apply`,
and stops at the first failure, saying what was done and what was not (ApplyError)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..aws import Aws
from .kinds import BY_NAME
from .kinds.base import PROPAGATION_SECONDS, SETTLE_SECONDS, Pace, Plan, apply_error


class Executor:
    """Applies a plan in order; stops at the first failure.

    `sleep` is what the IAM propagation retries and the trigger's state waits sleep with (injectable for
    tests); they give up after `propagation_seconds` and `settle_seconds`."""

    def __init__(
        self,
        aws: Aws,
        *,
        sleep: Callable[[float], None] = time.sleep,
        propagation_seconds: float = PROPAGATION_SECONDS,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self.aws = aws
        # Lambda settles in seconds; the emulator at once (the first check passes, no sleep at all).
        self.pace = Pace(sleep, propagation_seconds, settle_seconds, delay=1 if aws.is_local else 2)

    def apply(self, plan: Plan) -> Plan:
        if plan.resolved is None:
            raise ValueError("a plan to apply comes from Planner.plan")
        deps = plan.resolved
        pending = plan.pending
        done: list[str] = []
        for index, change in enumerate(pending):
            try:
                outputs = BY_NAME[change.resource].apply(self.aws, change, deps, self.pace)
            except Exception as exc:
                not_done = [str(c) for c in pending[index:]]
                error = apply_error(exc, f"{change.action} {change}", done, not_done)
                if error is None:
                    raise
                raise error from exc
            change.outputs = outputs
            deps.record(change.spec.ref, outputs)
            done.append(str(change))
        return plan
