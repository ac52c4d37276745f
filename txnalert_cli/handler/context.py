"""The Lambda context, for running the handler outside Lambda: the one definition (the local worker,
`txnalert invoke`, the tests). Standard library only.

Powertools idempotency uses get_remaining_time_in_millis() to expire an in-progress record of an invocation
that died, so a crashed worker does not block a transaction until the record's TTL; the handler's start
margin reads it too.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field


@dataclass
class LambdaContext:
    """What Lambda passes as `context`: function name, ARN, memory, request id, log names, remaining time."""

    function_name: str = "txnalert-local"
    timeout_seconds: float = 30.0
    region: str = "us-east-1"
    account_id: str = "000000000000"
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(init=False, repr=False, default=0.0)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
