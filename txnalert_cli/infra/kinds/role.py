"""The function's IAM role: trusted by Lambda only, one inline least-privilege policy (`policy.function_policy`).

Ownership: the role is changed only when it carries every one of the config's tags; otherwise the plan fails
with ResourceConflict and changes nothing (taking it over would strip another owner's policies). Least
privilege: the role keeps only txnalert's inline policy, and the plan says which other policies it would
`remove`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...aws import Aws
from ...config import Config
from ...errors import ResourceConflict, error_code
from ..policy import (
    INLINE_POLICY_NAME,
    LAMBDA_PRINCIPAL,
    PolicyInputs,
    function_policy,
    grants,
    normalize_policy,
    policy_grants,
    trust_policy,
)
from . import configuration_set, identity, queue, table
from .base import Env, KindBase, Pace, Resolved, SpecBase, SpecRef, if_exists
from .model import (
    CREATE,
    FAIL,
    OK,
    UNCHANGED,
    UPDATE,
    Change,
    Details,
    Finding,
    NewTags,
    Outputs,
    Removal,
    Row,
    Set,
    Update,
)
from .tags import refuse_unowned, tags_dict, tags_list

NAME = "iam-role"
NOT_FOUND = ("NoSuchEntity",)
RANK = 40  # doctor's "role policy" row
_FIX = "run `txnalert setup` (it rewrites the inline policy and removes other grants)"
_SHOWN = 3  # problems of one sort listed in the row


@dataclass(frozen=True)
class RoleSpec(SpecBase):
    """The function's IAM role. `policy_inputs` is None when nothing is planned (teardown, doctor)."""

    kind: ClassVar[str] = NAME
    name: str
    policy_inputs: PolicyInputs | None
    tags: dict[str, str]
    grants_on: tuple[SpecRef, ...] = ()  # what its policy grants access to: planned before it
    description: str = "txnalert: the transaction email function's role (SQS -> Lambda -> SES)"
    policy_name: str = INLINE_POLICY_NAME

    def dependencies(self) -> list[SpecRef]:
        return list(self.grants_on)

    def policy(self, account: str) -> dict[str, Any]:
        if self.policy_inputs is None:
            raise TypeError(f"role {self.name}: no policy inputs (not planning)")
        return function_policy(self.policy_inputs, account)


@dataclass
class RoleRemote:
    name: str
    arn: str
    trust: Any  # AssumeRolePolicyDocument as IAM returns it
    inline: list[str]  # inline policy names
    policy: Any  # txnalert's inline policy document (None: the role lacks it)
    attached: list[str]  # managed policy ARNs
    tags: dict[str, str] = field(default_factory=dict)


class RoleKind(KindBase[RoleSpec, RoleRemote]):
    name = NAME

    def desired(self, config: Config, env: Env) -> list[RoleSpec]:
        sender = env.sender_identity  # planning: SenderNotCovered here, before anything is planned
        inputs = PolicyInputs.from_config(config, env.region, sender) if sender is not None else None
        on = [SpecRef(queue.NAME, config.queue.name), SpecRef(table.NAME, config.idempotency.table)]
        on.extend(SpecRef(identity.NAME, name) for name in config.ses.identities)
        if config.ses.configuration_set:
            on.append(SpecRef(configuration_set.NAME, config.ses.configuration_set))
        return [RoleSpec(config.lambda_.role_name, inputs, config.resource_tags, tuple(on))]

    def read(self, aws: Aws, spec: RoleSpec, deps: Resolved) -> RoleRemote | None:
        iam = aws.client("iam")
        found = if_exists(NOT_FOUND, lambda: iam.get_role(RoleName=spec.name))
        if found is None:
            return None
        role = found["Role"]
        tags = tags_dict(iam.list_role_tags(RoleName=spec.name).get("Tags"))
        inline = [
            n
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=spec.name)
            for n in page["PolicyNames"]
        ]
        policy = None
        if spec.policy_name in inline:
            policy = iam.get_role_policy(RoleName=spec.name, PolicyName=spec.policy_name)["PolicyDocument"]
        attached = [
            p["PolicyArn"]
            for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=spec.name)
            for p in page["AttachedPolicies"]
        ]
        return RoleRemote(spec.name, role["Arn"], role.get("AssumeRolePolicyDocument"), inline, policy, attached, tags)

    def find(self, aws: Aws, name: str) -> Outputs:
        found = if_exists(NOT_FOUND, lambda: aws.client("iam").get_role(RoleName=name))
        if found is None:
            raise ResourceConflict(f"the function's role {name!r} does not exist: run `txnalert deploy`")
        return Outputs(arn=str(found["Role"]["Arn"]))

    def diff(self, spec: RoleSpec, remote: RoleRemote | None, deps: Resolved) -> Change:
        want = spec.policy(deps.account)
        if remote is None:
            details = Details(
                AssumeRolePolicy=Set(LAMBDA_PRINCIPAL),
                InlinePolicy=Set(spec.policy_name),
                Grants=Set(policy_grants(want)),
                Tags=NewTags(dict(spec.tags)),
            )
            return Change(NAME, spec.name, CREATE, details, spec, computed=want)
        refuse_unowned("role", spec.name, remote.tags, spec.tags, "lambda.role_name")
        details = Details()
        if normalize_policy(remote.trust) != normalize_policy(trust_policy()):
            details["AssumeRolePolicy"] = Update(remote.trust, trust_policy())
        if normalize_policy(remote.policy) != normalize_policy(want):
            details["InlinePolicy"] = Update(remote.policy, want)
        others = _others(spec, remote)
        if others:  # least privilege: the role grants what our one policy grants, nothing else
            details["OtherPolicies"] = Removal(tuple(others))
        action = UPDATE if details else UNCHANGED
        return Change(NAME, spec.name, action, details, spec, remote, want, self.outputs(remote))

    def apply(self, aws: Aws, change: Change, deps: Resolved, pace: Pace) -> Outputs:
        spec: RoleSpec = change.spec
        iam = aws.client("iam")
        policy = json.dumps(change.computed)
        if change.action == CREATE:
            role = iam.create_role(
                RoleName=spec.name,
                AssumeRolePolicyDocument=json.dumps(trust_policy()),
                Description=spec.description,
                Tags=tags_list(spec.tags),
            )["Role"]
            iam.put_role_policy(RoleName=spec.name, PolicyName=spec.policy_name, PolicyDocument=policy)
            return Outputs(arn=str(role["Arn"]))
        remote: RoleRemote = change.remote
        if "AssumeRolePolicy" in change.details:
            iam.update_assume_role_policy(RoleName=spec.name, PolicyDocument=json.dumps(trust_policy()))
        if "InlinePolicy" in change.details:
            iam.put_role_policy(RoleName=spec.name, PolicyName=spec.policy_name, PolicyDocument=policy)
        if "OtherPolicies" in change.details:
            for name in sorted(n for n in remote.inline if n != spec.policy_name):
                iam.delete_role_policy(RoleName=spec.name, PolicyName=name)
            for arn in sorted(remote.attached):
                iam.detach_role_policy(RoleName=spec.name, PolicyArn=arn)
        return self.outputs(remote)

    def delete(self, aws: Aws, remote: RoleRemote) -> None:
        iam = aws.client("iam")
        name = remote.name
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
            for policy in page["PolicyNames"]:
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
            for attached in page["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        for page in iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=name):
            for profile in page["InstanceProfiles"]:
                iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=name)
        iam.delete_role(RoleName=name)

    def checks(self, specs: list[RoleSpec], deps: Resolved) -> list[Row]:
        return [Row("role policy", RANK, RolePolicyCheck(spec.name, deps).run) for spec in specs]


def _others(spec: RoleSpec, remote: RoleRemote) -> list[str]:
    """The role's policies other than txnalert's inline one: inline names, then attached ARNs."""
    return sorted(n for n in remote.inline if n != spec.policy_name) + sorted(remote.attached)


class RolePolicyCheck:
    """Least privilege, checked both ways: every (action, resource) the handler needs is granted, and nothing
    else is: no "*", no wildcard ARN, no extra action, no NotAction/NotResource, in any policy of the role
    (inline or attached). What the handler needs is `policy.function_policy`, the one list of it."""

    def __init__(self, role: str, deps: Resolved) -> None:
        self.role, self.deps = role, deps
        self.statements: list[dict[str, Any]] = []
        self.star: list[str] = []
        self.broad: list[str] = []
        self.extra: list[str] = []

    def run(self) -> Finding:
        try:
            documents = self._documents()
        except Exception as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            return Finding(FAIL, f"role {self.role} does not exist", "run `txnalert setup`")
        pairs = self._required()
        needed = {(a.lower(), r) for a, r in pairs}
        for label, document in documents:
            for statement in document.get("Statement", []):
                if isinstance(statement, dict):
                    self._scan(label, statement, needed)
        missing = sorted(f"{a} on {r}" for a, r in pairs if not grants(self.statements, a, r))
        problems = self._problems(missing)
        if problems:
            return Finding(FAIL, f"{self.role}: " + "; ".join(problems), _FIX)
        return Finding(OK, f'{self.role}: least privilege, no "*" resource, covers every handler action')

    def _documents(self) -> list[tuple[str, dict[str, Any]]]:
        """Every policy that grants the role something: its inline policies and attached managed ones."""
        iam = self.deps.aws.client("iam")
        documents: list[tuple[str, dict[str, Any]]] = []
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=self.role):
            for name in page.get("PolicyNames", []):
                document = iam.get_role_policy(RoleName=self.role, PolicyName=name)["PolicyDocument"]
                documents.append((f"inline {name}", normalize_policy(document)))
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=self.role):
            for attached in page.get("AttachedPolicies", []):
                arn = attached["PolicyArn"]
                version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
                documents.append((f"managed {attached['PolicyName']}", normalize_policy(document)))
        return documents

    def _required(self) -> list[tuple[str, str]]:
        """Every (action, resource) pair the handler needs. SES authorises the sender by its identity; when
        nothing covers it (the identities row fails), the domain's identity, which that row's fix adds."""
        env = self.deps.env
        sender_identity = env.covering_identity or env.config.ses.sender.rsplit("@", 1)[-1]
        inputs = PolicyInputs.from_config(env.config, env.region, sender_identity)
        required = function_policy(inputs, self.deps.account)["Statement"]
        return [(a, r) for st in required for a in st["Action"] for r in st["Resource"]]

    def _scan(self, label: str, statement: dict[str, Any], needed: set[tuple[str, str]]) -> None:
        self.statements.append(statement)
        if statement.get("Effect") != "Allow":
            return
        if "NotAction" in statement or "NotResource" in statement:
            self.broad.append(f"NotAction/NotResource in {label}")
            return
        for resource in statement.get("Resource", []):
            if resource == "*":
                self.star.append(label)
                continue
            self.extra.extend(
                f"{action} on {resource} ({label})"
                for action in statement.get("Action", [])
                if (action.lower(), resource) not in needed
            )

    def _problems(self, missing: list[str]) -> list[str]:
        problems = []
        if self.star:
            problems.append('"Resource": "*" in ' + ", ".join(sorted(set(self.star))))
        problems.extend(self.broad)
        if self.extra:
            problems.append(f"grants beyond what the handler needs: {_shown(self.extra)}")
        if missing:
            problems.append(f"missing {_shown(missing)}")
        return problems


def _shown(items: list[str]) -> str:
    more = len(items) - _SHOWN
    return ", ".join(items[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


KIND = RoleKind()
