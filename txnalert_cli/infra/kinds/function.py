"""The Lambda function: its code (the zip, `package.py`), configuration and environment (`function_environment`:
the handler's settings from the config, the same ones the local worker runs with).

Ownership: the function is changed only when it carries every one of the config's tags; otherwise the plan
fails with ResourceConflict (taking it over would replace another owner's code).

A function whose `State` or `LastUpdateStatus` is `Failed` is never `unchanged`: it is planned as an update
(code and configuration uploaded again). When a Lambda waiter gives up, the error says what the function
reports (`StateReason`, `LastUpdateStatusReason`), and the plan stops there: no trigger is attached to a
function that is not Active.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from botocore.exceptions import WaiterError

from ...aws import Aws
from ...config import Config, check_region_fits
from ...errors import ResourceConflict, TxnalertError
from ...handler import app as handler_app
from ..package import HANDLER_ENTRY, FunctionPackage
from . import role
from .base import Env, KindBase, Pace, Resolved, SpecBase, SpecRef, if_exists, until_propagated
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
    Note,
    Outputs,
    Row,
    Set,
    Update,
    placeholder,
)
from .tags import refuse_unowned, unqualified_function_arn

NAME = "lambda-function"
NOT_FOUND = ("ResourceNotFoundException",)
RANK = 30  # doctor's "function" row
# A function in one of these is planned as an update: (status field, its healthy value, the reason field).
_FAILED = (("State", "Active", "StateReason"), ("LastUpdateStatus", "Successful", "LastUpdateStatusReason"))
# What an update of the configuration (UpdateFunctionConfiguration) changes.
_CONFIGURATION = frozenset({"Role", "Runtime", "Handler", "Timeout", "MemorySize", "Layers", "Environment"})


class FunctionNotReady(TxnalertError):
    """A Lambda waiter gave up: the function is Failed, or did not settle in time."""


def handler_settings(config: Config) -> handler_app.Settings:
    """The handler's settings from the config: what `deploy` puts in the function's environment, and what the
    local worker runs the handler with."""
    return handler_app.Settings(
        sender=config.ses.sender,
        subject=config.ses.subject,
        idempotency_table=config.idempotency.table,
        idempotency_ttl_seconds=config.idempotency.ttl_hours * 3600,
        configuration_set=config.ses.configuration_set,
        fifo=config.queue.fifo,
        log_level=config.lambda_.log_level,
        service=config.lambda_.function_name,  # as the deployed function's POWERTOOLS_SERVICE_NAME
        start_margin_ms=config.lambda_.start_margin_ms,
    )


def function_environment(config: Config) -> dict[str, str]:
    """The function's environment variables: `handler_settings(config)` as the handler's `Settings.from_env`
    reads them, plus the log level and the Powertools service name."""
    settings = handler_settings(config)
    environment = {
        handler_app.ENV_SENDER: settings.sender,
        handler_app.ENV_SUBJECT: settings.subject,
        handler_app.ENV_IDEMPOTENCY_TABLE: settings.idempotency_table,
        handler_app.ENV_IDEMPOTENCY_TTL_SECONDS: str(settings.idempotency_ttl_seconds),
        handler_app.ENV_FIFO: "true" if config.queue.fifo else "false",
        handler_app.ENV_LOG_LEVEL: config.lambda_.log_level,
        handler_app.ENV_SERVICE: config.lambda_.function_name,
        handler_app.ENV_START_MARGIN_MS: str(settings.start_margin_ms),
    }
    if settings.configuration_set:
        environment[handler_app.ENV_CONFIGURATION_SET] = settings.configuration_set
    return environment


@dataclass(frozen=True)
class FunctionSpec(SpecBase):
    """The Lambda function: its code (the zip; None when nothing is planned: teardown, doctor), configuration
    and environment."""

    kind: ClassVar[str] = NAME
    name: str
    role_name: str
    runtime: str
    timeout: int
    memory: int
    architecture: str
    environment: dict[str, str]
    tags: dict[str, str]
    package: FunctionPackage | None
    description: str = "txnalert: one alert email per transaction (SQS -> SES)"

    def dependencies(self) -> list[SpecRef]:
        return [SpecRef(role.NAME, self.role_name)]

    @property
    def code(self) -> FunctionPackage:
        if self.package is None:
            raise TypeError(f"function {self.name}: no package (not planning)")
        return self.package

    def want(self, role_arn: str) -> dict[str, Any]:
        """The configuration as GetFunction reports it."""
        return {
            "Runtime": self.runtime,
            "Handler": self.code.handler,
            "Timeout": self.timeout,
            "MemorySize": self.memory,
            "Architecture": self.architecture,
            "Layers": list(self.code.layers),
            "Role": role_arn,
            "Environment": dict(self.environment),
        }


@dataclass
class FunctionRemote:
    configuration: dict[str, Any]  # GetFunction's Configuration
    tags: dict[str, str]

    @property
    def arn(self) -> str:
        return unqualified_function_arn(self.configuration["FunctionArn"])

    def have(self) -> dict[str, Any]:
        config = self.configuration
        return {
            "Runtime": config.get("Runtime"),
            "Handler": config.get("Handler"),
            "Timeout": config.get("Timeout"),
            "MemorySize": config.get("MemorySize"),
            "Architecture": (config.get("Architectures") or ["x86_64"])[0],
            "Layers": [layer["Arn"] for layer in config.get("Layers") or []],
            "Role": config.get("Role"),
        }


def function_problem(name: str, response: dict[str, Any], waited_s: float, *, was_failed: bool = False) -> str:
    """Why a Lambda waiter gave up on function `name`, from its last GetFunction answer (`response`)."""
    error = response.get("Error") or {}
    if error:
        return f"function {name}: {error.get('Message') or error.get('Code') or 'GetFunction failed'}"
    function = response.get("Configuration") or {}
    still = "still " if was_failed else ""
    again = " after its code and configuration were uploaded again" if was_failed else ""
    if function.get("State") == "Failed":
        return f"function {name} is {still}Failed{again}: {function.get('StateReason') or 'no reason given'}"
    if function.get("LastUpdateStatus") == "Failed":
        reason = function.get("LastUpdateStatusReason") or "no reason given"
        return f"function {name}: its last update {still}Failed{again}: {reason}"
    return (
        f"function {name} is still {function.get('State')} (last update {function.get('LastUpdateStatus')}) "
        f"after {waited_s:g} s: run the same command again in a minute"
    )


def wait_function(
    aws: Aws, pace: Pace, waiter: str, name: str, *, failed_ok: bool = False, was_failed: bool = False
) -> None:
    """A Lambda waiter (function_active_v2, function_updated_v2); when it gives up, FunctionNotReady with what
    the function reports (its StateReason or LastUpdateStatusReason), never botocore's "Waiter ... failed".
    `failed_ok`: a Failed last update is no reason to stop (it is what the update fixes); `was_failed`: the
    function was Failed before its code and configuration were uploaded again."""
    config = pace.waiter_config
    try:
        aws.client("lambda").get_waiter(waiter).wait(FunctionName=name, WaiterConfig=config)
    except WaiterError as exc:
        response = exc.last_response or {}
        if failed_ok and (response.get("Configuration") or {}).get("LastUpdateStatus") == "Failed":
            return
        raise FunctionNotReady(
            function_problem(name, response, config["Delay"] * config["MaxAttempts"], was_failed=was_failed)
        ) from None


class FunctionKind(KindBase[FunctionSpec, FunctionRemote]):
    name = NAME

    def desired(self, config: Config, env: Env) -> list[FunctionSpec]:
        check_region_fits(config, env.region)
        lam = config.lambda_
        return [
            FunctionSpec(
                name=lam.function_name,
                role_name=lam.role_name,
                runtime=lam.runtime,
                timeout=lam.timeout,
                memory=lam.memory,
                architecture=lam.architecture,
                environment=function_environment(config),
                tags=config.resource_tags,
                package=env.package,
            )
        ]

    def read(self, aws: Aws, spec: FunctionSpec, deps: Resolved) -> FunctionRemote | None:
        found = if_exists(NOT_FOUND, lambda: aws.client("lambda").get_function(FunctionName=spec.name))
        if found is None:
            return None
        return FunctionRemote(found["Configuration"], found.get("Tags") or {})

    def find(self, aws: Aws, name: str) -> Outputs:
        found = if_exists(NOT_FOUND, lambda: aws.client("lambda").get_function(FunctionName=name))
        if found is None:
            raise ResourceConflict(f"function {name!r} does not exist: run `txnalert deploy`")
        return Outputs(arn=unqualified_function_arn(found["Configuration"]["FunctionArn"]))

    # --- plan ---

    def diff(self, spec: FunctionSpec, remote: FunctionRemote | None, deps: Resolved) -> Change:
        role_arn = deps.arn(SpecRef(role.NAME, spec.role_name)) or placeholder(f"role {spec.role_name}")
        want = spec.want(role_arn)
        if remote is None:
            details = Details({k: Set(v) for k, v in want.items() if k != "Layers" or v})
            details.update(CodeSha256=Set(spec.code.code_sha256), CodeSize=Set(spec.code.size))
            details["Tags"] = NewTags(dict(spec.tags))
            return Change(NAME, spec.name, CREATE, details, spec)
        refuse_unowned("function", spec.name, remote.tags, spec.tags, "lambda.function_name")
        if remote.configuration.get("PackageType", "Zip") != "Zip":
            raise ResourceConflict(
                f"function {spec.name!r} exists as a container image function; txnalert deploys a zip: "
                "delete it or set another lambda.function_name"
            )
        details = _failed(remote)  # never "unchanged": uploaded again (see the module's note)
        details.update(_configuration_changes(remote, want))
        code = remote.configuration.get("CodeSha256")
        if code != spec.code.code_sha256:
            details["CodeSha256"] = Update(code, spec.code.code_sha256)
        action = UPDATE if details else UNCHANGED
        return Change(NAME, spec.name, action, details, spec, remote, outputs=self.outputs(remote))

    # --- apply ---

    def apply(self, aws: Aws, change: Change, deps: Resolved, pace: Pace) -> Outputs:
        spec: FunctionSpec = change.spec
        role_arn = deps.arn(SpecRef(role.NAME, spec.role_name))
        if role_arn is None:  # pragma: no cover - the role is applied before (a dependency)
            raise ResourceConflict(f"the function's role {spec.role_name!r} has no ARN yet")
        configuration = {
            "Role": role_arn,
            "Runtime": spec.runtime,
            "Handler": spec.code.handler,
            "Timeout": spec.timeout,
            "MemorySize": spec.memory,
            "Layers": list(spec.code.layers),
            "Environment": {"Variables": dict(spec.environment)},
        }
        if change.action == CREATE:
            return self._create(aws, change, pace, configuration)
        self._update(aws, change, pace, configuration)
        role_change = change.details.get("Role")
        if isinstance(role_change, Update):  # the real ARN instead of the placeholder
            change.details["Role"] = Update(role_change.before, role_arn)
        return self.outputs(change.remote)

    def _create(self, aws: Aws, change: Change, pace: Pace, configuration: dict[str, Any]) -> Outputs:
        spec: FunctionSpec = change.spec
        lam = aws.client("lambda")
        created = until_propagated(
            pace,
            lambda: lam.create_function(
                FunctionName=spec.name,
                Code={"ZipFile": spec.code.data},
                PackageType="Zip",
                Architectures=[spec.architecture],
                Description=spec.description,
                Tags=dict(spec.tags),
                Publish=False,
                **configuration,
            ),
            f"create function {spec.name}",
        )
        wait_function(aws, pace, "function_active_v2", spec.name)
        change.details["Role"] = Set(configuration["Role"])  # the real ARN instead of the placeholder
        return Outputs(arn=unqualified_function_arn(created["FunctionArn"]))

    def _update(self, aws: Aws, change: Change, pace: Pace, configuration: dict[str, Any]) -> None:
        spec: FunctionSpec = change.spec
        lam = aws.client("lambda")
        keys = set(change.details)
        failed = any(status in keys for status, _, _ in _FAILED)
        # No update while one runs; a Failed last update is over (it is what this update fixes).
        wait_function(aws, pace, "function_updated_v2", spec.name, failed_ok=failed)
        if failed or {"CodeSha256", "Architecture"} & keys:
            lam.update_function_code(
                FunctionName=spec.name, ZipFile=spec.code.data, Architectures=[spec.architecture], Publish=False
            )
            wait_function(aws, pace, "function_updated_v2", spec.name, was_failed=failed)
        if failed or _CONFIGURATION & keys:
            until_propagated(
                pace,
                lambda: lam.update_function_configuration(FunctionName=spec.name, **configuration),
                f"update function {spec.name}",
            )
            wait_function(aws, pace, "function_updated_v2", spec.name, was_failed=failed)
        if "State" in keys:  # was Failed: Active again, or the plan stops here (before the trigger)
            wait_function(aws, pace, "function_active_v2", spec.name, was_failed=True)

    # --- teardown and doctor ---

    def delete(self, aws: Aws, remote: FunctionRemote) -> None:
        aws.client("lambda").delete_function(FunctionName=remote.configuration["FunctionName"])

    def checks(self, specs: list[FunctionSpec], deps: Resolved) -> list[Row]:
        return [Row("function", RANK, partial(_healthy, spec, deps)) for spec in specs]


def _failed(remote: FunctionRemote) -> Details:
    """A Failed function's details: its status to become healthy again, and the reason it reports."""
    details = Details()
    for status, healthy, reason in _FAILED:
        if remote.configuration.get(status) == "Failed":
            details[status] = Update("Failed", healthy)
            details[reason] = Note(remote.configuration.get(reason) or "no reason given")
    return details


def _configuration_changes(remote: FunctionRemote, want: dict[str, Any]) -> Details:
    """What the function's configuration has otherwise than `want`; of its environment, the variables that
    differ (only those)."""
    have = remote.have()
    details = Details({k: Update(have[k], want[k]) for k in have if have[k] != want[k]})
    have_env = (remote.configuration.get("Environment") or {}).get("Variables") or {}
    want_env = want["Environment"]
    if have_env != want_env:
        keys = sorted(k for k in {*have_env, *want_env} if have_env.get(k) != want_env.get(k))
        details["Environment"] = Update({k: have_env.get(k) for k in keys}, {k: want_env.get(k) for k in keys})
    return details


def _healthy(spec: FunctionSpec, deps: Resolved) -> Finding:
    remote: FunctionRemote | None = deps.remote(spec.ref)
    if remote is None:
        return Finding(FAIL, f"{spec.name} does not exist", "run `txnalert setup` (or `txnalert deploy`)")
    fn = remote.configuration
    problems = []
    if fn.get("State", "Active") != "Active":
        problems.append(f"state {fn.get('State')} ({fn.get('StateReason', '')})")
    if fn.get("LastUpdateStatus", "Successful") != "Successful":
        problems.append(f"last update {fn.get('LastUpdateStatus')} ({fn.get('LastUpdateStatusReason', '')})")
    if fn.get("Handler") != HANDLER_ENTRY:
        problems.append(f"handler {fn.get('Handler')} (built: {HANDLER_ENTRY})")
    if fn.get("Runtime") != spec.runtime:
        problems.append(f"runtime {fn.get('Runtime')} (config: {spec.runtime})")
    if problems:
        return Finding(FAIL, f"{spec.name}: " + "; ".join(problems), "run `txnalert deploy`")
    return Finding(OK, f"{spec.name} Active, last update Successful, {fn.get('Runtime')}, {fn.get('Handler')}")


KIND = FunctionKind()
