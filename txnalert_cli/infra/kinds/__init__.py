"""The registry: every resource kind txnalert manages, in dependency order (the plan's order; teardown goes
backwards). Adding a kind: its module (a `Kind`, see `base.py`) and one line here."""

from __future__ import annotations

from typing import Any

from . import configuration_set, function, identity, queue, role, table, trigger
from .base import Kind

KINDS: tuple[Kind[Any, Any], ...] = (
    queue.KIND,
    table.KIND,
    identity.KIND,
    configuration_set.KIND,
    role.KIND,
    function.KIND,
    trigger.KIND,
)
BY_NAME: dict[str, Kind[Any, Any]] = {kind.name: kind for kind in KINDS}

# What `txnalert create-queue` and `txnalert deploy` plan (`setup`: every kind).
QUEUE_KINDS = frozenset({queue.NAME})
LAMBDA_KINDS = frozenset({role.NAME, function.NAME, trigger.NAME})
