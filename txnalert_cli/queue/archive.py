"""The drain archive: JSON Lines, one message a line, written by `drain` and read by `replay`.

Writing (`Archive`): append-only, each batch's lines written whole and fsynced before the drain deletes
those messages. Reading (`read_archive`): every line checked before anything is sent; a torn line (a
write cut off when a drain was killed) is recognised wherever it stands, and `--skip-invalid` skips the
bad lines instead of refusing the archive.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InputError, TxnalertError, UsageError, reading
from .sqs import Message, receive_count

ARCHIVE_FIELDS = ("message_id", "body", "attributes", "message_attributes", "receive_count", "queue")
MAX_ARCHIVE_ERRORS = 20
# How every archive line starts (`archive_record`'s first key): a line that starts so, or is cut inside these
# characters, and is not valid JSON is a torn write.
RECORD_START = '{"message_id"'
TORN = (
    "a torn line (a write cut off when a drain was killed); its message was not deleted from the queue, "
    "so dropping it loses nothing"
)
SKIP_HINT = "pass --skip-invalid to replay the other lines"
MAX_LISTED_SKIPS = 20


# --- writing ----------------------------------------------------------------------------------------------


def default_archive_path(queue: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"drained-{queue}-{stamp}.jsonl")


def check_archive_path(path: Path, flag: str = "--to") -> None:
    """A usage error if `path` cannot be an archive; creates nothing (called before any receive)."""
    where = f"{flag} {path}" if flag else str(path)
    if path.is_dir():
        raise UsageError(f"{where}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{where}: directory {str(parent)!r} does not exist")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UsageError(f"{where}: cannot write: permission denied")
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{where}: cannot create a file in {str(parent)!r}: permission denied")


def encode_message_attributes(attributes: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Message attributes as JSON: binary values base64-encoded, the reserved list fields dropped."""
    encoded: dict[str, dict[str, str]] = {}
    for name, value in attributes.items():
        item = {"DataType": str(value.get("DataType", "String"))}
        if "StringValue" in value:
            item["StringValue"] = str(value["StringValue"])
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            item["BinaryValue"] = base64.b64encode(raw if isinstance(raw, bytes) else str(raw).encode()).decode()
        encoded[name] = item
    return encoded


def archive_record(message: Message, queue: str) -> dict[str, Any]:
    """One archive line: what `replay` needs to send the message again, and what an operator reads."""
    return {
        "message_id": message["MessageId"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "message_attributes": encode_message_attributes(message.get("MessageAttributes", {})),
        "receive_count": receive_count(message),
        "queue": queue,
        "drained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


class Archive:
    """An append-only JSON Lines file; `write` returns only once the lines are on disk.

    One writer at a time (a lock around write + fsync of a batch's lines). Each batch is one
    os.write of whole lines, so a kill leaves at most one torn last line, whose messages were not
    deleted. Opening an archive whose last line is torn starts a new line first. `created` says
    whether this archive made the file (so that `remove_if_unused` may delete it).
    """

    def __init__(self, path: Path, fd: int, *, created: bool = False) -> None:
        self.path = path
        self.created = created
        self._fd = fd
        self._lock = threading.Lock()
        self.lines = 0

    @classmethod
    def open(cls, path: Path, flag: str = "--to") -> Archive:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        try:
            try:  # messages hold personal data: 0600
                fd, created = os.open(path, flags | os.O_EXCL, 0o600), True
            except FileExistsError:
                fd, created = os.open(path, flags, 0o600), False
        except OSError as exc:
            raise UsageError(f"{flag} {path}: cannot write: {exc.strerror}") from None
        archive = cls(path, fd, created=created)
        try:
            if not created and path.stat().st_size > 0:
                with path.open("rb") as handle:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        archive._write_all(b"\n")
            os.fsync(fd)
            if created:  # make the new directory entry durable too
                dir_fd = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as exc:
            archive.close()
            raise UsageError(f"{flag} {path}: cannot write: {exc.strerror}") from None
        return archive

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def write(self, records: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
        with self._lock:
            try:
                self._write_all(data.encode("utf-8"))
                os.fsync(self._fd)
            except OSError as exc:
                raise TxnalertError(
                    f"cannot write the archive {self.path}: {exc.strerror}; "
                    "the messages of the batch in hand were not deleted"
                ) from None
            self.lines += len(records)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def remove_if_unused(self) -> bool:
        """Close; delete the file if this archive created it and wrote no line to it (a drain that
        drained nothing leaves no empty file). A file that existed before is never deleted."""
        self.close()
        if not self.created or self.lines:
            return False
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        return True


# --- reading ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchivedMessage:
    message_id: str
    body: str
    attributes: dict[str, Any]  # ready to send (binary values decoded)
    group_id: str | None


def _decode_attributes(value: Any) -> tuple[dict[str, Any], str | None]:
    """Archive message attributes -> sendable ones, or an error."""
    if not isinstance(value, dict):
        return {}, "message_attributes: must be an object"
    out: dict[str, Any] = {}
    for name, item in value.items():
        if not isinstance(item, dict) or not isinstance(item.get("DataType"), str):
            return {}, f"message_attributes.{name}: must be an object with a DataType"
        sendable: dict[str, Any] = {"DataType": item["DataType"]}
        if isinstance(item.get("StringValue"), str):
            sendable["StringValue"] = item["StringValue"]
        elif isinstance(item.get("BinaryValue"), str):
            try:
                sendable["BinaryValue"] = base64.b64decode(item["BinaryValue"], validate=True)
            except (binascii.Error, ValueError):
                return {}, f"message_attributes.{name}.BinaryValue: not valid base64"
        else:
            return {}, f"message_attributes.{name}: needs a StringValue or a BinaryValue"
        out[name] = sendable
    return out, None


def _check_fields(data: Any) -> None:
    """The record's fields and their types; ValueError with the reason when one is bad."""
    if not isinstance(data, dict):
        raise ValueError("must be a JSON object")
    missing = [name for name in ARCHIVE_FIELDS if name not in data]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if not isinstance(data["message_id"], str) or not data["message_id"]:
        raise ValueError("message_id: must be a non-empty string")
    if not isinstance(data["body"], str) or not data["body"]:
        raise ValueError("body: must be a non-empty string")
    if not isinstance(data["attributes"], dict):
        raise ValueError("attributes: must be an object")
    count = data["receive_count"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError("receive_count: must be an integer >= 0")
    if not isinstance(data["queue"], str):
        raise ValueError("queue: must be a string")


def parse_archive_line(line: str, fifo: bool, queue: str) -> ArchivedMessage:
    """One archive line, checked; ValueError with the reason when it is bad."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    _check_fields(data)
    attributes, problem = _decode_attributes(data["message_attributes"])
    if problem:
        raise ValueError(problem)
    group = data["attributes"].get("MessageGroupId")
    if fifo and (not isinstance(group, str) or not group):
        raise ValueError(f"attributes.MessageGroupId: missing, and {queue} is a FIFO queue")
    return ArchivedMessage(data["message_id"], data["body"], attributes, group if fifo else None)


def is_torn(line: str) -> bool:
    """A cut-off archive record: it starts like one (or is cut inside its first key) and is not valid JSON.

    A drain killed mid-write leaves one; the next drain to the same file starts a new line after it, so it
    can stand anywhere in the file. Its messages were never deleted: the drain deletes after the fsync."""
    text = line.strip()
    if not text or not (text.startswith(RECORD_START) or RECORD_START.startswith(text)):
        return False
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


@dataclass
class ArchiveSummary:
    path: str
    messages: int
    duplicates: int
    stream: Callable[[], Iterator[ArchivedMessage]]
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason), the first MAX_LISTED_SKIPS
    skipped_count: int = 0  # invalid lines skipped (--skip-invalid)

    @property
    def skipped_lines(self) -> list[int]:
        return [number for number, _ in self.skipped]

    @property
    def unique(self) -> int:
        """Messages a replay sends: each message id once."""
        return self.messages - self.duplicates


def _lines(path: str) -> Iterator[tuple[int, str, str | None]]:
    """(number, text, problem): each non-blank line; a line that is not UTF-8 comes with its problem."""
    with reading(path), Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                text, problem = raw.decode("utf-8"), None
            except UnicodeDecodeError:
                text = raw.decode("utf-8", errors="replace")
                problem = TORN if is_torn(text) else "not UTF-8 text"
            yield number, text, problem


def _parse(text: str, problem: str | None, fifo: bool, queue: str) -> ArchivedMessage:
    if problem is not None:
        raise ValueError(problem)
    try:
        return parse_archive_line(text, fifo, queue)
    except ValueError:
        if is_torn(text):
            raise ValueError(TORN) from None
        raise


def _refusal(path: str, bad: list[tuple[int, str]], bad_count: int, torn: int) -> InputError:
    """The archive's bad lines, the first MAX_ARCHIVE_ERRORS of them, as one error (nothing is sent)."""
    errors = [
        f"{path}: line {number}: {reason}" + (f": {SKIP_HINT}" if reason == TORN else "")
        for number, reason in bad[:MAX_ARCHIVE_ERRORS]
    ]
    if bad_count > len(errors):
        errors.append(f"{path}: ... and {bad_count - len(errors)} more bad lines")
    last = f"{path}: nothing was sent"
    if bad_count > torn:
        last += "; --skip-invalid sends the valid lines and skips the bad ones (their messages are not sent)"
    return InputError([*errors, last])


def read_archive(path: str, *, fifo: bool, queue: str, skip_invalid: bool = False) -> ArchiveSummary:
    """Check every line of a drain archive first (nothing is sent if one is bad); then stream it.

    A torn line (`is_torn`: a write cut off when a drain was killed, wherever it stands) is named as such:
    its messages are still on the queue, so dropping it loses nothing. With `skip_invalid`, torn and other
    invalid lines are skipped and counted instead, and the rest is sent. Counting repeated message ids keeps
    a set of the ids while checking: one per archive line (about 130 bytes each), freed before the messages
    are streamed."""
    bad: list[tuple[int, str]] = []
    bad_count = torn = 0
    count = 0
    ids: set[str] = set()
    for number, text, problem in _lines(path):
        try:
            message = _parse(text, problem, fifo, queue)
        except ValueError as exc:
            bad_count += 1
            torn += str(exc) == TORN
            if len(bad) < max(MAX_ARCHIVE_ERRORS, MAX_LISTED_SKIPS):
                bad.append((number, str(exc)))
            continue
        count += 1
        ids.add(message.message_id)
    if bad_count and not skip_invalid:
        raise _refusal(path, bad, bad_count, torn)
    if count == 0:
        raise InputError([f"{path}: no messages in the archive" + (" (every line is invalid)" if bad_count else "")])
    duplicates = count - len(ids)
    del ids

    def stream() -> Iterator[ArchivedMessage]:
        for _, text, problem in _lines(path):
            try:
                yield _parse(text, problem, fifo, queue)
            except ValueError:
                if not skip_invalid:
                    raise

    return ArchiveSummary(
        path=path,
        messages=count,
        duplicates=duplicates,
        stream=stream,
        skipped=bad[:MAX_LISTED_SKIPS],
        skipped_count=bad_count,
    )
