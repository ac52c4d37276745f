"""AWS clients: one boto3 session per command, the same code path for AWS and the emulator.

Only `endpoint_url` differs between real AWS and an emulator. Credentials come from the standard chain;
the one exception is a loopback endpoint (the emulator, a local moto or LocalStack) when the chain has
none: emulators accept any key, so fixed dummy keys are used there and never sent anywhere else.

The region is resolved once, when an `Aws` is built: --region (already in the config), aws.region,
$AWS_REGION, $AWS_DEFAULT_REGION, the profile's region. Against AWS with none of these it is an error,
never a silent default; with an endpoint override (the emulator, moto, LocalStack) us-east-1.

With `aws.account_id` set, the session's first call is sts:GetCallerIdentity, and credentials for
another account stop everything before any other call (`AccountMismatch`).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from .config import Config, _check_region, check_region_fits
from .errors import NO_REGION, AccountMismatch, ConfigError, NoRegion, error_code
from .state import local_url

if TYPE_CHECKING:
    import boto3

# Fail fast on an endpoint that does not answer; the `standard` retry mode retries throttling and
# transient errors with backoff. Reads allow SQS long polling (ReceiveMessage waits up to 20 s).
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 40
MAX_ATTEMPTS = 3
DUMMY_KEY = "txnalert-local"
EMULATOR_REGION = "us-east-1"  # the region with an endpoint override and no region set
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
UNKNOWN = "unknown"
# The error codes with which SQS says "no such queue".
QUEUE_NOT_FOUND_CODES = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")

# botocore event handlers, as (event name, handler), registered on every session txnalert creates: a seam
# for tests (count requests, route them to a moto server, inject faults). Empty in normal use.
SESSION_HOOKS: list[tuple[str, Callable[..., Any]]] = []


def is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_endpoint(config: Config) -> str | None:
    """The endpoint URL to pass to boto3: None (real AWS, or AWS_ENDPOINT_URL as boto3 reads it),
    the running emulator for "local", or the URL given."""
    value = config.aws.endpoint_url
    if value == "local":
        return local_url()
    return value or None


@functools.lru_cache(maxsize=1)
def _data_loader() -> Any:
    """botocore's loader of service models, shared by every session of this process: it caches what it
    has read, so the second client of a service (another command in the same process: demo, the tests)
    does not parse its JSON model again."""
    from botocore.loaders import create_loader

    return create_loader()


def _botocore_session() -> Any:
    import botocore.session

    core = botocore.session.Session()
    core.register_component("data_loader", _data_loader())
    for event, handler in SESSION_HOOKS:
        core.register(event, handler)
    return core


def env_endpoint_override() -> str | None:
    """$AWS_ENDPOINT_URL, which boto3 sends every service to (unless $AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).

    $AWS_ENDPOINT_URL_<SERVICE> alone is not an override of the whole command: the other services still go
    to AWS."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() == "true":
        return None
    return os.environ.get("AWS_ENDPOINT_URL") or None


def resolve_region(config: Config, *, endpoint_override: bool, emulator: bool) -> str:
    """The one region of a command (see the module's docstring); raises NoRegion (exit 2) against AWS."""
    if config.aws.region:
        return config.aws.region
    for var in REGION_ENV:
        value = os.environ.get(var, "").strip()
        if value:
            problems: list[str] = []
            _check_region(value, f"${var}", problems)
            if problems:
                raise ConfigError(problems)
            return value
    if not emulator:  # the emulator's session reads no profile
        region = _profile_region(config.aws.profile, tolerant=endpoint_override)
        if region:
            return region
    if endpoint_override:
        return EMULATOR_REGION
    raise NoRegion(NO_REGION)


def _profile_region(profile: str | None, *, tolerant: bool) -> str | None:
    """The region of the profile (aws.profile, else $AWS_PROFILE, else default) in the AWS config file."""
    from botocore.exceptions import ProfileNotFound

    core = _botocore_session()
    if profile:
        core.set_config_variable("profile", profile)
    try:
        region = core.get_config_variable("region")
    except ProfileNotFound:
        if tolerant:  # an emulator needs no profile; the session says so later if it does need one
            return None
        raise
    if not region:
        return None
    problems: list[str] = []
    _check_region(region, "the profile's region", problems)
    if problems:
        raise ConfigError(problems)
    return str(region)


@dataclass
class Aws:
    """A boto3 session and its clients for one config; clients are created once and shared."""

    config: Config
    endpoint_url: str | None = None
    max_pool_connections: int = 10
    emulator: bool = False  # our own emulator: always the dummy keys, whatever the chain holds
    _session: Any = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _region: str = field(default="", init=False)
    _account: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._region = resolve_region(
            self.config, endpoint_override=self.endpoint_override is not None, emulator=self.emulator
        )
        check_region_fits(self.config, self._region)  # a config error, before any call

    @classmethod
    def from_config(cls, config: Config, *, max_pool_connections: int = 10) -> Aws:
        return cls(
            config=config,
            endpoint_url=resolve_endpoint(config),
            max_pool_connections=max_pool_connections,
            emulator=config.aws.endpoint_url == "local",
        )

    @property
    def region(self) -> str:
        """The resolved region: every ARN, record and check of the command uses this one."""
        return self._region

    @property
    def endpoint_override(self) -> str | None:
        """Where every call goes instead of AWS's own endpoints: the explicit endpoint, else
        $AWS_ENDPOINT_URL; None: against AWS."""
        return self.endpoint_url or env_endpoint_override()

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            import boto3

            session = None
            if not self.emulator:
                session = boto3.Session(
                    botocore_session=_botocore_session(), profile_name=self.config.aws.profile, region_name=self.region
                )
            if session is None or (session.get_credentials() is None and is_loopback(self.effective_endpoint())):
                # The emulator needs no AWS config at all: $AWS_PROFILE naming a missing profile must not
                # break it, so this session does not read the profile from the environment.
                core = _botocore_session()
                core.session_var_map["profile"] = (None, None, None, None)
                session = boto3.Session(
                    botocore_session=core,
                    aws_access_key_id=DUMMY_KEY,
                    aws_secret_access_key=DUMMY_KEY,
                    region_name=self.region,
                )
            self._check_account(session)
            self._session = session
        return self._session

    def _check_account(self, session: Any) -> None:
        """With aws.account_id set: sts:GetCallerIdentity first, and nothing else unless it matches."""
        expected = self.config.aws.account_id
        if expected is None:
            return
        sts = self._new_client(session, "sts")
        actual = str(sts.get_caller_identity()["Account"])
        if actual != expected:
            from .handler.contract import mask_account

            raise AccountMismatch(
                f"the credentials are for account {mask_account(actual)}, but aws.account_id is "
                f"{mask_account(expected)}: nothing was changed"
            )
        self._clients["sts"] = sts
        self._account = actual

    def check_account(self) -> None:
        """Run the account guard now (it runs anyway before the first call): for commands to fail early."""
        if self.config.aws.account_id is not None:
            with self._lock:
                _ = self.session

    def caller_account(self) -> str:
        """The account id of the credentials (STS GetCallerIdentity, once per Aws; moto: 123456789012)."""
        if self._account is None:
            self._account = str(self.client("sts").get_caller_identity()["Account"])
        return self._account

    def target(self) -> dict[str, str]:
        """What a command works on: the account (masked; "unknown" when the credentials may not read it),
        the region, the endpoint ("AWS", or where the calls go) and the config file."""
        from botocore.exceptions import ClientError

        from .handler.contract import mask_account

        try:
            account = mask_account(self.caller_account())
        except ClientError:
            account = UNKNOWN
        return {
            "account": account,
            "region": self.region,
            "endpoint": self.endpoint_override or "AWS",
            "config": self.config.source,
        }

    def effective_endpoint(self, service: str = "sqs") -> str | None:
        """Where calls go: the explicit endpoint, else what boto3 reads from AWS_ENDPOINT_URL[_<SERVICE>]."""
        if self.endpoint_url:
            return self.endpoint_url
        import os

        return os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL")

    @property
    def is_local(self) -> bool:
        """The emulator, or any emulator on loopback (moto, LocalStack): no real Lambda runs there."""
        return self.emulator or is_loopback(self.effective_endpoint())

    def describe_endpoint(self, service: str = "sqs") -> str:
        return self.effective_endpoint(service) or f"AWS {service} in {self.region}"

    def client(self, service: str) -> Any:
        with self._lock:
            session = self.session  # first: with aws.account_id set, the guard runs here
            if service not in self._clients:
                self._clients[service] = self._new_client(session, service)
            return self._clients[service]

    def _new_client(self, session: Any, service: str) -> Any:
        from botocore.config import Config as BotoConfig

        boto_config = BotoConfig(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            max_pool_connections=self.max_pool_connections,
        )
        return session.client(service, endpoint_url=self.endpoint_url, config=boto_config)


def find_queue_url(sqs: Any, name: str) -> str | None:
    """The queue's URL; None when it does not exist. (Shared by queue/ and infra/: one home, here below both.)"""
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except Exception as exc:
        if error_code(exc) in QUEUE_NOT_FOUND_CODES:
            return None
        raise
