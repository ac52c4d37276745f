"""AWS clients: one boto3 session per command, the same code path for AWS and the emulator.

Only `endpoint_url` differs between real AWS and an emulator. Credentials come from the standard chain;
the one exception is a loopback endpoint (the emulator, a local moto or LocalStack) when the chain has
none: emulators accept any key, so fixed dummy keys are used there and never sent anywhere else.
"""

from __future__ import annotations

import functools
import ipaddress
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from .config import Config

if TYPE_CHECKING:
    import boto3

# Fail fast on an endpoint that does not answer; the `standard` retry mode retries throttling and
# transient errors with backoff. Reads allow SQS long polling (ReceiveMessage waits up to 20 s).
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 40
MAX_ATTEMPTS = 3
DUMMY_KEY = "txnalert-local"


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
        from .emulator import local_url

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
    return core


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
        return self.config.aws.region

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
            self._session = session
        return self._session

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
            if service not in self._clients:
                from botocore.config import Config as BotoConfig

                boto_config = BotoConfig(
                    connect_timeout=CONNECT_TIMEOUT,
                    read_timeout=READ_TIMEOUT,
                    retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
                    max_pool_connections=self.max_pool_connections,
                )
                self._clients[service] = self.session.client(
                    service, endpoint_url=self.endpoint_url, config=boto_config
                )
            return self._clients[service]
