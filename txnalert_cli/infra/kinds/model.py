"""The models the kinds fill in: a plan's `Change` with typed `Details` (rendered to the JSON and to the CHANGES
column), teardown's `Verdict`, doctor's `Finding` and `Check`, and the `Outputs` a resource gives the kinds
that depend on it. Plain dataclasses, no calls."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"  # setup, create-queue, deploy
DELETE, KEEP, SKIP, ABSENT = "delete", "keep", "skip", "absent"  # teardown
TEARDOWN_ACTIONS = (DELETE, KEEP, SKIP, ABSENT)
REASON = "reason"  # teardown's details: why a resource is kept or left alone


@dataclass(frozen=True)
class Outputs:
    """What a resource gives the kinds that depend on it."""

    arn: str | None = None
    url: str | None = None


def placeholder(what: str) -> str:
    """How the plan refers to the ARN of something that does not exist yet."""
    return f"<arn of {what}>"


# --- the plan: changes with typed details -----------------------------------------------------------------


def short(value: Any) -> str:
    """A value in the CHANGES column: text as it is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class Set:
    """An attribute a create sets, or a fact (a trigger's UUIDs, the queues a DLQ serves): `key=value`."""

    value: Any

    def as_json(self) -> Any:
        return self.value

    def text(self, key: str) -> str:
        return f"{key}={short(self.value)}"


@dataclass(frozen=True)
class NewTags:
    """The tags a create sets: in the JSON, not in the CHANGES column."""

    tags: dict[str, str]

    def as_json(self) -> Any:
        return dict(self.tags)

    def text(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Update:
    """An attribute an update changes: `key: before -> after`."""

    before: Any
    after: Any

    def as_json(self) -> Any:
        return {"from": self.before, "to": self.after}

    def text(self, key: str) -> str:
        return f"{key}: {short(self.before)} -> {short(self.after)}"


@dataclass(frozen=True)
class TagChanges:
    """The tags an update adds or changes: tag -> (what it is, what it becomes)."""

    changes: dict[str, tuple[str | None, str]]

    @property
    def added(self) -> dict[str, str]:
        return {k: after for k, (_, after) in self.changes.items()}

    def as_json(self) -> Any:
        return {k: {"from": before, "to": after} for k, (before, after) in self.changes.items()}

    def text(self, key: str) -> str:
        return "; ".join(f"tag {k}: {short(before)} -> {short(after)}" for k, (before, after) in self.changes.items())


@dataclass(frozen=True)
class Note:
    """Words instead of a value: `adopt (untagged)`, a function's StateReason, why teardown keeps a resource."""

    message: str

    def as_json(self) -> Any:
        return self.message

    def text(self, key: str) -> str:
        return self.message


@dataclass(frozen=True)
class Removal:
    """What an update removes (the role's other policies: it keeps only txnalert's own)."""

    names: tuple[str, ...]

    def as_json(self) -> Any:
        return {"from": list(self.names), "to": []}

    def text(self, key: str) -> str:
        return f"remove policies {', '.join(self.names)} (the role keeps only txnalert's own)"


@dataclass(frozen=True)
class AtRisk:
    """The messages a deletion would lose (teardown needs --force for it)."""

    messages: int

    def as_json(self) -> Any:
        return self.messages

    def text(self, key: str) -> str:
        return f"{self.messages} messages would be lost"


Detail = Set | NewTags | Update | TagChanges | Note | Removal | AtRisk


class Details(dict[str, Detail]):
    """A change's details, in order: attribute (or fact) -> what happens to it. `as_dict()` is the JSON,
    `text(action)` the CHANGES (or teardown's DETAILS) column."""

    def as_dict(self) -> dict[str, Any]:
        return {key: detail.as_json() for key, detail in self.items()}

    def text(self, action: str) -> str:
        if action in TEARDOWN_ACTIONS and REASON in self:
            return self[REASON].text(REASON)
        texts = [text for key, detail in self.items() if (text := detail.text(key))]
        return "; ".join(texts) if action == UPDATE else ", ".join(texts)


@dataclass
class Change:
    """One resource in a plan: what happens to it (`action`) and the details; `spec` and `remote` (what was read)
    for the executor, `computed` what the planner worked out for it (the role's policy, the trigger's
    parameters), `outputs` the resource's ARN/URL once known."""

    resource: str
    name: str
    action: str
    details: Details = field(default_factory=Details)
    spec: Any = None
    remote: Any = None
    computed: Any = None
    outputs: Outputs | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "name": self.name, "action": self.action, "details": self.details.as_dict()}

    def text(self) -> str:
        return self.details.text(self.action)

    def __str__(self) -> str:
        return f"{self.resource} {self.name}"


@dataclass
class Verdict:
    """Teardown's decision on a resource that exists: delete (with details: the messages at risk), keep, skip."""

    action: str
    details: Details = field(default_factory=Details)


# --- doctor's rows ------------------------------------------------------------------------------------

OK, WARN, FAIL = "ok", "warn", "fail"
MARKS = {OK: "✔", WARN: "⚠", FAIL: "✘"}


@dataclass(frozen=True)
class Finding:
    """What a row found: ok (✔), warn (⚠) or fail (✘), and the fix."""

    status: str
    detail: str
    fix: str = ""


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class Row:
    """One row of doctor's report. Rows run in `rank` order (the report's order); each reads what it needs, and
    an error in one (a denied read) fails that row alone. A failed `vital` row stops the report."""

    name: str
    rank: int
    run: Callable[[], Finding]
    vital: bool = False
