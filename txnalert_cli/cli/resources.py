"""`txnalert setup`, `create-queue` and `deploy`: plan, then apply; `teardown`: the reverse."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import UsageError
from ..output import Output
from .options import (
    PENDING_CHANGES,
    ApplyYesOpt,
    Ctx,
    DetailedExitcodeOpt,
    DryRunOpt,
)

if TYPE_CHECKING:
    from ..aws import Aws
    from ..infra.package import FunctionPackage
    from ..infra.resources import Plan
    from ..infra.teardown import TeardownPlan

EMULATOR_TRIGGER_NOTE = (
    "note: on the emulator the SQS trigger is created disabled (moto would not run the function's code): "
    "`txnalert worker` is the consumer there"
)


def _short(value: Any) -> str:
    return value if isinstance(value, str) else jsonlib.dumps(value, separators=(",", ":"))


def describe_change(action: str, details: dict[str, Any]) -> str:
    """The CHANGES column: what a create sets, or what an update changes (`from -> to`), adds (`tag`),
    removes (`remove`, the role's other policies) or takes over (`adopt (untagged)`)."""
    from ..infra.resources import CREATE, UPDATE  # lazy: keeps --help fast

    if action == CREATE:
        return ", ".join(f"{k}={_short(v)}" for k, v in details.items() if k != "Tags")
    if action == UPDATE:
        parts = []
        for key, diff in details.items():
            if key == "Tags":
                parts.extend(f"tag {k}: {_short(d['from'])} -> {_short(d['to'])}" for k, d in diff.items())
            elif key == "OtherPolicies":
                parts.append(f"remove policies {', '.join(diff['from'])} (the role keeps only txnalert's own)")
            elif isinstance(diff, dict) and "from" in diff:
                parts.append(f"{key}: {_short(diff['from'])} -> {_short(diff['to'])}")
            else:
                parts.append(str(diff))
        return "; ".join(parts)
    return ""


def render_plan(out: Output, plan: Plan, *, applied: bool, dry_run: bool, preview: bool = False) -> None:
    out.table(
        ["RESOURCE", "NAME", "ACTION", "CHANGES"],
        [(c.resource, c.name, c.action, describe_change(c.action, c.details)) for c in plan.changes],
    )
    counts = plan.counts()
    summary = f"{counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged"
    if preview:  # before the confirmation
        out.line(f"Plan: {summary}.")
    elif dry_run:
        out.line(f"Plan: {summary}. Dry run: nothing was changed.")
    elif applied:
        out.line(f"Applied: {counts['create']} created, {counts['update']} updated, {counts['unchanged']} unchanged.")
    else:
        out.line(f"No changes: {counts['unchanged']} resources up to date.")


def _changes(count: int) -> str:
    return f"{count} change{'' if count == 1 else 's'}"


def check_detailed_exitcode(detailed_exitcode: bool, dry_run: bool) -> None:
    if detailed_exitcode and not dry_run:
        raise UsageError("--detailed-exitcode needs --dry-run: it tells whether the plan has changes")


def confirmation(ctx: Ctx, aws: Aws, command: str, yes: bool) -> Callable[[Plan], None] | None:
    """Against AWS's own endpoints, ask before applying a plan (`--yes` does not ask; without a terminal and
    without --yes: exit 2). With an endpoint override (the emulator, moto, LocalStack) nothing asks."""
    if aws.endpoint_override is not None:
        return None

    def confirm(plan: Plan) -> None:
        count = _changes(len(plan.pending))
        ctx.confirm(
            yes=yes,
            what=f"{command} would apply {count} to {ctx.where()}",
            question=f"Apply {count} to {ctx.where()}?",
            preview=lambda o: render_plan(o, plan, applied=False, dry_run=False, preview=True),
            declined="aborted: nothing was changed",
        )

    return confirm


def _run(
    command: str,
    dry_run: bool,
    yes: bool,
    detailed_exitcode: bool,
    kinds: frozenset[str] | None = None,
) -> None:
    # lazy: keeps --help fast
    from ..infra.package import is_emulator
    from ..infra.resources import MAPPING, plan_and_apply

    check_detailed_exitcode(detailed_exitcode, dry_run)
    ctx = Ctx.load()
    aws = ctx.target()
    plan, applied = plan_and_apply(
        aws, ctx.config, dry_run=dry_run, kinds=kinds, confirm=confirmation(ctx, aws, command, yes)
    )
    ctx.out.emit(
        {**plan.as_dict(), "applied": applied, "dry_run": dry_run},
        lambda o: render_plan(o, plan, applied=applied, dry_run=dry_run),
    )
    if any(c.resource == MAPPING for c in plan.changes) and is_emulator(aws):
        ctx.out.info(EMULATOR_TRIGGER_NOTE)
    if detailed_exitcode and plan.pending:
        raise typer.Exit(PENDING_CHANGES)


def _package_line(package: FunctionPackage) -> str:
    vendored = ", ".join(package.vendored) or "nothing (Powertools from " + ", ".join(package.layers) + ")"
    return (
        f"code: {package.size} bytes, sha256 {package.sha256} (CodeSha256 {package.code_sha256}), "
        f"{len(package.files)} files, vendored: {vendored}"
    )


def _deploy(
    dry_run: bool,
    zip_only: Path | None,
    yes: bool,
    detailed_exitcode: bool,
) -> None:
    from ..infra.package import build_package, is_emulator, write_package  # lazy: keeps --help fast

    if zip_only is not None and detailed_exitcode:
        raise UsageError("--zip-only and --detailed-exitcode: --zip-only makes no plan; drop --detailed-exitcode")
    if zip_only is None:
        check_detailed_exitcode(detailed_exitcode, dry_run)
    ctx = Ctx.load()
    package = build_package(ctx.config)
    if zip_only is not None:
        if dry_run:
            raise UsageError("--zip-only and --dry-run: --zip-only makes no AWS call; drop --dry-run")
        write_package(package, zip_only)
        ctx.out.emit(
            {"path": str(zip_only), **package.as_dict()},
            lambda o: o.line(f"wrote {zip_only}: {package.size} bytes, sha256 {package.sha256}"),
        )
        return
    from ..infra.resources import LAMBDA_KINDS, plan_and_apply  # lazy: keeps --help fast

    aws = ctx.target()
    plan, applied = plan_and_apply(
        aws,
        ctx.config,
        dry_run=dry_run,
        kinds=LAMBDA_KINDS,
        package=package,
        confirm=confirmation(ctx, aws, "deploy", yes),
    )

    def render(out: Output) -> None:
        render_plan(out, plan, applied=applied, dry_run=dry_run)
        out.line(_package_line(package))

    ctx.out.emit({**plan.as_dict(), "applied": applied, "dry_run": dry_run, "package": package.as_dict()}, render)
    if is_emulator(aws):
        ctx.out.info(EMULATOR_TRIGGER_NOTE)
    if detailed_exitcode and plan.pending:
        raise typer.Exit(PENDING_CHANGES)


def render_teardown(out: Output, plan: TeardownPlan, *, deleted: bool, dry_run: bool, preview: bool = False) -> None:
    def detail(details: dict[str, Any]) -> str:
        if "reason" in details:
            return str(details["reason"])
        if "messages" in details:
            return f"{details['messages']} messages would be lost"
        return ", ".join(f"{k}={_short(v)}" for k, v in details.items())

    out.table(
        ["RESOURCE", "NAME", "ACTION", "DETAILS"],
        [(i.resource, i.name, i.action, detail(i.details)) for i in plan.items],
    )
    counts = plan.counts()
    others = f"{counts['keep']} kept, {counts['skip']} left alone (not ours), {counts['absent']} absent"
    if preview:  # before the confirmation
        out.line(f"Plan: {counts['delete']} to delete, {others}.")
    elif dry_run:
        out.line(f"Plan: {counts['delete']} to delete, {others}. Dry run: nothing was deleted.")
    elif deleted:
        out.line(f"Deleted {counts['delete']} resources; {others}.")
    else:
        out.line(f"Nothing to delete: {others}.")


def _teardown(
    dry_run: bool,
    yes: bool,
    force: bool,
    include_identities: bool,
) -> None:
    # lazy: keeps --help fast
    from ..infra.package import is_emulator
    from ..infra.resources import QUEUE
    from ..infra.teardown import apply_teardown, check_force, plan_teardown

    ctx = Ctx.load()
    aws = ctx.target()
    plan = plan_teardown(aws, ctx.config, include_identities=include_identities)
    deleted = False
    if not dry_run and plan.to_delete:
        check_force(plan, force)
        count = len(plan.to_delete)
        ctx.confirm(
            yes=yes,
            what=f"teardown would delete {count} resources",
            question=f"Delete these {count} resources from {ctx.where()}?",
            preview=lambda o: render_teardown(o, plan, deleted=False, dry_run=False, preview=True),
            declined="aborted: nothing was deleted",
        )
        apply_teardown(aws, plan, force=force)
        deleted = True
    ctx.out.emit(
        {**plan.as_dict(), "deleted": deleted, "dry_run": dry_run},
        lambda o: render_teardown(o, plan, deleted=deleted, dry_run=dry_run),
    )
    if deleted and not is_emulator(aws) and any(i.resource == QUEUE for i in plan.to_delete):
        ctx.out.info("note: SQS allows a deleted queue's name to be used again only after 60 seconds")


def register(app: typer.Typer) -> None:
    @app.command("create-queue")
    def create_queue(
        dry_run: DryRunOpt = False,
        yes: ApplyYesOpt = False,
        detailed_exitcode: DetailedExitcodeOpt = False,
    ) -> None:
        """Create or update the queue and its DLQ from the config. Example: txnalert create-queue --dry-run

        Against AWS, asks before applying changes (--yes: without asking)."""
        from ..infra.resources import QUEUE  # lazy: keeps --help fast

        _run("create-queue", dry_run, yes, detailed_exitcode, kinds=frozenset({QUEUE}))

    @app.command()
    def setup(
        dry_run: DryRunOpt = False,
        yes: ApplyYesOpt = False,
        detailed_exitcode: DetailedExitcodeOpt = False,
    ) -> None:
        """Plan and apply every resource of the pipeline: queues, table, identities, role, function, trigger.

        Against AWS, asks before applying changes (--yes: without asking). In CI, `setup --dry-run
        --detailed-exitcode` exits 0 when nothing would change and 3 when changes are pending.
        Example: txnalert setup -c txnalert.yaml --dry-run"""
        _run("setup", dry_run, yes, detailed_exitcode)

    @app.command()
    def deploy(
        zip_only: Annotated[
            Path | None,
            typer.Option(
                "--zip-only",
                metavar="PATH",
                help="Only build the function's zip and write it to PATH (no AWS call).",
                show_default=False,
            ),
        ] = None,
        dry_run: DryRunOpt = False,
        yes: ApplyYesOpt = False,
        detailed_exitcode: DetailedExitcodeOpt = False,
    ) -> None:
        """Build the function's zip; deploy its role, the function (code uploaded only when it changed) and trigger.

        Against AWS, asks before applying changes (--yes: without asking). Example: txnalert deploy --dry-run"""
        _deploy(dry_run, zip_only, yes, detailed_exitcode)

    @app.command()
    def teardown(
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
        force: Annotated[bool, typer.Option("--force", help="Delete queues even when they hold messages.")] = False,
        include_identities: Annotated[
            bool,
            typer.Option(
                "--include-identities",
                help="Also delete the SES identities (kept by default: they are account-wide and often shared).",
            ),
        ] = False,
        dry_run: DryRunOpt = False,
    ) -> None:
        """Delete the config's resources that carry its tags, in reverse order; others are left alone.

        SES identities are kept unless --include-identities; a DLQ another queue still uses is kept.
        Example: txnalert teardown --dry-run"""
        _teardown(dry_run, yes, force, include_identities)
