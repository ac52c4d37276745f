"""The embedded AWS emulator: moto's server, started by txnalert, with four moto problems fixed.

Two ways to run it:
- in-process, on a thread and a free loopback port (`start_in_thread`), for `txnalert demo` and the tests;
- detached, in its own process (`txnalert local up`), its pid and port kept in a per-user state file.

`python -m txnalert_cli.local.emulator --port N` is the detached process's entry point.
Importing this module does not import moto; `apply_moto_fixes()` does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EmulatorError

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 4566
# The moto minor version whose internals the four fixes below rely on (pyproject pins it too).
MOTO_MINOR = "5.2"

_fixes_applied = False


# --- the four moto fixes --------------------------------------------------------------------------


def fix_lambda_without_docker() -> None:
    """Fix 1: run Lambda without Docker.

    There is no Docker engine where txnalert runs offline. moto must be told through its own config
    (the same call that `POST /moto-api/config` makes) *before* any function exists: switching later
    makes existing functions vanish from the backend.
    """
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.set_config({"lambda": {"use_docker": False}})


def fix_docker_client_property() -> None:
    """Fix 2: keep `GET /moto-api/data.json` working once a Lambda function exists.

    data.json serialises every public attribute of every model instance and skips the ones whose
    getattr raises TypeError/AttributeError/ValueError. A LambdaFunction's `docker_client` property
    calls `docker.from_env()`, which raises DockerException (no engine) or ImportError, so the whole
    endpoint answers HTTP 500. We wrap the property so that it raises AttributeError instead: the
    failure moto already tolerates. With a working Docker engine the property behaves as before.
    """
    from moto.utilities.docker_utilities import DockerModel

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
    import moto.sqs.models as sqs_models

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
    import inspect

    from moto.sqs.models import Queue, SQSBackend

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


# --- in-process emulator --------------------------------------------------------------------------


@dataclass
class InProcessEmulator:
    """moto's ThreadedMotoServer on a loopback port, with the fixes applied."""

    server: Any
    url: str

    def stop(self) -> None:
        self.server.stop()

    def reset(self) -> None:
        """Forget every resource. moto's state is per process: another in-process server shares it."""
        import urllib.request  # lazy: see answers()

        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - our own loopback server
            resp.read()


def _quiet_request_log(level: int = logging.WARNING) -> None:
    """No line per request from werkzeug: the emulator's callers print what matters.

    In-process, moto's tracebacks for actions it does not implement (answered as HTTP 500, which the
    caller reports) would land on the user's terminal: there the level is CRITICAL."""
    logging.getLogger("werkzeug").setLevel(level)


def start_in_thread(port: int = 0) -> InProcessEmulator:
    """Start the emulator on a thread; port 0 picks a free port."""
    _quiet_request_log(logging.CRITICAL)
    apply_moto_fixes()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return InProcessEmulator(server=server, url=f"http://{host}:{bound}")


@contextlib.contextmanager
def running_in_thread(port: int = 0) -> Iterator[InProcessEmulator]:
    emulator = start_in_thread(port)
    try:
        yield emulator
    finally:
        emulator.stop()


# --- detached emulator (`txnalert local up|status|down`) -----------------------------------------


def state_dir() -> Path:
    """Per-user state directory: $TXNALERT_STATE_DIR, else $XDG_STATE_HOME/txnalert, else ~/.local/state."""
    explicit = os.environ.get("TXNALERT_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "txnalert"


def _state_file() -> Path:
    return state_dir() / "emulator.json"


@dataclass
class EmulatorStatus:
    running: bool
    pid: int | None = None
    port: int | None = None
    url: str | None = None
    log: str | None = None
    started_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "pid": self.pid,
            "port": self.port,
            "url": self.url,
            "log": self.log,
            "started_at": self.started_at,
        }


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when a moto server answers at url (its /moto-api/config endpoint)."""
    # lazy: urllib.request (http.client, email, ssl) is most of this module's import time, and `txnalert --help`
    # imports this module (cli/local.py: DEFAULT_PORT)
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/moto-api/config", timeout=timeout) as resp:  # noqa: S310
            return bool(200 <= resp.status < 300)  # moto answers GET /moto-api/config with 201
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # Linux: make sure the pid was not reused by something else
        with contextlib.suppress(OSError):
            return b"txnalert_cli.local.emulator" in cmdline.read_bytes()
    return True


def status() -> EmulatorStatus:
    """What the state file says, checked against the process and the port."""
    path = _state_file()
    try:
        state = json.loads(path.read_text())
        pid, port = int(state["pid"]), int(state["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return EmulatorStatus(running=False)
    url = f"http://{LOOPBACK}:{port}"
    if not _pid_alive(pid):
        with contextlib.suppress(OSError):
            path.unlink()
        return EmulatorStatus(running=False)
    return EmulatorStatus(
        running=answers(url),
        pid=pid,
        port=port,
        url=url,
        log=state.get("log"),
        started_at=state.get("started_at"),
    )


def local_url() -> str:
    """The running detached emulator's URL (what `endpoint_url: local` means)."""
    current = status()
    if not current.running or current.url is None:
        raise EmulatorError("the txnalert emulator is not running: run `txnalert local up`")
    return current.url


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def up(port: int = DEFAULT_PORT, timeout: float = 30.0) -> tuple[EmulatorStatus, bool]:
    """Start the detached emulator; returns (status, started). A running one is reported, not doubled."""
    current = status()
    if current.running:
        return current, False
    if current.pid is not None:
        raise EmulatorError(
            f"an emulator process (pid {current.pid}) exists but does not answer on port {current.port}: "
            "run `txnalert local down` first"
        )
    if not 1 <= port <= 65535:
        raise EmulatorError(f"--port must be between 1 and 65535, got {port}", exit_code=2)
    if not _port_free(port):
        raise EmulatorError(f"port {port} on {LOOPBACK} is in use: pick another with --port")
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "emulator.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "txnalert_cli.local.emulator", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: survives the terminal and Ctrl-C of the caller
            close_fds=True,
        )
    url = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise EmulatorError(f"the emulator exited at start (code {proc.returncode}); see {log_path}")
            if answers(url, timeout=0.5):
                break
            time.sleep(0.1)
        else:
            raise EmulatorError(f"the emulator did not answer on {url} within {timeout:.0f} s; see {log_path}")
    except BaseException:  # no answer, or Ctrl-C: leave no orphan server without a state file
        if proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        raise
    state = {"pid": proc.pid, "port": port, "log": str(log_path), "started_at": time.time()}
    _state_file().write_text(json.dumps(state))
    return status(), True


def down(timeout: float = 10.0) -> EmulatorStatus:
    """Stop the detached emulator; returns what was stopped (running=False if nothing was)."""
    current = status()
    if current.pid is None:
        return current
    with contextlib.suppress(ProcessLookupError):
        os.kill(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(current.pid):
        time.sleep(0.05)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(current.pid, os.WNOHANG)
    if _pid_alive(current.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(current.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        _state_file().unlink()
    return current


def _serve(port: int) -> None:
    """Entry point of the detached process: serve until SIGTERM."""
    _quiet_request_log()
    apply_moto_fixes()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    stopping = False

    def _stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"txnalert emulator (moto) listening on http://{LOOPBACK}:{port}", flush=True)
    while not stopping:
        time.sleep(0.2)
    server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="txnalert's embedded AWS emulator (moto server)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    _serve(parser.parse_args().port)
