"""The embedded AWS emulator: moto's server, started by txnalert, with four moto problems fixed (`moto_fixes`).

Two ways to run it:
- in-process, on a thread and a free loopback port (`start_in_thread`), for `txnalert demo` and the tests;
- detached, in its own process (`txnalert local up`), its pid and port kept in a per-user state file.

`python -m txnalert_cli.local.emulator --port N` is the detached process's entry point.
Importing this module does not import moto (`txnalert --help` and `local status` import it); starting a server
does (`_moto_server`).
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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import EmulatorError
from ..state import DEFAULT_PORT, LOOPBACK, EmulatorStatus, answers, pid_alive, state_dir, state_file, status


def _moto_server(port: int) -> Any:
    """moto's ThreadedMotoServer on a loopback port (0: a free one), the four fixes applied; not started."""
    from .moto_fixes import fixed_server  # lazy: it imports moto, which only a starting emulator may import

    return fixed_server(LOOPBACK, port)


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
    server = _moto_server(port)
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
    state_file().write_text(json.dumps(state))
    return status(), True


def down(timeout: float = 10.0) -> EmulatorStatus:
    """Stop the detached emulator; returns what was stopped (running=False if nothing was)."""
    current = status()
    if current.pid is None:
        return current
    with contextlib.suppress(ProcessLookupError):
        os.kill(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(current.pid):
        time.sleep(0.05)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(current.pid, os.WNOHANG)
    if pid_alive(current.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(current.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        state_file().unlink()
    return current


def _serve(port: int) -> None:
    """Entry point of the detached process: serve until SIGTERM."""
    _quiet_request_log()
    server = _moto_server(port)
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
