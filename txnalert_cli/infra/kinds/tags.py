"""Tags and ownership, shared by the kinds: what makes a resource txnalert's (the config's tags, with
`managed-by: txnalert`), adopting an untagged one, refusing to change another owner's, and the ARN forms."""

from __future__ import annotations

from ...config import MANAGED_BY_KEY, MANAGED_BY_VALUE
from ...errors import ResourceConflict
from .model import DELETE, REASON, SKIP, Details, Note, TagChanges, Verdict

# How the plan's details say that an existing resource without `managed-by: txnalert` is taken over.
ADOPT_UNTAGGED = "adopt (untagged)"


def tags_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """[{"Key": k, "Value": v}, ...] (IAM, DynamoDB, SESv2) -> {k: v}."""
    return {t["Key"]: t["Value"] for t in tags or []}


def tags_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def missing_tags(have: dict[str, str], want: dict[str, str]) -> dict[str, str]:
    """The tags of `want` that `have` lacks (or carries with another value): empty when the resource is ours."""
    return {k: v for k, v in want.items() if have.get(k) != v}


def tags_text(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def adopting(diff: Details, have: dict[str, str], want: dict[str, str]) -> Details:
    """An adoptable resource's update details: `Ownership: adopt (untagged)` first when txnalert did not create
    it (no `managed-by: txnalert`), then `diff` (its attributes), then the tags to add."""
    details = Details()
    if have.get(MANAGED_BY_KEY) != MANAGED_BY_VALUE:
        details["Ownership"] = Note(ADOPT_UNTAGGED)
    details.update(diff)
    changes = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
    if changes:
        details["Tags"] = TagChanges(changes)
    return details


def refuse_unowned(what: str, name: str, have: dict[str, str], want: dict[str, str], rename: str) -> None:
    """ResourceConflict unless the resource carries the config's tags: it is never changed then."""
    missing = missing_tags(have, want)
    if not missing:
        return
    why = f"no {MANAGED_BY_KEY} tag" if MANAGED_BY_KEY in missing else f"not tagged {tags_text(missing)}"
    raise ResourceConflict(
        f"{what} {name!r} exists and was not created by txnalert for this config ({why}): set {rename} to another "
        f"name, or tag it {tags_text(missing)} to let txnalert manage it"
    )


def ownership(have: dict[str, str], want: dict[str, str]) -> Verdict:
    """Teardown's default: delete what carries every tag of `want`; leave anything else alone (skip)."""
    missing = missing_tags(have, want)
    if not missing:
        return Verdict(DELETE)
    reason = f"not tagged {tags_text(missing)}: not created by txnalert for this config, left alone"
    return Verdict(SKIP, Details({REASON: Note(reason)}))


def unqualified_function_arn(arn: str) -> str:
    """arn:aws:lambda:r:a:function:name[:qualifier] -> arn:aws:lambda:r:a:function:name."""
    return ":".join(arn.split(":")[:7])
