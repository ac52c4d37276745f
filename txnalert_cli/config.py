"""The YAML config: loading, defaults, validation. No AWS calls, no boto3 import.

Every problem is collected and reported at once, one line each, naming the file and the dotted key:
    txnalert.yaml: queue.dlq.max_receive_count: must be an integer >= 1, got "five"
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_CONFIG_NAME = "txnalert.yaml"
ENV_CONFIG = "TXNALERT_CONFIG"
MANAGED_BY_KEY = "managed-by"
MANAGED_BY_VALUE = "txnalert"

QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
EMAIL_RE = re.compile(
    r"^[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
CONFIG_SET_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# IAM role names: 1-64 characters from letters, digits and + = , . @ _ - (IAM User Guide, "IAM name requirements").
ROLE_NAME_RE = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")
LAYER_ARN_RE = re.compile(
    r"^arn:aws(?:-cn|-us-gov)?:lambda:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):\d{12}:layer:[A-Za-z0-9_-]{1,140}:\d+$"
)
LAMBDA_RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13")
LAMBDA_ARCHITECTURES = ("x86_64", "arm64")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_CONCURRENCY_AUTO = "auto"
# Lambda's limits for an SQS event source mapping's ScalingConfig.MaximumConcurrency.
MAX_CONCURRENCY_MIN, MAX_CONCURRENCY_MAX = 2, 1000
BATCH_WINDOW_MAX = 300
SES_SIMULATOR_DOMAIN = "simulator.amazonses.com"

# SQS limits (Amazon SQS developer guide, "Quotas"): names are 1..80 characters including ".fifo".
QUEUE_NAME_MAX = 80
VISIBILITY_MAX = 43_200
RETENTION_MIN, RETENTION_MAX = 60, 1_209_600
MESSAGE_SIZE_MIN, MESSAGE_SIZE_MAX = 1_024, 1_048_576
# AWS recommends a visibility timeout of at least six times the function timeout for SQS triggers.
VISIBILITY_FACTOR = 6

# Limits on the file itself, so that hostile input costs little: a real config is a few KB, under 100 values
# and 4 levels deep.
MAX_CONFIG_BYTES = 1 << 20  # 1 MiB
MAX_VALUES = 10_000  # values once YAML aliases are expanded
MAX_DEPTH = 50  # levels of nesting, in the text or through aliases
SHOW_MAX = 80  # characters of a value quoted in a message


# --- the typed config -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsConfig:
    region: str | None = None  # None: AWS_REGION, AWS_DEFAULT_REGION, the profile's (resolved by aws.Aws)
    profile: str | None = None
    endpoint_url: str | None = None
    account_id: str | None = None  # the only account the credentials may be for (12 digits)


@dataclass(frozen=True)
class DlqConfig:
    name: str
    max_receive_count: int = 5


@dataclass(frozen=True)
class QueueConfig:
    name: str
    dlq: DlqConfig
    fifo: bool = False
    visibility_timeout: int = 180
    message_retention: int = 345_600
    receive_wait: int = 20
    max_message_size: int = 262_144


@dataclass(frozen=True)
class SesConfig:
    sender: str = "alerts@example.com"
    identities: tuple[str, ...] = ("alerts@example.com",)
    subject: str = "Transaction Alert"
    configuration_set: str | None = None


@dataclass(frozen=True)
class LambdaConfig:
    function_name: str = "transaction-email-processor"
    timeout: int = 30
    memory: int = 256
    batch_size: int = 10
    runtime: str = "python3.12"
    architecture: str = "x86_64"
    role_name: str = "transaction-email-processor-role"  # default: <function_name>-role
    max_concurrency: int | str = MAX_CONCURRENCY_AUTO  # an integer 2..1000, or "auto"
    batch_window: int = 0
    powertools_layer: str | None = None
    log_level: str = "INFO"
    start_margin_seconds: float | None = None  # None: min(5, timeout / 10); see start_margin_ms

    @property
    def start_margin_ms(self) -> int:
        """A record is not started with less than this left of the invocation (the handler's guard against a
        timeout between SES accepting an email and its idempotency record completing)."""
        from .handler.app import default_start_margin_ms

        if self.start_margin_seconds is None:
            return default_start_margin_ms(self.timeout * 1000)
        return round(self.start_margin_seconds * 1000)


@dataclass(frozen=True)
class IdempotencyConfig:
    table: str = "txnalert-idempotency"
    ttl_hours: int = 24


@dataclass(frozen=True)
class SendTestConfig:
    recipient: str = "success@simulator.amazonses.com"


@dataclass(frozen=True)
class Config:
    queue: QueueConfig
    aws: AwsConfig = field(default_factory=AwsConfig)
    ses: SesConfig = field(default_factory=SesConfig)
    lambda_: LambdaConfig = field(default_factory=LambdaConfig)
    idempotency: IdempotencyConfig = field(default_factory=IdempotencyConfig)
    send_test: SendTestConfig = field(default_factory=SendTestConfig)
    tags: dict[str, str] = field(default_factory=lambda: {"app": "txnalert"})
    source: str = "<built-in>"
    warnings: tuple[str, ...] = ()
    # Why SES will reject this sender (ses.sender is not covered by ses.identities), or None. Not a warning for
    # every command: only commands that send print it.
    sender_uncovered: str | None = None

    @property
    def resource_tags(self) -> dict[str, str]:
        """The tags every resource txnalert creates carries."""
        return {**self.tags, MANAGED_BY_KEY: MANAGED_BY_VALUE}

    def with_overrides(
        self, *, region: str | None = None, profile: str | None = None, endpoint_url: str | None = None
    ) -> Config:
        """Command-line --region/--profile/--endpoint-url win over the file."""
        aws = self.aws
        problems: list[str] = []
        if region is not None:
            _check_region(region, "--region", problems)
            aws = replace(aws, region=region)
        if profile is not None:
            aws = replace(aws, profile=profile or None)
        if endpoint_url is not None:
            _check_endpoint(endpoint_url, "--endpoint-url", problems)
            aws = replace(aws, endpoint_url=endpoint_url or None)
        if problems:
            raise ConfigError(problems)
        return replace(self, aws=aws)


# --- schema ---------------------------------------------------------------------------------------


class _Missing:
    pass


MISSING = _Missing()
Validator = Callable[[Any], "str | None"]


# C1 control characters, which json.dumps leaves raw (some terminals act on them).
_C1_ESCAPES = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}
_SHOW_DEPTH = 8
_SHOW_WHOLE = SHOW_MAX + 20  # a string this long is shown whole: cutting it would hide a name for a few characters


def show(value: Any) -> str:
    """A value as the user wrote it (strings quoted, YAML null/true/false as such), in about SHOW_MAX characters:
    a string longer than _SHOW_WHOLE is cut and its length given (`"aaaa..." (5242880 characters)`), a larger
    structure is cut with "...". Nothing is serialised beyond what is shown, so a huge value costs no more than
    a small one."""
    if isinstance(value, str):
        quoted = json.dumps(value[:_SHOW_WHOLE], ensure_ascii=False).translate(_C1_ESCAPES)
        if len(value) <= _SHOW_WHOLE and len(quoted) <= _SHOW_WHOLE + 2:
            return quoted
        return f'"{quoted[1:-1][: SHOW_MAX - 4]}..." ({len(value)} characters)'
    text = ""
    for token in _show_tokens(value, 0):
        text += token
        if len(text) > SHOW_MAX:
            return text[: SHOW_MAX - 3] + "..."
    return text


def _show_tokens(value: Any, depth: int) -> Iterator[str]:
    """JSON-like text of value, piece by piece (so show can stop early); deep or self-containing values end in ..."""
    if isinstance(value, str):
        yield show(value)
    elif value is None or isinstance(value, bool | float):
        yield json.dumps(value)
    elif isinstance(value, int):
        try:
            yield str(value)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits())
            yield f"<an integer of {value.bit_length()} bits>"
    elif isinstance(value, dict | list | tuple | set | frozenset):
        if depth >= _SHOW_DEPTH:
            yield "..."
            return
        is_map = isinstance(value, dict)
        yield "{" if is_map else "["
        for index, item in enumerate(value.items() if is_map else value):
            if index:
                yield ", "
            if is_map:
                yield from _show_tokens(item[0], depth + 1)
                yield ": "
                item = item[1]
            yield from _show_tokens(item, depth + 1)
        yield "}" if is_map else "]"
    else:  # a date, bytes (!!binary): as text
        yield show(str(value[: SHOW_MAX + 1] if isinstance(value, bytes) else value))


def _key(key: Any) -> str:
    """A mapping key in a dotted path: as written when short and printable, else quoted and capped by show."""
    if isinstance(key, str) and 0 < len(key) <= SHOW_MAX and key.isprintable():
        return key
    return show(key)


def _integer(lo: int, hi: int | None = None) -> Validator:
    def check(value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool) or (value < lo and hi is None):
            return f"must be an integer >= {lo}, got {show(value)}"
        if value < lo or (hi is not None and value > hi):
            return f"must be between {lo} and {hi}, got {show(value)}"
        return None

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {show(value)}"


def _string(pattern: re.Pattern[str] | None = None, what: str = "", nullable: bool = False) -> Validator:
    def check(value: Any) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value.strip():
            kind = "a non-empty string" + (" or null" if nullable else "")
            return f"must be {kind}, got {show(value)}"
        if pattern is not None and not pattern.match(value):
            return f"must be {what}, got {show(value)}"
        return None

    return check


def _single_line(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f"must be a non-empty string, got {show(value)}"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "must be a single line without control characters"
    if len(value) > 200:
        return f"must be at most 200 characters, got {len(value)}"
    return None


def _email(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 254 or not EMAIL_RE.match(value):
        return f"must be an email address, got {show(value)}"
    return None


def _one_of(allowed: tuple[str, ...], *, fold_case: bool = False) -> Validator:
    def check(value: Any) -> str | None:
        candidate = value.upper() if fold_case and isinstance(value, str) else value
        if isinstance(candidate, str) and candidate in allowed:
            return None
        return f"must be one of {', '.join(allowed)}, got {show(value)}"

    return check


def _max_concurrency(value: Any) -> str | None:
    if value == MAX_CONCURRENCY_AUTO:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and MAX_CONCURRENCY_MIN <= value <= MAX_CONCURRENCY_MAX:
        return None
    return (
        f'must be "{MAX_CONCURRENCY_AUTO}" or an integer between {MAX_CONCURRENCY_MIN} and {MAX_CONCURRENCY_MAX}, '
        f"got {show(value)}"
    )


def _seconds_or_null(value: Any) -> str | None:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e6):
        return None
    return f"must be null or a number of seconds >= 0, got {show(value)}"


def _layer_arn(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and LAYER_ARN_RE.match(value)):
        return None
    return (
        "must be null or a Lambda layer version ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<version>), "
        f"got {show(value)}"
    )


def layer_region_problem(layer: str | None, region: str) -> str | None:
    """A layer must be in the function's region; None when it is (or there is no layer)."""
    match = LAYER_ARN_RE.match(layer or "")
    if match is None or match.group("region") == region:
        return None
    return (
        f"the layer is in {match.group('region')} but the function is in {region} (aws.region); "
        "Lambda only attaches layers from the function's region"
    )


def check_region_fits(config: Config, region: str) -> None:
    """The keys that depend on the command's resolved region (the Powertools layer); raises ConfigError."""
    problem = layer_region_problem(config.lambda_.powertools_layer, region)
    if problem:
        raise ConfigError([f"{config.source}: lambda.powertools_layer: {problem}"])


def _identity(value: Any) -> str | None:
    if isinstance(value, str) and (EMAIL_RE.match(value) or DOMAIN_RE.match(value)):
        return None
    return f"must be an email address or a domain, got {show(value)}"


@dataclass(frozen=True)
class Key:
    check: Validator
    default: Any = MISSING  # MISSING: required (or derived later)


SCHEMA: dict[str, dict[str, Key]] = {
    "aws": {
        "region": Key(lambda v: None, None),  # checked with a clearer message below
        "profile": Key(_string(nullable=True), None),
        "endpoint_url": Key(lambda v: None, None),  # checked below
        "account_id": Key(lambda v: None, None),  # checked and normalised below
    },
    "queue": {
        "name": Key(lambda v: None),  # required; checked below
        "fifo": Key(_boolean, False),
        "visibility_timeout": Key(_integer(0, VISIBILITY_MAX), 180),
        "message_retention": Key(_integer(RETENTION_MIN, RETENTION_MAX), 345_600),
        "receive_wait": Key(_integer(0, 20), 20),
        "max_message_size": Key(_integer(MESSAGE_SIZE_MIN, MESSAGE_SIZE_MAX), 262_144),
        "dlq": Key(lambda v: None, None),  # nested section
    },
    "queue.dlq": {
        "name": Key(lambda v: None, None),  # default derived from queue.name; checked below
        "max_receive_count": Key(_integer(1, 1000), 5),
    },
    "ses": {
        "sender": Key(_email, "alerts@example.com"),
        "identities": Key(lambda v: None, ["alerts@example.com"]),  # checked below
        "subject": Key(_single_line, "Transaction Alert"),
        "configuration_set": Key(_string(CONFIG_SET_RE, "1-64 letters, digits, '-' or '_'", nullable=True), None),
    },
    "lambda": {
        "function_name": Key(
            _string(FUNCTION_NAME_RE, "1-64 letters, digits, '-' or '_'"), "transaction-email-processor"
        ),
        "timeout": Key(_integer(1, 900), 30),
        "memory": Key(_integer(128, 10_240), 256),
        "batch_size": Key(_integer(1, 10_000), 10),
        "runtime": Key(_one_of(LAMBDA_RUNTIMES), "python3.12"),
        "architecture": Key(_one_of(LAMBDA_ARCHITECTURES), "x86_64"),
        "role_name": Key(
            _string(ROLE_NAME_RE, "1-64 letters, digits or '+=,.@_-' (IAM role name rules)", nullable=True), None
        ),  # default derived from function_name
        "max_concurrency": Key(_max_concurrency, MAX_CONCURRENCY_AUTO),
        "batch_window": Key(_integer(0, BATCH_WINDOW_MAX), 0),
        "powertools_layer": Key(_layer_arn, None),
        "log_level": Key(_one_of(LOG_LEVELS, fold_case=True), "INFO"),
        "start_margin_seconds": Key(_seconds_or_null, None),  # null: min(5, timeout / 10); checked below
    },
    "idempotency": {
        "table": Key(_string(TABLE_NAME_RE, "3-255 letters, digits, '_', '-' or '.'"), "txnalert-idempotency"),
        "ttl_hours": Key(_integer(1, 8_760), 24),
    },
    "send_test": {"recipient": Key(_email, "success@simulator.amazonses.com")},
}
SECTIONS = ("aws", "queue", "ses", "lambda", "idempotency", "send_test", "tags")


def _check_region(value: Any, key: str, problems: list[str], prefix: str = "") -> None:
    if not isinstance(value, str) or not REGION_RE.match(value):
        problems.append(f"{prefix}{key}: must be an AWS region such as us-east-1, got {show(value)}")


def _account_id(value: Any, where: str, problems: list[str]) -> str | None:
    """aws.account_id as 12 digits; None when not set. Never echoes the value (it is an account number).

    YAML reads an unquoted 123456789012 as a number, which is fine; but an unquoted number with a leading
    zero is read as a smaller number (or as octal), so only a 12-digit number is taken unquoted."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 10**11 <= value < 10**12:
        return str(value)
    if isinstance(value, str) and ACCOUNT_ID_RE.match(value):
        return value
    if isinstance(value, bool):
        got = "a boolean"
    elif isinstance(value, int) and 0 <= value < 10**11:
        got = "a number with fewer than 12 digits: quote it, YAML drops leading zeros of an unquoted number"
    elif isinstance(value, int):
        got = f"a {len(str(value).lstrip('-'))}-digit number"
    elif isinstance(value, str):
        got = f"{len(value)} digits" if value.isdigit() else "a value that is not only digits"
    else:
        got = {float: "a decimal number", list: "a list", dict: "a mapping"}.get(type(value), "another type")
    problems.append(f'{where}: must be a 12-digit AWS account id, quoted like "012345678901", got {got}')
    return None


def _check_endpoint(value: Any, key: str, problems: list[str], prefix: str = "") -> None:
    if value is None or value == "" or value == "local":
        return
    if not isinstance(value, str) or not _valid_url(value):
        problems.append(f'{prefix}{key}: must be null, "local" or an http(s) URL, got {show(value)}')


def _valid_url(value: str) -> bool:
    """An http(s) URL with a host and, if given, a port in 1..65535 (what botocore will accept)."""
    from urllib.parse import urlsplit

    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        return False
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # bad IPv6 literal, port out of range
        return False
    host = parts.hostname or ""
    if not host or (port is not None and port == 0):
        return False
    if ":" in host:  # an IPv6 literal
        import ipaddress

        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return False
        return True
    return bool(re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", host))


def _check_queue_name(name: Any, fifo: bool, key: str, problems: list[str], prefix: str) -> str | None:
    """Validate a queue name; returns the full name (with .fifo for FIFO queues) or None if invalid."""
    if not isinstance(name, str) or not name:
        problems.append(f"{prefix}{key}: must be a non-empty string, got {show(name)}")
        return None
    base = name[: -len(".fifo")] if name.endswith(".fifo") else name
    if name.endswith(".fifo") and not fifo:
        problems.append(f"{prefix}{key}: {show(name)} ends with .fifo but queue.fifo is false (set queue.fifo: true)")
        return None
    if not base or not QUEUE_NAME_RE.match(base):
        problems.append(f"{prefix}{key}: may contain only letters, digits, '-' and '_', got {show(name)}")
        return None
    full = f"{base}.fifo" if fifo else base
    if len(full) > QUEUE_NAME_MAX:
        problems.append(
            f"{prefix}{key}: must be at most {QUEUE_NAME_MAX} characters"
            f"{' including .fifo' if fifo else ''}, got {len(full)} ({show(full)})"
        )
        return None
    return full


def _check_tags(value: Any, problems: list[str], prefix: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{prefix}tags: must be a mapping of tag names to values, got {show(value)}")
        return {}
    tags: dict[str, str] = {}
    for key, val in value.items():
        where = f"{prefix}tags.{_key(key)}"
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            problems.append(f'{where}: a tag name must be 1-128 characters and not start with "aws:"')
            continue
        if key == MANAGED_BY_KEY:
            problems.append(f"{where}: is reserved; txnalert sets {MANAGED_BY_KEY}: {MANAGED_BY_VALUE} itself")
            continue
        if isinstance(val, bool) or not isinstance(val, str | int | float) or len(str(val)) > 256:
            problems.append(f"{where}: must be a string of at most 256 characters, got {show(val)}")
            continue
        tags[key] = str(val)
    if len(tags) + 1 > 50:
        problems.append(f"{prefix}tags: at most 49 tags (AWS allows 50 and txnalert adds {MANAGED_BY_KEY})")
    return tags


def _section(raw: dict[str, Any], name: str, problems: list[str], prefix: str) -> dict[str, Any]:
    """Validate one section's keys and types; returns its values with defaults filled in."""
    value = raw.get(name)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        problems.append(f"{prefix}{name}: must be a mapping, got {show(value)}")
        value = {}
    schema = SCHEMA[name]
    for key in value:
        if key not in schema:
            problems.append(f"{prefix}{name}.{_key(key)}: {_unknown(key, list(schema))}")
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        if key in value:
            message = spec.check(value[key])
            if message:
                problems.append(f"{prefix}{name}.{key}: {message}")
            out[key] = value[key]
        elif spec.default is not MISSING:
            out[key] = spec.default
    return out


def _unknown(key: Any, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1) if isinstance(key, str) and len(key) <= SHOW_MAX else []
    hint = f" (did you mean {show(close[0])}?)" if close else f" (known: {', '.join(known)})"
    return "unknown key" + hint


def parse(raw: Any, source: str = "<config>") -> Config:
    """Build a Config from parsed YAML; raises ConfigError listing every problem."""
    prefix = f"{source}: "
    problems: list[str] = []
    warnings: list[str] = []
    if not isinstance(raw, dict):
        raise ConfigError([f"{prefix}must be a mapping with at least queue.name, got {show(raw)}"])
    for key in raw:
        if key not in SECTIONS:
            problems.append(f"{prefix}{_key(key)}: {_unknown(key, list(SECTIONS))}")

    aws = _section(raw, "aws", problems, prefix)
    if aws["region"] is not None:
        _check_region(aws["region"], "aws.region", problems, prefix)
    aws["account_id"] = _account_id(aws["account_id"], f"{prefix}aws.account_id", problems)
    _check_endpoint(aws["endpoint_url"], "aws.endpoint_url", problems, prefix)

    queue = _section(raw, "queue", problems, prefix)
    dlq_raw = queue.get("dlq")
    dlq = _section({"queue.dlq": dlq_raw}, "queue.dlq", problems, prefix)
    fifo = queue["fifo"] if isinstance(queue["fifo"], bool) else False
    queue_name: str | None = None
    if "name" not in queue:
        problems.append(f"{prefix}queue.name: missing (the one required key)")
    else:
        queue_name = _check_queue_name(queue["name"], fifo, "queue.name", problems, prefix)
    dlq_name: str | None = None
    if dlq["name"] is None:
        if queue_name is not None:
            base = queue_name[: -len(".fifo")] if fifo else queue_name
            dlq_name = _check_queue_name(f"{base}-dlq", fifo, "queue.dlq.name", problems, prefix)
    else:
        dlq_name = _check_queue_name(dlq["name"], fifo, "queue.dlq.name", problems, prefix)
    if queue_name is not None and queue_name == dlq_name:
        problems.append(f"{prefix}queue.dlq.name: must differ from queue.name")

    ses = _section(raw, "ses", problems, prefix)
    identities = ses["identities"]
    if isinstance(identities, str):
        identities = [identities]
    if identities is None or identities == []:
        problems.append(
            f"{prefix}ses.identities: must list at least one email address or domain "
            "(SES only sends from verified identities)"
        )
        identities = []
    elif not isinstance(identities, list):
        problems.append(f"{prefix}ses.identities: must be a list of email addresses or domains, got {show(identities)}")
        identities = []
    seen_identities: set[str] = set()
    for index, identity in enumerate(identities):
        message = _identity(identity)
        if message:
            problems.append(f"{prefix}ses.identities[{index}]: {message}")
        elif identity.lower() in seen_identities:
            problems.append(f"{prefix}ses.identities[{index}]: {show(identity)} is listed twice")
        else:
            seen_identities.add(identity.lower())

    lam = _section(raw, "lambda", problems, prefix)
    idem = _section(raw, "idempotency", problems, prefix)
    send_test = _section(raw, "send_test", problems, prefix)
    tags = _check_tags(raw.get("tags", {"app": "txnalert"}), problems, prefix)

    # Cross-field rules, only when the fields themselves are valid.
    def valid_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if fifo and valid_int(lam["batch_size"]) and lam["batch_size"] > 10:
        problems.append(
            f"{prefix}lambda.batch_size: must be at most 10 for a FIFO queue, got {show(lam['batch_size'])}"
        )
    window = lam["batch_window"]
    window_ok = valid_int(window) and 0 <= window <= BATCH_WINDOW_MAX
    if fifo and window_ok and window > 0:
        problems.append(
            f"{prefix}lambda.batch_window: must be 0 for a FIFO queue (Lambda has no batching window for FIFO "
            f"queues), got {window}"
        )
    if not fifo and window_ok and window < 1 and valid_int(lam["batch_size"]) and 10 < lam["batch_size"] <= 10_000:
        problems.append(
            f"{prefix}lambda.batch_size: above 10 needs lambda.batch_window >= 1 (AWS requires a batching window "
            f"for batches of more than 10), got batch_size {lam['batch_size']} with batch_window {window}"
        )
    function_name = lam["function_name"]
    if lam["role_name"] is None and isinstance(function_name, str) and FUNCTION_NAME_RE.match(function_name):
        derived = f"{function_name}-role"
        if ROLE_NAME_RE.match(derived):
            lam["role_name"] = derived
        else:
            problems.append(
                f"{prefix}lambda.role_name: the default {show(derived)} is longer than 64 characters "
                "(IAM's limit): set lambda.role_name"
            )
    if isinstance(lam["log_level"], str):
        lam["log_level"] = lam["log_level"].upper()
    if _layer_arn(lam["powertools_layer"]) is None and isinstance(aws["region"], str):
        layer_problem = layer_region_problem(lam["powertools_layer"], aws["region"])
        if layer_problem:
            problems.append(f"{prefix}lambda.powertools_layer: {layer_problem}")
    vis, timeout = queue["visibility_timeout"], lam["timeout"]
    margin = lam["start_margin_seconds"]
    timeout_ok = valid_int(timeout) and 1 <= timeout <= 900
    if margin is not None and _seconds_or_null(margin) is None and timeout_ok and margin >= timeout:
        problems.append(
            f"{prefix}lambda.start_margin_seconds: must be below lambda.timeout ({timeout}), got {show(margin)} "
            "(no record would ever start)"
        )
    if valid_int(vis) and valid_int(timeout) and 0 <= vis <= VISIBILITY_MAX and 1 <= timeout <= 900:
        if vis < timeout:
            problems.append(f"{prefix}queue.visibility_timeout: must be >= lambda.timeout ({timeout}), got {vis}")
        else:
            window = lam["batch_window"] if valid_int(lam["batch_window"]) and lam["batch_window"] > 0 else 0
            recommended = VISIBILITY_FACTOR * timeout + window
            if vis < recommended:
                plus = f" + lambda.batch_window ({window})" if window else ""
                warnings.append(
                    f"{prefix}queue.visibility_timeout: {vis} is below {VISIBILITY_FACTOR} x lambda.timeout{plus} "
                    f"({recommended}), AWS's recommendation for SQS triggers"
                )
    mrc = dlq["max_receive_count"]
    if valid_int(mrc) and 1 <= mrc < 5:
        warnings.append(
            f"{prefix}queue.dlq.max_receive_count: {mrc} is below 5; messages may be dead-lettered "
            "after a throttled or failed batch (AWS recommends at least 5)"
        )
    sender = ses["sender"]
    sender_uncovered: str | None = None
    if not problems and isinstance(sender, str) and identities and not _sender_covered(sender, identities):
        sender_uncovered = f"{prefix}ses.sender: {show(sender)} is not covered by ses.identities; SES will reject sends"

    if problems:
        raise ConfigError(problems)
    assert queue_name is not None and dlq_name is not None
    return Config(
        aws=AwsConfig(
            region=aws["region"],
            profile=aws["profile"],
            endpoint_url=aws["endpoint_url"] or None,
            account_id=aws["account_id"],
        ),
        queue=QueueConfig(
            name=queue_name,
            fifo=fifo,
            visibility_timeout=queue["visibility_timeout"],
            message_retention=queue["message_retention"],
            receive_wait=queue["receive_wait"],
            max_message_size=queue["max_message_size"],
            dlq=DlqConfig(name=dlq_name, max_receive_count=dlq["max_receive_count"]),
        ),
        ses=SesConfig(
            sender=sender,
            identities=tuple(identities),
            subject=ses["subject"],
            configuration_set=ses["configuration_set"],
        ),
        lambda_=LambdaConfig(**lam),
        idempotency=IdempotencyConfig(**idem),
        send_test=SendTestConfig(**send_test),
        tags=tags,
        source=source,
        warnings=tuple(warnings),
        sender_uncovered=sender_uncovered,
    )


def _sender_covered(sender: str, identities: list[str]) -> bool:
    return sender_identity_in(sender, identities) is not None


def sender_identity_in(sender: str, identities: list[str] | tuple[str, ...]) -> str | None:
    """The identity of `identities` that SES authorises `sender` by: the address itself when it is one of
    them, else its domain; None when neither is (compared without case, returned as configured)."""
    by_name = {identity.lower(): identity for identity in identities}
    return by_name.get(sender.lower()) or by_name.get(sender.rsplit("@", 1)[-1].lower())


def find_config_path(explicit: str | None) -> Path:
    """--config, else $TXNALERT_CONFIG, else ./txnalert.yaml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    return Path(DEFAULT_CONFIG_NAME)


def load(explicit: str | None = None) -> Config:
    """Read, parse and validate the config file; every failure is a ConfigError (exit 2). A file larger than
    MAX_CONFIG_BYTES is refused unread, and no more than that is ever read (/dev/zero, a growing file)."""
    path = find_config_path(explicit)
    source = str(path)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_CONFIG_BYTES:
                raise ConfigError([f"{source}: {_too_large(size)}"])
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError([f"{source}: {_too_large(None)}"])
        text = data.decode("utf-8")
    except FileNotFoundError:
        hint = (
            ""
            if explicit or os.environ.get(ENV_CONFIG)
            else (" (pass --config PATH, set TXNALERT_CONFIG, or copy config.example.yaml to txnalert.yaml)")
        )
        raise ConfigError([f"{source}: config file not found{hint}"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{source}: is a directory, not a config file"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: is not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror}"]) from None
    return loads(text, source)


def _too_large(size: int | None) -> str:
    limit = f"larger than {MAX_CONFIG_BYTES >> 20} MiB (the limit for a config file): refusing it"
    return f"is {size} bytes, {limit}" if size is not None else f"is {limit}"


class _Refused(Exception):
    """A YAML document txnalert will not read (too big, too deep, a non-string key), at a place in the file."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark

    def line(self, source: str) -> str:
        return f"{source}: {_where(self.mark)}{self.message}"


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def _clip(text: str, limit: int = 2 * SHOW_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# What a constructor raises on a malformed scalar (!!int xyz, a 5000-digit integer, !!timestamp x, !!bool x).
_CONSTRUCT_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError)


@functools.cache
def _config_loader() -> Any:
    """safe_load's loader with what a config needs: each mapping key a string, given once; no merge keys; at most
    MAX_DEPTH levels and MAX_VALUES values, counted on the parser's events (iterative) before the recursive
    composer and constructor see them; a scalar that cannot be constructed reported where it stands."""
    import yaml
    from yaml.constructor import ConstructorError
    from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent
    from yaml.nodes import MappingNode, Node, ScalarNode

    class ConfigLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.nesting = 0
            self.values = 0

        def get_event(self) -> Any:
            event = super().get_event()
            if isinstance(event, CollectionStartEvent):
                self.nesting += 1
                if self.nesting > MAX_DEPTH:
                    raise _Refused(f"nested more than {MAX_DEPTH} levels deep: refusing it", event.start_mark)
            elif isinstance(event, CollectionEndEvent):
                self.nesting -= 1
            if isinstance(event, CollectionStartEvent | ScalarEvent | AliasEvent):
                self.values += 1
                if self.values > MAX_VALUES:
                    raise _Refused(f"the document has more than {MAX_VALUES} values: refusing it")
            return event

        def construct_object(self, node: Node, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except _CONSTRUCT_ERRORS:
                tag = _clip(str(node.tag).replace("tag:yaml.org,2002:", "!!"))
                raise ConstructorError(None, None, f"not a valid {tag} value", node.start_mark) from None

    def construct_mapping(loader: ConfigLoader, node: MappingNode, deep: bool = False) -> Any:
        keys: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused("YAML merge keys (<<) are not supported", key_node.start_mark)
            if not isinstance(key_node, ScalarNode):
                kind = "a mapping" if isinstance(key_node, MappingNode) else "a list"
                raise _Refused(f"a mapping key must be a string, got {kind}", key_node.start_mark)
            key = loader.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise _Refused(f"a mapping key must be a string, got {_kind(key)} (quote it)", key_node.start_mark)
            if key in keys:
                raise ConstructorError(None, None, f"duplicate key {show(key)}", key_node.start_mark)
            keys.add(key)
        return loader.construct_mapping(node, deep=deep)

    ConfigLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return ConfigLoader


def _kind(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return show(value)
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return f"a {type(value).__name__}"


def _check_expansion(root: Any) -> None:
    """Refuse a node graph that expands (through aliases) to more than MAX_VALUES values or MAX_DEPTH levels, or
    that contains itself. Aliases share node objects and sizes are memoised per node, so this is O(distinct
    nodes) even for an alias bomb; it is iterative, so a long alias chain cannot exhaust the stack."""
    from yaml.nodes import MappingNode, SequenceNode

    def children(node: Any) -> list[Any]:
        if isinstance(node, MappingNode):
            return [part for pair in node.value for part in pair]
        return list(node.value) if isinstance(node, SequenceNode) else []

    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the path from the root: meeting one again is a cycle
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        ident = id(node)
        if finished:
            open_nodes.discard(ident)
            kids = children(node)
            size[ident] = 1 + sum(size[id(kid)] for kid in kids)
            depth[ident] = 1 + max((depth[id(kid)] for kid in kids), default=0)
            if size[ident] > MAX_VALUES:
                raise _Refused(f"the document expands to more than {MAX_VALUES} values (YAML aliases): refusing it")
            if depth[ident] > MAX_DEPTH:
                raise _Refused(
                    f"nested more than {MAX_DEPTH} levels deep (through YAML aliases): refusing it", node.start_mark
                )
            continue
        if ident in size:
            continue
        open_nodes.add(ident)
        stack.append((node, True))
        for kid in children(node):
            if id(kid) in open_nodes:
                raise _Refused("the value here contains itself (a recursive YAML alias): refusing it", node.start_mark)
            if id(kid) not in size:
                stack.append((kid, False))


def loads(text: str, source: str = "<config>") -> Config:
    """Parse and validate config text. Hostile text is refused in one line before it can cost much: more than
    MAX_CONFIG_BYTES, nesting deeper than MAX_DEPTH, or more than MAX_VALUES values once aliases are expanded."""
    import yaml

    if len(text) > MAX_CONFIG_BYTES or len(encoded := text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        size = len(text) if len(text) > MAX_CONFIG_BYTES else len(encoded)
        raise ConfigError([f"{source}: {_too_large(size)}"])
    loader = None
    try:
        loader = _config_loader()(text)  # checks the characters: a ReaderError
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node)
        raw = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise ConfigError([exc.line(source)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{source}: {_where(mark)}invalid YAML: {_clip(problem)}"]) from None
    except RecursionError:  # defensive: the limits above keep PyYAML's recursion shallow
        raise ConfigError([f"{source}: nested too deeply to read: refusing it"]) from None
    except _CONSTRUCT_ERRORS as exc:  # defensive: construct_object reports these with their place
        raise ConfigError([f"{source}: invalid YAML: cannot read a value ({type(exc).__name__})"]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if raw is None:
        raise ConfigError([f"{source}: config file is empty; at least queue.name is required"])
    return parse(raw, source)


def builtin_example() -> Config:
    """The example config (config.example.yaml's values), used by `txnalert demo`."""
    return parse(
        {"queue": {"name": "transaction-events-queue", "dlq": {"name": "transaction-events-dlq"}}},
        "<built-in example>",
    )
