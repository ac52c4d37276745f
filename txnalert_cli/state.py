"""Where the detached emulator runs (`txnalert local up`): its per-user state file, read by `local status` and by
`endpoint_url: local` (aws.py), written by `local up`. Standard library only, below aws.py."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EmulatorError

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 4566


def state_dir() -> Path:
    """Per-user state directory: $TXNALERT_STATE_DIR, else $XDG_STATE_HOME/txnalert, else ~/.local/state."""
    explicit = os.environ.get("TXNALERT_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "txnalert"


def state_file() -> Path:
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


def pid_alive(pid: int) -> bool:
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
    path = state_file()
    try:
        state = json.loads(path.read_text())
        pid, port = int(state["pid"]), int(state["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return EmulatorStatus(running=False)
    url = f"http://{LOOPBACK}:{port}"
    if not pid_alive(pid):
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
