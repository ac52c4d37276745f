"""The DynamoDB idempotency table: on-demand, one partition key, TTL on the Powertools expiry attribute (the
layout is the handler's, `handler/layout.py`). A table of the same name with that key is adopted."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from ...aws import Aws
from ...config import Config
from ...errors import ResourceConflict
from ...handler import layout
from .base import Env, KindBase, Pace, Resolved, SpecBase, if_exists
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
    Row,
    Set,
    TagChanges,
    Update,
)
from .tags import adopting, tags_dict, tags_list

NAME = "dynamodb-table"
NOT_FOUND = ("ResourceNotFoundException",)
RANK = 50  # doctor's "idempotency table" row: the last
_ON_DEMAND = "PAY_PER_REQUEST"
_TTL_ON = ("ENABLED", "ENABLING")


@dataclass(frozen=True)
class TableSpec(SpecBase):
    """The DynamoDB idempotency table: on-demand, TTL on the Powertools expiry attribute."""

    kind: ClassVar[str] = NAME
    name: str
    tags: dict[str, str]
    key_attr: str = layout.KEY_ATTR
    ttl_attr: str = layout.EXPIRY_ATTR


@dataclass
class TableRemote:
    table: dict[str, Any]  # DescribeTable's Table
    ttl: dict[str, Any]  # DescribeTimeToLive's TimeToLiveDescription
    tags: dict[str, str]

    @property
    def arn(self) -> str:
        return str(self.table["TableArn"])

    @property
    def key(self) -> list[tuple[str, str]]:
        return [(k["AttributeName"], k["KeyType"]) for k in self.table.get("KeySchema", [])]

    @property
    def ttl_attr(self) -> str | None:
        """The TTL attribute when TTL is on; None when it is off."""
        return self.ttl.get("AttributeName") if self.ttl.get("TimeToLiveStatus") in _TTL_ON else None


class TableKind(KindBase[TableSpec, TableRemote]):
    name = NAME

    def desired(self, config: Config, env: Env) -> list[TableSpec]:
        return [TableSpec(name=config.idempotency.table, tags=config.resource_tags)]

    def read(self, aws: Aws, spec: TableSpec, deps: Resolved) -> TableRemote | None:
        ddb = aws.client("dynamodb")
        found = if_exists(NOT_FOUND, lambda: ddb.describe_table(TableName=spec.name))
        if found is None:
            return None
        table = found["Table"]
        ttl = ddb.describe_time_to_live(TableName=spec.name).get("TimeToLiveDescription", {})
        tags = tags_dict(ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags"))
        return TableRemote(table, ttl, tags)

    def diff(self, spec: TableSpec, remote: TableRemote | None, deps: Resolved) -> Change:
        if remote is None:
            details = Details(
                KeySchema=Set(f"{spec.key_attr} (HASH, S)"),
                BillingMode=Set(_ON_DEMAND),
                TimeToLive=Set(spec.ttl_attr),
                Tags=NewTags(dict(spec.tags)),
            )
            return Change(NAME, spec.name, CREATE, details, spec)
        if remote.key != [(spec.key_attr, "HASH")]:
            raise ResourceConflict(
                f"table {spec.name!r} exists with key {remote.key}, but the idempotency table needs a single "
                f"partition key {spec.key_attr!r}: use another idempotency.table"
            )
        diff = Details()
        billing = remote.table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        if billing != _ON_DEMAND:
            diff["BillingMode"] = Update(billing, _ON_DEMAND)
        if remote.ttl_attr != spec.ttl_attr:
            diff["TimeToLive"] = Update(remote.ttl_attr, spec.ttl_attr)
        details = adopting(diff, remote.tags, spec.tags)
        action = UPDATE if details else UNCHANGED
        return Change(NAME, spec.name, action, details, spec, remote, outputs=self.outputs(remote))

    def apply(self, aws: Aws, change: Change, deps: Resolved, pace: Pace) -> Outputs:
        spec: TableSpec = change.spec
        ddb = aws.client("dynamodb")
        if change.action == CREATE:
            ddb.create_table(
                TableName=spec.name,
                AttributeDefinitions=[{"AttributeName": spec.key_attr, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": spec.key_attr, "KeyType": "HASH"}],
                BillingMode=_ON_DEMAND,
                Tags=tags_list(spec.tags),
            )
            ddb.get_waiter("table_exists").wait(TableName=spec.name, WaiterConfig={"Delay": 2, "MaxAttempts": 60})
            self._ttl(ddb, spec.name, spec.ttl_attr, enabled=True)
            return Outputs(arn=str(ddb.describe_table(TableName=spec.name)["Table"]["TableArn"]))
        details = change.details
        if "BillingMode" in details:
            ddb.update_table(TableName=spec.name, BillingMode=_ON_DEMAND)
        ttl = details.get("TimeToLive")
        if isinstance(ttl, Update):
            if ttl.before:  # only one TTL attribute per table: switch the old one off first
                self._ttl(ddb, spec.name, ttl.before, enabled=False)
            self._ttl(ddb, spec.name, spec.ttl_attr, enabled=True)
        tags = details.get("Tags")
        if isinstance(tags, TagChanges):
            ddb.tag_resource(ResourceArn=change.remote.arn, Tags=tags_list(tags.added))
        return self.outputs(change.remote)

    @staticmethod
    def _ttl(ddb: Any, table: str, attribute: str, *, enabled: bool) -> None:
        ddb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": enabled, "AttributeName": attribute}
        )

    def delete(self, aws: Aws, remote: TableRemote) -> None:
        ddb = aws.client("dynamodb")
        name = remote.table["TableName"]
        ddb.delete_table(TableName=name)
        # Gone before we report it (and before a `setup` right after could try to create it again).
        delay = 1 if aws.is_local else 2
        ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": delay, "MaxAttempts": 150})

    def checks(self, specs: list[TableSpec], deps: Resolved) -> list[Row]:
        return [Row("idempotency table", RANK, partial(self._check, spec, deps)) for spec in specs]

    def _check(self, spec: TableSpec, deps: Resolved) -> Finding:
        remote: TableRemote | None = deps.remote(spec.ref)
        if remote is None:
            return Finding(FAIL, f"{spec.name} does not exist: every delivery would send again", "run `txnalert setup`")
        problems = []
        if remote.key != [(spec.key_attr, "HASH")]:
            problems.append("wrong key schema")
        if remote.table.get("TableStatus") != "ACTIVE":
            problems.append(f"status {remote.table.get('TableStatus')}")
        if remote.ttl_attr != spec.ttl_attr:
            problems.append(f"TTL is not on {spec.ttl_attr}: records never expire")
        if problems:
            return Finding(FAIL, f"{spec.name}: " + "; ".join(problems), "run `txnalert setup`")
        return Finding(OK, f"{spec.name}, TTL on {spec.ttl_attr}")


KIND = TableKind()
