"""Small named exceptions. The CLI maps them (and botocore's) to one-line messages and exit codes.

Exit codes: 2 for usage and config errors, 1 for operational failures, 3 (PENDING_CHANGES) for a dry run with
changes under --detailed-exitcode (the plan's result carries it), and 130 for Ctrl-C (`Interrupted`, or a
result whose `exit_code` says so).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

USAGE = 2
OPERATIONAL = 1
PENDING_CHANGES = 3  # --detailed-exitcode: the plan has changes
INTERRUPTED = 130


class TxnalertError(Exception):
    """Base: a message for the user and an exit code."""

    exit_code = OPERATIONAL
    prefix = "error: "  # how the CLI starts each of its lines on stderr

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def lines(self) -> list[str]:
        return [self.message]


class UsageError(TxnalertError):
    """A bad flag or flag combination."""

    exit_code = USAGE


class Interrupted(TxnalertError):
    """Ctrl-C: the command stopped (after the work in hand, where it says so). Exit 130."""

    exit_code = INTERRUPTED


class Declined(TxnalertError):
    """The answer to a confirmation was no: nothing was changed. Said as it is (not as an error); exit 1."""

    prefix = ""


class ConfigError(TxnalertError):
    """One or more config problems; each is reported on its own line."""

    exit_code = USAGE

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems

    def lines(self) -> list[str]:
        return list(self.problems)


class InputError(ConfigError):
    """Bad input data (a transactions file, an archive, a flag's value): one line per problem, exit 2."""


@contextlib.contextmanager
def reading(path: str) -> Iterator[None]:
    """Reading an input file (transactions, an archive): its errors as one-line InputErrors that name it."""
    try:
        yield
    except FileNotFoundError:
        raise InputError([f"{path}: file not found"]) from None
    except IsADirectoryError:
        raise InputError([f"{path}: is a directory"]) from None
    except UnicodeDecodeError:
        raise InputError([f"{path}: is not UTF-8 text"]) from None
    except OSError as exc:
        raise InputError([f"{path}: cannot read: {exc.strerror}"]) from None


class NoRegion(TxnalertError):
    """Against AWS, no region anywhere: never a silent default."""

    exit_code = USAGE


NO_REGION = "no AWS region: set aws.region, --region or AWS_REGION"


class AccountMismatch(TxnalertError):
    """The credentials are for another account than aws.account_id (checked before any other call)."""

    exit_code = USAGE


class EmulatorError(TxnalertError):
    """The embedded emulator is not running, cannot start, or moto changed under us."""


class EndpointUnreachable(TxnalertError):
    """No answer from the AWS endpoint."""


class CredentialsError(TxnalertError):
    """No credentials in the standard chain, or an unknown profile."""


class AccessDenied(TxnalertError):
    """The credentials are not allowed to do this."""


class QueueNotFound(TxnalertError):
    """A queue named by the config does not exist."""


class ResourceConflict(TxnalertError):
    """What exists cannot become what the config asks for without a destructive change."""


class ApplyError(TxnalertError):
    """A plan failed part-way; `done` lists what was applied before the failure."""

    def __init__(self, message: str, done: list[str], not_done: list[str]) -> None:
        super().__init__(message)
        self.done = done
        self.not_done = not_done

    def lines(self) -> list[str]:
        lines = [self.message]
        if self.done:
            lines.append("done: " + ", ".join(self.done))
        if self.not_done:
            lines.append("not done: " + ", ".join(self.not_done))
        lines.append("run the same command again to continue")
        return lines


class AwsCallFailed(TxnalertError):
    """Any other AWS error."""


_DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "AuthFailure",
}


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def from_botocore(exc: BaseException, endpoint: str | None = None) -> TxnalertError | None:
    """Translate a botocore exception into a named txnalert error; None if it is not botocore's."""
    module = type(exc).__module__ or ""
    if not module.startswith("botocore"):
        return None
    from botocore import exceptions as bex

    where = endpoint or "AWS"
    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
        return CredentialsError(
            "no AWS credentials found in the standard chain (environment, ~/.aws, SSO, instance role): "
            "configure one, or pass --profile"
        )
    if isinstance(exc, bex.ProfileNotFound):
        return CredentialsError(f"{exc}: check aws.profile or --profile", exit_code=USAGE)
    if isinstance(exc, bex.EndpointConnectionError | bex.ConnectTimeoutError | bex.ConnectionClosedError):
        url = str(getattr(exc, "kwargs", {}).get("endpoint_url") or where).rstrip("/")
        kind = "timed out" if isinstance(exc, bex.ConnectTimeoutError) else "connection failed"
        hint = ""
        if "127.0.0.1" in url or "localhost" in url:
            hint = "; is the emulator running? (`txnalert local up`)"
        return EndpointUnreachable(f"cannot reach {url}: {kind}{hint}")
    if isinstance(exc, bex.ReadTimeoutError):
        return EndpointUnreachable(f"{where} did not answer in time: {exc}")
    if isinstance(exc, bex.ClientError):
        code = error_code(exc)
        operation = getattr(exc, "operation_name", "call")
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        if code in _DENIED_CODES:
            return AccessDenied(f"access denied for {operation} ({code}): {message}")
        return AwsCallFailed(f"{operation} failed ({code or 'error'}): {message}")
    if isinstance(exc, bex.NoRegionError):
        return NoRegion(NO_REGION)
    return AwsCallFailed(f"AWS call failed: {exc}")
