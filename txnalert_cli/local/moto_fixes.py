"""The four moto problems txnalert's emulator fixes, each in one small function that fails loudly (EmulatorError)
when a moto upgrade changes what it relies on. `apply_moto_fixes` applies them once per process.

This module imports moto: only the emulator imports it, when it starts a server (`emulator.start_in_thread`, the
detached `local up` process), so that `txnalert --help`, `local status` and the rest never import moto.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from collections.abc import Iterator
from typing import Any

import moto.sqs.models as sqs_models
from moto.moto_api._internal.models import moto_api_backend
from moto.server import ThreadedMotoServer
from moto.sqs.models import Queue, SQSBackend
from moto.utilities.docker_utilities import DockerModel

from ..errors import EmulatorError

# The moto minor version whose internals the four fixes below rely on (pyproject pins it too).
MOTO_MINOR = "5.2"

_fixes_applied = False


def fix_lambda_without_docker() -> None:
    """Fix 1: run Lambda without Docker.

    There is no Docker engine where txnalert runs offline. moto must be told through its own config
    (the same call that `POST /moto-api/config` makes) *before* any function exists: switching later
    makes existing functions vanish from the backend.
    """
    moto_api_backend.set_config({"lambda": {"use_docker": False}})


def fix_docker_client_property() -> None:
    """Fix 2: keep `GET /moto-api/data.json` working once a Lambda function exists.

    data.json serialises every public attribute of every model instance and skips the ones whose
    getattr raises TypeError/AttributeError/ValueError. A LambdaFunction's `docker_client` property
    calls `docker.from_env()`, which raises DockerException (no engine) or ImportError, so the whole
    endpoint answers HTTP 500. We wrap the property so that it raises AttributeError instead: the
    failure moto already tolerates. With a working Docker engine the property behaves as before.
    """
    original = DockerModel.__dict__.get("docker_client")
    if not isinstance(original, property) or original.fget is None:
        raise EmulatorError("moto changed: DockerModel.docker_client is no longer a property; review emulator fix 2")
    if getattr(original.fget, "_txnalert_fixed", False):
        return
    fget = original.fget

    def docker_client(self: Any) -> Any:
        try:
            return fget(self)
        except AttributeError:
            raise
        except Exception as exc:  # DockerException, ImportError, connection errors
            raise AttributeError(f"docker_client unavailable: {exc}") from exc

    docker_client._txnalert_fixed = True  # type: ignore[attr-defined]
    DockerModel.docker_client = property(docker_client)  # type: ignore[method-assign,assignment]


def fix_sqs_clock() -> None:
    """Fix 3: make moto's SQS clock cheap.

    `moto.sqs.models.unix_time_millis` builds naive datetimes and subtracts the epoch; SQS calls it for
    every message on every call (visibility and delay checks while counting), so each call costs
    O(queue depth). `time.time() * 1000` is the same instant (seconds since the epoch, UTC) at a
    fraction of the cost. Calls with an explicit datetime keep the original code.
    """
    original = getattr(sqs_models, "unix_time_millis", None)
    if original is None or not callable(original):
        raise EmulatorError("moto changed: moto.sqs.models.unix_time_millis is gone; review emulator fix 3")
    if getattr(original, "_txnalert_fixed", False):
        return

    def unix_time_millis(dt: Any = None) -> float:
        if dt is None:
            return time.time() * 1000.0
        return float(original(dt))

    unix_time_millis._txnalert_fixed = True  # type: ignore[attr-defined]
    sqs_models.unix_time_millis = unix_time_millis


# Fix 4: one lock for moto's SQS state (every account and region), re-entrant (a batch call runs the single
# calls under it; sending to a queue with an enabled Lambda trigger receives from it inside the send).
SQS_LOCK = threading.RLock()
_sqs_lock_depth = threading.local()
# The SQSBackend methods fix 4 runs under the lock, whole (they never wait).
SQS_LOCKED_METHODS = (
    "send_message",
    "send_message_batch",
    "delete_message",
    "delete_message_batch",
    "change_message_visibility",
    "change_message_visibility_batch",
    "purge_queue",
)
# The parameters fix 4 passes to SQSBackend.receive_message by name and position.
SQS_RECEIVE_PARAMS = (
    "self",
    "queue_name",
    "count",
    "wait_seconds_timeout",
    "visibility_timeout",
    "message_attribute_names",
)
# A long poll waits at most this long at a time for a new message, as moto's own loop does (a message
# whose visibility timeout ends wakes nobody).
LONG_POLL_STEP = 1.0
# ... and this long when the queue has visible messages it cannot hand out (a FIFO group in flight).
LONG_POLL_BUSY_PAUSE = 0.05


@contextlib.contextmanager
def sqs_locked() -> Iterator[None]:
    """Hold fix 4's lock (re-entrant), counting the depth per thread."""
    with SQS_LOCK:
        _sqs_lock_depth.value = getattr(_sqs_lock_depth, "value", 0) + 1
        try:
            yield
        finally:
            _sqs_lock_depth.value -= 1


def _under_sqs_lock(original: Any) -> Any:
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with sqs_locked():
            return original(self, *args, **kwargs)

    locked.__name__ = original.__name__
    locked.__qualname__ = original.__qualname__
    locked.__doc__ = original.__doc__
    locked.__wrapped__ = original  # type: ignore[attr-defined]
    locked._txnalert_fixed = True  # type: ignore[attr-defined]
    return locked


def _receive_outside_the_wait(original: Any) -> Any:
    """ReceiveMessage as a loop of non-blocking attempts under the lock, waiting between them without it."""

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        if getattr(_sqs_lock_depth, "value", 0):
            # Called with the lock held (moto's Lambda trigger polls inside a send): never wait holding it.
            return original(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
        deadline = time.monotonic() + int(wait_seconds_timeout or 0)
        while True:
            with sqs_locked():
                messages = original(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            queue = self.get_queue(queue_name)
            if queue.messages:  # visible, but not for us (a FIFO group in flight): no wake-up will come
                time.sleep(min(LONG_POLL_BUSY_PAUSE, remaining))
            else:
                queue.wait_for_messages(min(LONG_POLL_STEP, remaining))  # woken by a send to this queue

    receive_message.__qualname__ = original.__qualname__
    receive_message.__doc__ = original.__doc__
    receive_message.__wrapped__ = original  # type: ignore[attr-defined]
    receive_message._txnalert_fixed = True  # type: ignore[attr-defined]
    return receive_message


def fix_sqs_thread_safety() -> None:
    """Fix 4: make moto's SQS backend safe for concurrent calls.

    The server answers each request on its own thread, and moto's SQS keeps no lock: two concurrent
    DeleteMessageBatch calls each rebuild the queue's message list from the same snapshot and lose each
    other's deletes (the messages come back after their visibility timeout), and two concurrent receives
    can hand one message to both. Real SQS has neither race. Every call that changes messages (send,
    receive, delete, change visibility, purge) now runs under one re-entrant lock. ReceiveMessage's long
    poll is moto's loop inside the backend: here each attempt runs under the lock with no wait, and the
    wait between attempts (on the queue's own condition, which a send notifies) holds no lock, so a long
    poll never blocks a send, a delete or another queue.
    """
    for name in (*SQS_LOCKED_METHODS, "receive_message"):
        if not callable(getattr(SQSBackend, name, None)):
            raise EmulatorError(f"moto changed: SQSBackend.{name} is gone; review emulator fix 4")
    receive = SQSBackend.receive_message
    if getattr(receive, "_txnalert_fixed", False):
        return
    if tuple(inspect.signature(receive).parameters) != SQS_RECEIVE_PARAMS:
        raise EmulatorError(
            "moto changed: SQSBackend.receive_message no longer takes "
            f"({', '.join(SQS_RECEIVE_PARAMS)}); review emulator fix 4"
        )
    if not callable(getattr(Queue, "wait_for_messages", None)) or not isinstance(
        inspect.getattr_static(Queue, "messages", None), property
    ):
        raise EmulatorError(
            "moto changed: sqs Queue.wait_for_messages or Queue.messages is gone; review emulator fix 4"
        )
    for name in SQS_LOCKED_METHODS:
        setattr(SQSBackend, name, _under_sqs_lock(getattr(SQSBackend, name)))
    SQSBackend.receive_message = _receive_outside_the_wait(receive)  # type: ignore[method-assign]


def apply_moto_fixes() -> None:
    """Apply the four fixes once per process, before the server handles its first request."""
    global _fixes_applied
    if _fixes_applied:
        return
    fix_lambda_without_docker()
    fix_docker_client_property()
    fix_sqs_clock()
    fix_sqs_thread_safety()
    _fixes_applied = True


def fixed_server(host: str, port: int) -> ThreadedMotoServer:
    """moto's ThreadedMotoServer on host:port (0: a free port), the fixes applied first; not started."""
    apply_moto_fixes()
    return ThreadedMotoServer(ip_address=host, port=port, verbose=False)
