"""`txnalert setup` and `txnalert create-queue`: plan, then apply."""

from __future__ import annotations

import json as jsonlib
from typing import Any

import typer

from ..output import Output
from ..resources import CREATE, QUEUE, UPDATE, Plan
from .options import ConfigOpt, Ctx, DryRunOpt, EndpointOpt, JsonOpt, ProfileOpt, RegionOpt


def _short(value: Any) -> str:
    return value if isinstance(value, str) else jsonlib.dumps(value, separators=(",", ":"))


def describe_change(action: str, details: dict[str, Any]) -> str:
    if action == CREATE:
        return ", ".join(f"{k}={_short(v)}" for k, v in details.items() if k != "Tags")
    if action == UPDATE:
        parts = []
        for key, diff in details.items():
            if key == "Tags":
                parts.extend(f"tag {k}: {_short(d['from'])} -> {_short(d['to'])}" for k, d in diff.items())
            else:
                parts.append(f"{key}: {_short(diff['from'])} -> {_short(diff['to'])}")
        return "; ".join(parts)
    return ""


def render_plan(out: Output, plan: Plan, *, applied: bool, dry_run: bool) -> None:
    out.table(
        ["RESOURCE", "NAME", "ACTION", "CHANGES"],
        [(c.resource, c.name, c.action, describe_change(c.action, c.details)) for c in plan.changes],
    )
    counts = plan.counts()
    summary = f"{counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged"
    if dry_run:
        out.line(f"Plan: {summary}. Dry run: nothing was changed.")
    elif applied:
        out.line(f"Applied: {counts['create']} created, {counts['update']} updated, {counts['unchanged']} unchanged.")
    else:
        out.line(f"No changes: {counts['unchanged']} resources up to date.")


def _run(
    config: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    json: bool,
    dry_run: bool,
    kinds: frozenset[str] | None = None,
) -> None:
    from ..resources import plan_and_apply

    ctx = Ctx.load(config, region=region, profile=profile, endpoint_url=endpoint_url, json_mode=json)
    plan, applied = plan_and_apply(ctx.aws(), ctx.config, dry_run=dry_run, kinds=kinds)
    ctx.out.emit(
        {**plan.as_dict(), "applied": applied, "dry_run": dry_run},
        lambda o: render_plan(o, plan, applied=applied, dry_run=dry_run),
    )


def register(app: typer.Typer) -> None:
    @app.command("create-queue")
    def create_queue(
        config: ConfigOpt = None,
        dry_run: DryRunOpt = False,
        json: JsonOpt = False,
        region: RegionOpt = None,
        profile: ProfileOpt = None,
        endpoint_url: EndpointOpt = None,
    ) -> None:
        """Create or update the queue and its DLQ from the config. Example: txnalert create-queue --dry-run"""
        _run(config, region, profile, endpoint_url, json, dry_run, kinds=frozenset({QUEUE}))

    @app.command()
    def setup(
        config: ConfigOpt = None,
        dry_run: DryRunOpt = False,
        json: JsonOpt = False,
        region: RegionOpt = None,
        profile: ProfileOpt = None,
        endpoint_url: EndpointOpt = None,
    ) -> None:
        """Plan and apply every resource of the pipeline. Example: txnalert setup -c txnalert.yaml"""
        _run(config, region, profile, endpoint_url, json, dry_run)
