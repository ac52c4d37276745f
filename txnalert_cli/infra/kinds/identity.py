"""SES identities (email addresses and domains) that must be verified to send. An identity of the same name is
adopted (tagged); teardown keeps identities unless --include-identities: they are account-wide, and other
pipelines or applications often send as the same address or domain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ...aws import Aws
from ...config import Config, sender_identity_in
from .. import ses
from .base import Env, KindBase, Pace, Resolved, SpecBase, TeardownOptions, if_exists
from .model import (
    CREATE,
    DELETE,
    FAIL,
    KEEP,
    OK,
    REASON,
    UNCHANGED,
    UPDATE,
    Change,
    Details,
    Finding,
    NewTags,
    Note,
    Outputs,
    Row,
    Set,
    TagChanges,
    Verdict,
)
from .tags import adopting, ownership, tags_dict, tags_list

NAME = "ses-identity"
NOT_FOUND = ("NotFoundException",)  # SESv2, for identities and configuration sets
RANK = 20  # doctor's "identities" row
KEEP_IDENTITY = "kept (shared; --include-identities to delete)"
_VERIFY = "run `txnalert verify-identity --wait`"


@dataclass(frozen=True)
class SesSpec(SpecBase):
    """An SES resource as the config wants it: its name and tags."""

    name: str
    tags: dict[str, str]


_S = TypeVar("_S", bound=SesSpec)


@dataclass(frozen=True)
class IdentitySpec(SesSpec):
    """An SES identity (an email address or a domain) that must be verified to send."""

    kind: ClassVar[str] = NAME

    @property
    def is_domain(self) -> bool:
        return "@" not in self.name


@dataclass
class SesRemote:
    """An SES resource that exists: its ARN (built from its name) and tags."""

    name: str
    arn: str
    tags: dict[str, str]


def sesv2_tags(aws: Aws, found: dict[str, Any], arn: str) -> dict[str, str]:
    """An SES identity's or configuration set's tags: the `Tags` of GetEmailIdentity/GetConfigurationSet
    (`found`) and ListTagsForResource on its ARN.

    On AWS both read the same tags. moto keeps two stores: the tags given to CreateEmailIdentity are
    returned by GetEmailIdentity only, the tags added by TagResource by ListTagsForResource only (for a
    configuration set, ListTagsForResource has both); reading both lets a resource tagged after its
    creation be recognised on the emulator too."""
    tags = tags_dict(found.get("Tags"))
    listed = aws.client("sesv2").list_tags_for_resource(ResourceArn=arn).get("Tags")
    return {**tags, **tags_dict(listed)}


class SesKind(KindBase[_S, SesRemote]):
    """An SES (v2) resource, named and tagged: an identity or a configuration set. One of the same name is
    adopted (tagged); nothing depends on its ARN."""

    arn_prefix = ""  # its ARN's resource part: "identity/<name>", "configuration-set/<name>"

    def get(self, sesv2: Any, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def create(self, sesv2: Any, name: str, tags: list[dict[str, str]]) -> None:
        raise NotImplementedError

    def remove(self, sesv2: Any, name: str) -> None:
        raise NotImplementedError

    def created(self, spec: _S) -> Details:
        """What the plan says a create sets."""
        return Details(Tags=NewTags(dict(spec.tags)))

    def read(self, aws: Aws, spec: _S, deps: Resolved) -> SesRemote | None:
        found = if_exists(NOT_FOUND, lambda: self.get(aws.client("sesv2"), spec.name))
        if found is None:
            return None
        arn = deps.built_arn("ses", f"{self.arn_prefix}/{spec.name}")
        return SesRemote(spec.name, arn, sesv2_tags(aws, found, arn))

    def diff(self, spec: _S, remote: SesRemote | None, deps: Resolved) -> Change:
        if remote is None:
            return Change(self.name, spec.name, CREATE, self.created(spec), spec)
        details = adopting(Details(), remote.tags, spec.tags)
        action = UPDATE if details else UNCHANGED
        return Change(self.name, spec.name, action, details, spec, remote, outputs=self.outputs(remote))

    def apply(self, aws: Aws, change: Change, deps: Resolved, pace: Pace) -> Outputs:
        sesv2 = aws.client("sesv2")
        if change.action == CREATE:
            self.create(sesv2, change.name, tags_list(change.spec.tags))
            return Outputs()  # nothing depends on its ARN
        tags = change.details.get("Tags")
        if isinstance(tags, TagChanges):
            sesv2.tag_resource(ResourceArn=change.remote.arn, Tags=tags_list(tags.added))
        return self.outputs(change.remote)

    def delete(self, aws: Aws, remote: SesRemote) -> None:
        self.remove(aws.client("sesv2"), remote.name)


class IdentityKind(SesKind[IdentitySpec]):
    name = NAME
    arn_prefix = "identity"

    def desired(self, config: Config, env: Env) -> list[IdentitySpec]:
        return [IdentitySpec(name=identity, tags=config.resource_tags) for identity in config.ses.identities]

    def get(self, sesv2: Any, name: str) -> dict[str, Any]:
        return dict(sesv2.get_email_identity(EmailIdentity=name))

    def create(self, sesv2: Any, name: str, tags: list[dict[str, str]]) -> None:
        sesv2.create_email_identity(EmailIdentity=name, Tags=tags)

    def remove(self, sesv2: Any, name: str) -> None:
        sesv2.delete_email_identity(EmailIdentity=name)

    def created(self, spec: IdentitySpec) -> Details:
        kind = "domain (DKIM records to add)" if spec.is_domain else "email address (verification email)"
        return Details(type=Set(kind), Tags=NewTags(dict(spec.tags)))

    def verdict(
        self, aws: Aws, spec: IdentitySpec, remote: SesRemote, deps: Resolved, options: TeardownOptions
    ) -> Verdict:
        verdict = ownership(remote.tags, spec.tags)
        if verdict.action == DELETE and not options.include_identities:
            return Verdict(KEEP, Details({REASON: Note(KEEP_IDENTITY)}))
        return verdict

    def checks(self, specs: list[IdentitySpec], deps: Resolved) -> list[Row]:
        return [Row("identities", RANK, lambda: _verified(deps))]


def _verified(deps: Resolved) -> Finding:
    """The configured identities are verified, and so is the sender's address or domain (SES rejects every email
    from an unverified sender)."""
    config = deps.env.config
    names = list(config.ses.identities)
    sender = config.ses.sender
    domain = sender.rsplit("@", 1)[-1]
    statuses = ses.identity_statuses(deps.aws, list(dict.fromkeys([*names, sender, domain])), dkim=False)
    verified = {s.identity.lower() for s in statuses if s.status == ses.SUCCESS}
    problems, fixes = [], []
    bad = [f"{s.identity} ({s.status})" for s in statuses if s.identity in names and s.status != ses.SUCCESS]
    if bad:
        problems.append(f"not verified: {', '.join(bad)}")
        fixes.append(_VERIFY)
    configured = sender_identity_in(sender, names)
    if sender.lower() not in verified and domain.lower() not in verified:
        problems.append(f"sender {sender} is not a verified identity (neither the address nor {domain})")
        fixes = _sender_fixes(sender, domain, fixes, configured=configured is not None, bad=bool(bad))
    if problems:
        return Finding(FAIL, "; ".join(problems), "; ".join(fixes))
    via = configured or deps.env.covering_identity
    outside = "" if configured else " (verified in the account)"
    return Finding(OK, f"verified: {', '.join(names)}; sender {sender} via {via}{outside}")


def _sender_fixes(sender: str, domain: str, fixes: list[str], *, configured: bool, bad: bool) -> list[str]:
    """The fixes for an unverified sender: an identity to add first when the config has none for it; else
    verification, unless the identities' own fix already says so."""
    if not configured:
        add = (
            f"add {domain} (or {sender}) to ses.identities, then run `txnalert setup` and "
            "`txnalert verify-identity --wait`"
        )
        return [add, *fixes]
    return fixes if bad else [*fixes, _VERIFY]


KIND = IdentityKind()
