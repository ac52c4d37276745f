"""The shape every queue and local command's library call shares, besides the config and its options: how it
connects, where it reports progress and notes while it runs, how it asks before a destructive step, and the
check of a flag's range its options run when they are made.

The CLI passes its own (`Ctx.target` or `Ctx.aws`, a progress bar, its `Output`, its `Ctx`); other callers
(tests, demo) pass an `Aws` through `using`, and nothing for the rest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol

from ..aws import Aws
from ..errors import UsageError

Advance = Callable[[int], None]  # n more items done


class Connect(Protocol):
    """The command's AWS clients, made when the library call is ready for its first AWS call: after its local
    checks (a bad flag or file is reported before anything else happens), with a connection pool of at least
    `max_pool_connections` (one per thread that shares a client). The CLI passes `Ctx.target` or `Ctx.aws`."""

    def __call__(self, max_pool_connections: int = ...) -> Aws: ...


class Ask(Protocol):
    """Asks before a destructive step (the CLI's `Ctx`)."""

    def can_ask(self) -> bool:
        """Whether there is someone to ask (a terminal)."""
        ...

    def where(self) -> str:
        """The target, for a question: "account ****9012 in us-east-1"."""
        ...

    def confirm(self, *, yes: bool, what: str, question: str, declined: str) -> None:
        """Returns when the answer is yes (or `yes`); raises when it is no, or nobody can be asked."""
        ...


class Progress(Protocol):
    """Starts a progress display of `total` items; yields the function that advances it (None: nothing shown)."""

    def __call__(self, total: int, label: str) -> AbstractContextManager[Advance | None]: ...


class Notes(Protocol):
    """Messages for people that are not the result (the CLI's `Output`: stderr)."""

    def info(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...


@contextlib.contextmanager
def no_progress(total: int, label: str) -> Iterator[Advance | None]:
    yield None


class Silent:
    """Notes nobody reads."""

    def info(self, text: str) -> None:
        pass

    def warn(self, text: str) -> None:
        pass


SILENT = Silent()


def using(aws: Aws) -> Connect:
    """A `Connect` for an `Aws` that exists: its pool grows to what is asked for (before its first client)."""

    def connect(max_pool_connections: int = 10) -> Aws:
        aws.max_pool_connections = max(aws.max_pool_connections, max_pool_connections)
        return aws

    return connect


def check_range(flag: str, value: float | None, lo: float, hi: float | None = None) -> None:
    """A usage error naming `flag` when `value` (if given) is below `lo` or outside lo..hi."""
    if value is None:
        return
    shown = int(value) if float(value).is_integer() else value
    if hi is None and value < lo:
        raise UsageError(f"{flag} must be at least {lo}, got {shown}")
    if hi is not None and not lo <= value <= hi:
        raise UsageError(f"{flag} must be between {lo} and {hi}, got {shown}")
