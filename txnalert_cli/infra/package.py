"""What deploying the Lambda function needs beyond the generic plan/apply: the zip, the IAM documents, the
function's environment and the SQS trigger's concurrency.

The zip
    The handler package (every .py under txnalert_cli/handler) goes in at the top level as `txnalert_handler/`;
    it imports only relatively, so the rename is safe, and the function's Handler is
    `txnalert_handler.app.lambda_handler`. Powertools is vendored from the installed distribution (listed by
    `importlib.metadata`, `__pycache__`/.pyc skipped, data files such as `py.typed` kept) with its required
    runtime dependencies that the Lambda Python runtime does not provide (boto3/botocore and theirs, jmespath
    included, are in the runtime; typing_extensions is not). With `lambda.powertools_layer` set, Powertools
    comes from that layer and the zip holds the handler only.
    The zip is deterministic: entries sorted, every timestamp 1980-01-01 00:00, mode 0644, one compression
    level, no directory entries. The same inputs give the same bytes, so the SHA-256 decides whether the
    function's code must be uploaded (Lambda's `CodeSha256` is the base64 SHA-256 of the zip).

The IAM documents
    A trust policy for lambda.amazonaws.com, and one inline policy whose every statement names ARNs built from
    the config: the queue, the SES identity the sender is authorised by (and the configuration set), the
    idempotency table, the function's log group. The only wildcard is the log stream name (Lambda names
    streams at run time). Both queues also get a resource policy denying any request without TLS.

MaximumConcurrency "auto"
    See `concurrency_for_send_rate`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..config import MAX_CONCURRENCY_MAX, MAX_CONCURRENCY_MIN, Config
from ..errors import TxnalertError

HANDLER_PACKAGE = "txnalert_handler"
HANDLER_ENTRY = f"{HANDLER_PACKAGE}.app.lambda_handler"
POWERTOOLS_DISTRIBUTION = "aws-lambda-powertools"
# Distributions every Lambda Python runtime provides (the AWS SDK and its dependencies): never vendored.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"})
# Installer bookkeeping in a .dist-info directory: not part of what the package needs, and machine specific.
_DIST_INFO_SKIPPED = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644  # regular file, rw-r--r--
ZIP_LEVEL = 6  # zlib's default: level 9 saves 0.4 % for 30 % more time
POLICY_VERSION = "2012-10-17"
INLINE_POLICY_NAME = "txnalert-function"
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"

# One invocation sends its batch sequentially, one SES call at a time; an SES call takes about 100 ms
# (plus the idempotency table's reads and writes), so one invocation sends at most about 10 emails/s.
EMAILS_PER_SECOND_PER_INVOCATION = 10


class PackageError(TxnalertError):
    """The function's zip cannot be built from what is installed."""


# --- the zip --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionPackage:
    """The function's deployment zip: its bytes, the files in it and the distributions vendored."""

    data: bytes
    files: tuple[str, ...]
    vendored: tuple[str, ...] = ()  # "name version" of each vendored distribution
    layers: tuple[str, ...] = ()  # layer ARNs the code expects (Powertools from a layer)
    handler: str = HANDLER_ENTRY

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def code_sha256(self) -> str:
        """What Lambda reports as the function's CodeSha256: the base64 SHA-256 of the zip."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode("ascii")

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "sha256": self.sha256,
            "code_sha256": self.code_sha256,
            "handler": self.handler,
            "files": len(self.files),
            "vendored": list(self.vendored),
            "layers": list(self.layers),
        }


def _canonical(name: str) -> str:
    """A distribution name normalised as PEP 503 does."""
    return re.sub(r"[-_.]+", "-", name).lower()


def handler_files() -> dict[str, Path]:
    """Every .py of the handler package, keyed by its path in the zip."""
    from .. import handler

    root = Path(handler.__file__).parent
    files = {
        str(PurePosixPath(HANDLER_PACKAGE, *path.relative_to(root).parts)): path
        for path in root.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    if f"{HANDLER_PACKAGE}/app.py" not in files:
        raise PackageError(f"the handler package at {root} has no app.py")
    return files


def _runtime_requirements(dist: importlib.metadata.Distribution) -> list[str]:
    """The names of the distributions `dist` requires at run time (extras' requirements excluded).

    Requirements with other environment markers (python_version, ...) are kept: vendoring a module the
    runtime would not use costs a few kilobytes; missing one breaks the function."""
    names = []
    for requirement in dist.requires or []:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if match:
            names.append(match.group(1))
    return names


def vendored_distributions(root: str = POWERTOOLS_DISTRIBUTION) -> list[importlib.metadata.Distribution]:
    """`root` and, transitively, its runtime requirements that the Lambda runtime lacks, sorted by name."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [root]
    while pending:
        name = _canonical(pending.pop())
        if name in found or name in RUNTIME_PROVIDED:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise PackageError(
                f"{name} is not installed, and the function needs it: install it (it is a txnalert dependency)"
            ) from None
        found[name] = dist
        pending.extend(_runtime_requirements(dist))
    return [found[name] for name in sorted(found)]


def distribution_files(dist: importlib.metadata.Distribution) -> dict[str, Path]:
    """An installed distribution's files, keyed by their path relative to site-packages (= in the zip)."""
    listed = dist.files
    name = dist.metadata["Name"]
    if listed is None:
        raise PackageError(f"cannot list the files of the installed {name} (no RECORD): reinstall it")
    files: dict[str, Path] = {}
    for entry in listed:
        parts = PurePosixPath(str(entry)).parts
        if not parts or parts[0] == ".." or "__pycache__" in parts or entry.suffix == ".pyc":
            continue  # scripts outside site-packages, bytecode
        if parts[0].endswith(".dist-info") and parts[-1] in _DIST_INFO_SKIPPED:
            continue
        path = Path(str(dist.locate_file(entry)))
        if not path.is_file():
            raise PackageError(f"{name}: {entry} is listed but missing at {path}: reinstall {name}")
        files[str(PurePosixPath(*parts))] = path
    return files


# Zips built in this process, by a digest of their contents: the build is deterministic, so the same
# files give the same bytes, and compressing a megabyte again (a tenth of a second) is not needed when one
# process plans twice (setup then deploy in the demo, the tests). A few entries: a few MB at most.
_ZIP_CACHE: OrderedDict[bytes, bytes] = OrderedDict()
_ZIP_CACHE_SIZE = 4
_ZIP_CACHE_LOCK = threading.Lock()


def build_zip(files: Mapping[str, bytes]) -> bytes:
    """A deterministic zip of `files` (path in the zip -> content)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        encoded = name.encode()
        digest.update(len(encoded).to_bytes(4, "big") + encoded + len(files[name]).to_bytes(8, "big"))
        digest.update(files[name])
    key = digest.digest()
    with _ZIP_CACHE_LOCK:
        cached = _ZIP_CACHE.get(key)
        if cached is not None:
            _ZIP_CACHE.move_to_end(key)
            return cached
    data = _build_zip(files)
    with _ZIP_CACHE_LOCK:
        _ZIP_CACHE[key] = data
        while len(_ZIP_CACHE) > _ZIP_CACHE_SIZE:
            _ZIP_CACHE.popitem(last=False)
    return data


def _build_zip(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so external_attr means a mode on every platform
            info.external_attr = ZIP_FILE_MODE << 16
            archive.writestr(info, files[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL)
    return buffer.getvalue()


def build_package(config: Config, extra_files: Mapping[str, bytes] | None = None) -> FunctionPackage:
    """The function's zip for `config`: the handler package, plus Powertools unless it comes from a layer.

    `extra_files` (path in the zip -> content) are added as they are; a path already taken is an error."""
    sources: dict[str, Path] = dict(handler_files())
    vendored: list[str] = []
    layer = config.lambda_.powertools_layer
    if layer is None:
        for dist in vendored_distributions():
            vendored.append(f"{dist.metadata['Name']} {dist.version}")
            for name, path in distribution_files(dist).items():
                if name in sources:
                    raise PackageError(f"{name} would be in the zip twice ({path} and {sources[name]})")
                sources[name] = path
    contents = {name: path.read_bytes() for name, path in sources.items()}
    for name, data in (extra_files or {}).items():
        if name in contents:
            raise PackageError(f"{name} is already in the zip")
        contents[name] = data
    return FunctionPackage(
        data=build_zip(contents),
        files=tuple(sorted(contents)),
        vendored=tuple(vendored),
        layers=(layer,) if layer else (),
    )


# --- where we run ---------------------------------------------------------------------------------


def is_emulator(aws: Any) -> bool:
    """True on the txnalert emulator or any loopback endpoint (a local moto server): there, moto does not run
    the function's code, so the SQS trigger is created disabled and `txnalert worker` is the consumer."""
    return bool(aws.is_local)


def partition_for(region: str) -> str:
    """The ARN partition of a region."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def build_arn(service: str, region: str, account: str, resource: str) -> str:
    """arn:<partition>:<service>:<region>:<account>:<resource>: the ARN of a regional resource by its name,
    whether or not it exists (the policy's resources, a deleted queue's or function's ARN)."""
    return f"arn:{partition_for(region)}:{service}:{region}:{account}:{resource}"


# --- the function's settings --------------------------------------------------------------------


def function_environment(config: Config) -> dict[str, str]:
    """The function's environment variables: `handler_settings(config)` (what the local worker runs with)
    as the handler's `Settings.from_env` reads them, plus the log level and the Powertools service name."""
    from ..handler.app import (
        ENV_CONFIGURATION_SET,
        ENV_FIFO,
        ENV_IDEMPOTENCY_TABLE,
        ENV_IDEMPOTENCY_TTL_SECONDS,
        ENV_LOG_LEVEL,
        ENV_SENDER,
        ENV_SERVICE,
        ENV_START_MARGIN_MS,
        ENV_SUBJECT,
    )
    from ..local.worker import handler_settings

    settings = handler_settings(config)
    environment = {
        ENV_SENDER: settings.sender,
        ENV_SUBJECT: settings.subject,
        ENV_IDEMPOTENCY_TABLE: settings.idempotency_table,
        ENV_IDEMPOTENCY_TTL_SECONDS: str(settings.idempotency_ttl_seconds),
        ENV_FIFO: "true" if config.queue.fifo else "false",
        ENV_LOG_LEVEL: config.lambda_.log_level,
        ENV_SERVICE: config.lambda_.function_name,
        ENV_START_MARGIN_MS: str(settings.start_margin_ms),
    }
    if settings.configuration_set:
        environment[ENV_CONFIGURATION_SET] = settings.configuration_set
    return environment


def concurrency_for_send_rate(max_send_rate: float) -> int:
    """MaximumConcurrency for `lambda.max_concurrency: auto`, from the SES account's max send rate (emails/s).

        max_concurrency = clamp(floor(max_send_rate / 10), 2, 1000)

    One invocation sends its batch one email at a time: each email is an SES call (~100 ms) after the
    idempotency table's write, so one invocation sends at most ~10 emails/s, and N concurrent invocations at
    most ~10 x N. floor(rate / 10) invocations therefore stay within the account's rate. 2 is the lowest
    MaximumConcurrency Lambda accepts: below a 20 emails/s quota (the sandbox's 1/s, a new account's 14/s)
    two invocations can exceed the rate for a moment; SES then throttles, the handler reports those records
    as batch item failures and SQS delivers them again after the visibility timeout, nothing is lost.
    1000 is Lambda's maximum."""
    by_rate = int(max_send_rate // EMAILS_PER_SECOND_PER_INVOCATION) if max_send_rate > 0 else 0
    return max(MAX_CONCURRENCY_MIN, min(MAX_CONCURRENCY_MAX, by_rate))


# --- IAM documents ----------------------------------------------------------------------------------


def trust_policy() -> dict[str, Any]:
    """Who may assume the function's role: the Lambda service, nothing else."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": LAMBDA_PRINCIPAL}, "Action": "sts:AssumeRole"},
        ],
    }


@dataclass(frozen=True)
class PolicyInputs:
    """What the inline policy is built from; every ARN in it comes from these. `sender_identity` is the SES
    identity the sender is authorised by (`identities.sender_identity`): SES checks SendEmail against the
    identity that matches the From address and against the configuration set, so those are the only SES
    resources granted, not every identity the config verifies."""

    region: str
    function_name: str
    queue_name: str
    table: str
    sender_identity: str
    configuration_set: str | None = None

    @classmethod
    def from_config(cls, config: Config, region: str, sender_identity: str) -> PolicyInputs:
        """`region`: the command's resolved region (`Aws.region`)."""
        return cls(
            region=region,
            function_name=config.lambda_.function_name,
            queue_name=config.queue.name,
            table=config.idempotency.table,
            sender_identity=sender_identity,
            configuration_set=config.ses.configuration_set,
        )


def function_policy(inputs: PolicyInputs, account: str) -> dict[str, Any]:
    """The function role's one inline policy: least privilege, every statement scoped to named ARNs.

    SQS: the three actions of AWS's AWSLambdaSQSQueueExecutionRole (the trigger receives, gets attributes and
    deletes; neither it nor the handler changes a message's visibility)."""

    def arn(service: str, resource: str) -> str:
        return build_arn(service, inputs.region, account, resource)

    log_group = arn("logs", f"log-group:/aws/lambda/{inputs.function_name}")
    ses_resources = [arn("ses", f"identity/{inputs.sender_identity}")]
    if inputs.configuration_set:
        ses_resources.append(arn("ses", f"configuration-set/{inputs.configuration_set}"))
    statements = [
        {
            "Sid": "ConsumeQueue",
            "Effect": "Allow",
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            "Resource": [arn("sqs", inputs.queue_name)],
        },
        {
            "Sid": "SendEmail",
            "Effect": "Allow",
            "Action": ["ses:SendEmail", "ses:SendRawEmail"],
            "Resource": ses_resources,
        },
        {
            "Sid": "IdempotencyTable",
            "Effect": "Allow",
            "Action": ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": [arn("dynamodb", f"table/{inputs.table}")],
        },
        # The log group's ARN as CloudWatch Logs authorises CreateLogGroup, with and without the ":*" suffix
        # its API reports; streams are named by Lambda at run time, hence the only wildcard.
        {
            "Sid": "CreateLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup"],
            "Resource": [log_group, f"{log_group}:*"],
        },
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{log_group}:log-stream:*"],
        },
    ]
    return {"Version": POLICY_VERSION, "Statement": statements}


QUEUE_POLICY_ID = "txnalert-tls-only"
TLS_ONLY_SID = "DenyInsecureTransport"


def queue_policy(queue_arn: str) -> dict[str, Any]:
    """Both queues' resource policy: deny every request that does not come over TLS (encryption in transit)."""
    return {
        "Version": POLICY_VERSION,
        "Id": QUEUE_POLICY_ID,
        "Statement": [
            {
                "Sid": TLS_ONLY_SID,
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def normalize_policy(document: Any) -> Any:
    """A policy document in a canonical form for comparison: JSON text parsed (URL-decoded if needed),
    Statement/Action/Resource as sorted lists, statements sorted. Semantically equal documents compare equal."""
    import json
    from urllib.parse import unquote

    if isinstance(document, str):
        text = document if document.lstrip().startswith("{") else unquote(document)
        try:
            document = json.loads(text)
        except ValueError:
            return document
    if not isinstance(document, dict):
        return document
    statements = []
    for statement in _as_list(document.get("Statement")):
        if not isinstance(statement, dict):
            statements.append(statement)
            continue
        normalized: dict[str, Any] = {}
        for key, value in statement.items():
            if key in ("Action", "NotAction", "Resource", "NotResource"):
                normalized[key] = sorted(str(v) for v in _as_list(value))
            elif key == "Principal" and isinstance(value, dict):
                normalized[key] = {k: sorted(str(v) for v in _as_list(p)) for k, p in value.items()}
            else:
                normalized[key] = value
        statements.append(normalized)
    statements.sort(key=lambda s: json.dumps(s, sort_keys=True, default=str))
    return {**{k: v for k, v in document.items() if k != "Statement"}, "Statement": statements}


def policy_grants(document: dict[str, Any]) -> list[str]:
    """One line per statement: "sqs:A,B on arn...". For the plan's details."""
    lines = []
    for statement in _as_list(document.get("Statement")):
        actions = _as_list(statement.get("Action"))
        service = str(actions[0]).split(":")[0] if actions else "?"
        names = ",".join(str(a).split(":", 1)[-1] for a in actions)
        lines.append(f"{service}:{names} on {' '.join(str(r) for r in _as_list(statement.get('Resource')))}")
    return lines


def write_package(package: FunctionPackage, path: Path) -> None:
    """Write the zip to `path`: a path that cannot be a file is a usage error, a failed write operational."""
    from ..errors import UsageError

    if path.is_dir():
        raise UsageError(f"--zip-only: {path} is a directory; give a file path such as {path / 'function.zip'}")
    if not path.parent.is_dir():
        raise UsageError(f"--zip-only: directory {path.parent} does not exist")
    try:
        path.write_bytes(package.data)
    except OSError as exc:
        raise TxnalertError(f"cannot write {path}: {exc.strerror or exc}") from None
