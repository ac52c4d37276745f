"""`txnalert setup`, `create-queue` and `deploy`: plan, then apply; `teardown`: the reverse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UsageError
from ..output import Output
from .options import (
    ApplyYesOpt,
    Ctx,
    DetailedExitcodeOpt,
    DryRunOpt,
)

if TYPE_CHECKING:
    from ..aws import Aws
    from ..infra.kinds.base import Plan
    from ..infra.package import FunctionPackage
    from ..infra.plan import PlanResult
    from ..infra.teardown import TeardownPlan


def _table(out: Output, plan: Plan, last: str) -> None:
    out.table(["RESOURCE", "NAME", "ACTION", last], [(c.resource, c.name, c.action, c.text()) for c in plan.changes])


def render_plan(out: Output, plan: Plan, *, applied: bool, dry_run: bool, preview: bool = False) -> None:
    """The plan's table (the CHANGES column: what a create sets, or what an update changes, `from -> to`, adds
    (`tag`), removes (`remove`, the role's other policies) or takes over (`adopt (untagged)`)), then a summary."""
    _table(out, plan, "CHANGES")
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


def _finish(ctx: Ctx, result: PlanResult, render: Callable[[Output], None]) -> None:
    """Print the result, its notes (stderr), and exit with its code (3: --detailed-exitcode, changes pending)."""
    ctx.out.emit(result.as_dict(), render)
    for note in result.notes:
        ctx.out.info(note)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _run(
    command: str,
    dry_run: bool,
    yes: bool,
    detailed_exitcode: bool,
) -> None:
    """`setup` (every kind) or `create-queue` (the queues)."""
    from ..infra import plan  # lazy: keeps `txnalert --help` fast (infra imports botocore)
    from ..infra.kinds import QUEUE_KINDS

    plan.check_options(dry_run=dry_run, detailed_exitcode=detailed_exitcode)
    ctx = Ctx.load()
    aws = ctx.target()
    kinds = QUEUE_KINDS if command == "create-queue" else None
    result = plan.run(
        aws,
        ctx.config,
        kinds=kinds,
        dry_run=dry_run,
        detailed_exitcode=detailed_exitcode,
        confirm=confirmation(ctx, aws, command, yes),
    )
    _finish(ctx, result, lambda o: render_plan(o, result.plan, applied=result.applied, dry_run=dry_run))


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
    from ..infra import package as zips  # lazy: keeps `txnalert --help` fast (infra imports botocore)
    from ..infra import plan
    from ..infra.kinds import LAMBDA_KINDS

    if zip_only is not None and detailed_exitcode:
        raise UsageError("--zip-only and --detailed-exitcode: --zip-only makes no plan; drop --detailed-exitcode")
    if zip_only is None:
        plan.check_options(dry_run=dry_run, detailed_exitcode=detailed_exitcode)
    ctx = Ctx.load()
    if zip_only is not None:
        written = zips.zip_only(ctx.config, zip_only, dry_run=dry_run)
        ctx.out.emit(
            written.as_dict(),
            lambda o: o.line(f"wrote {zip_only}: {written.package.size} bytes, sha256 {written.package.sha256}"),
        )
        return
    package = zips.build_package(ctx.config)
    aws = ctx.target()
    result = plan.run(
        aws,
        ctx.config,
        kinds=LAMBDA_KINDS,
        dry_run=dry_run,
        detailed_exitcode=detailed_exitcode,
        package=package,
        confirm=confirmation(ctx, aws, "deploy", yes),
    )

    def render(out: Output) -> None:
        render_plan(out, result.plan, applied=result.applied, dry_run=dry_run)
        out.line(_package_line(package))

    _finish(ctx, result, render)


def render_teardown(out: Output, plan: TeardownPlan, *, deleted: bool, dry_run: bool, preview: bool = False) -> None:
    _table(out, plan, "DETAILS")
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
    from ..infra import teardown  # lazy: keeps `txnalert --help` fast (infra imports botocore)

    ctx = Ctx.load()
    aws = ctx.target()

    def confirm(plan: TeardownPlan) -> None:
        count = len(plan.to_delete)
        ctx.confirm(
            yes=yes,
            what=f"teardown would delete {count} resources",
            question=f"Delete these {count} resources from {ctx.where()}?",
            preview=lambda o: render_teardown(o, plan, deleted=False, dry_run=False, preview=True),
            declined="aborted: nothing was deleted",
        )

    options = teardown.TeardownOptions(include_identities=include_identities, force=force, dry_run=dry_run)
    result = teardown.run(aws, ctx.config, options, confirm=confirm)
    ctx.out.emit(result.as_dict(), lambda o: render_teardown(o, result.plan, deleted=result.deleted, dry_run=dry_run))
    for note in result.notes:
        ctx.out.info(note)


def register(app: typer.Typer) -> None:
    @app.command("create-queue")
    def create_queue(
        dry_run: DryRunOpt = False,
        yes: ApplyYesOpt = False,
        detailed_exitcode: DetailedExitcodeOpt = False,
    ) -> None:
        """Create or update the queue and its DLQ from the config. Example: txnalert create-queue --dry-run

        Against AWS, asks before applying changes (--yes: without asking)."""
        _run("create-queue", dry_run, yes, detailed_exitcode)

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
