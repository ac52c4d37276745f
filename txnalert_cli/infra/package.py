"""The function's deployment zip, deterministic.

The handler package (every .py under txnalert_cli/handler) goes in at the top level as `txnalert_handler/`; it
imports only relatively, so the rename is safe, and the function's Handler is
`txnalert_handler.app.lambda_handler`. Powertools is vendored from the installed distribution (listed by
`importlib.metadata`, `__pycache__`/.pyc skipped, data files such as `py.typed` kept) with its required
runtime dependencies that the Lambda Python runtime does not provide (boto3/botocore and theirs, jmespath
included, are in the runtime; typing_extensions is not). With `lambda.powertools_layer` set, Powertools
comes from that layer and the zip holds the handler only.

The zip is deterministic: entries sorted, every timestamp 1980-01-01 00:00, mode 0644, one compression
level, no directory entries. The same inputs give the same bytes, so the SHA-256 decides whether the
function's code must be uploaded (Lambda's `CodeSha256` is the base64 SHA-256 of the zip).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .. import handler as handler_package
from ..config import Config
from ..errors import TxnalertError, UsageError

HANDLER_PACKAGE = "txnalert_handler"
HANDLER_ENTRY = f"{HANDLER_PACKAGE}.app.lambda_handler"
POWERTOOLS_DISTRIBUTION = "aws-lambda-powertools"
# Distributions every Lambda Python runtime provides (the AWS SDK and its dependencies): never vendored.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"})
# Installer bookkeeping in a .dist-info directory: not part of what the package needs, and machine specific.
_DIST_INFO_SKIPPED = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644  # regular file, rw-r--r--
ZIP_LEVEL = 6  # zlib's default: level 9 saves 0.4 % for 30 % more time


class PackageError(TxnalertError):
    """The function's zip cannot be built from what is installed."""


# --- the zip --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionPackage:
    """The function's deployment zip: its bytes, the files in it and the distributions vendored."""

    data: bytes
    files: tuple[str, ...]
    vendored: tuple[str, ...] = ()  # "name version" of each vendored distribution
    layers: tuple[str, ...] = ()  # layer ARNs the code expects (Powertools from a layer)
    handler: str = HANDLER_ENTRY

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def code_sha256(self) -> str:
        """What Lambda reports as the function's CodeSha256: the base64 SHA-256 of the zip."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode("ascii")

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "sha256": self.sha256,
            "code_sha256": self.code_sha256,
            "handler": self.handler,
            "files": len(self.files),
            "vendored": list(self.vendored),
            "layers": list(self.layers),
        }


def _canonical(name: str) -> str:
    """A distribution name normalised as PEP 503 does."""
    return re.sub(r"[-_.]+", "-", name).lower()


def handler_files() -> dict[str, Path]:
    """Every .py of the handler package, keyed by its path in the zip."""
    root = Path(handler_package.__file__).parent
    files = {
        str(PurePosixPath(HANDLER_PACKAGE, *path.relative_to(root).parts)): path
        for path in root.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    if f"{HANDLER_PACKAGE}/app.py" not in files:
        raise PackageError(f"the handler package at {root} has no app.py")
    return files


def _runtime_requirements(dist: importlib.metadata.Distribution) -> list[str]:
    """The names of the distributions `dist` requires at run time (extras' requirements excluded).

    Requirements with other environment markers (python_version, ...) are kept: vendoring a module the
    runtime would not use costs a few kilobytes; missing one breaks the function."""
    names = []
    for requirement in dist.requires or []:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if match:
            names.append(match.group(1))
    return names


def vendored_distributions(root: str = POWERTOOLS_DISTRIBUTION) -> list[importlib.metadata.Distribution]:
    """`root` and, transitively, its runtime requirements that the Lambda runtime lacks, sorted by name."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [root]
    while pending:
        name = _canonical(pending.pop())
        if name in found or name in RUNTIME_PROVIDED:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise PackageError(
                f"{name} is not installed, and the function needs it: install it (it is a txnalert dependency)"
            ) from None
        found[name] = dist
        pending.extend(_runtime_requirements(dist))
    return [found[name] for name in sorted(found)]


def distribution_files(dist: importlib.metadata.Distribution) -> dict[str, Path]:
    """An installed distribution's files, keyed by their path relative to site-packages (= in the zip)."""
    listed = dist.files
    name = dist.metadata["Name"]
    if listed is None:
        raise PackageError(f"cannot list the files of the installed {name} (no RECORD): reinstall it")
    files: dict[str, Path] = {}
    for entry in listed:
        parts = PurePosixPath(str(entry)).parts
        if not parts or parts[0] == ".." or "__pycache__" in parts or entry.suffix == ".pyc":
            continue  # scripts outside site-packages, bytecode
        if parts[0].endswith(".dist-info") and parts[-1] in _DIST_INFO_SKIPPED:
            continue
        path = Path(str(dist.locate_file(entry)))
        if not path.is_file():
            raise PackageError(f"{name}: {entry} is listed but missing at {path}: reinstall {name}")
        files[str(PurePosixPath(*parts))] = path
    return files


# Zips built in this process, by a digest of their contents: the build is deterministic, so the same
# files give the same bytes, and compressing a megabyte again (a tenth of a second) is not needed when one
# process plans twice (setup then deploy in the demo, the tests). A few entries: a few MB at most.
_ZIP_CACHE: OrderedDict[bytes, bytes] = OrderedDict()
_ZIP_CACHE_SIZE = 4
_ZIP_CACHE_LOCK = threading.Lock()


def build_zip(files: Mapping[str, bytes]) -> bytes:
    """A deterministic zip of `files` (path in the zip -> content)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        encoded = name.encode()
        digest.update(len(encoded).to_bytes(4, "big") + encoded + len(files[name]).to_bytes(8, "big"))
        digest.update(files[name])
    key = digest.digest()
    with _ZIP_CACHE_LOCK:
        cached = _ZIP_CACHE.get(key)
        if cached is not None:
            _ZIP_CACHE.move_to_end(key)
            return cached
    data = _build_zip(files)
    with _ZIP_CACHE_LOCK:
        _ZIP_CACHE[key] = data
        while len(_ZIP_CACHE) > _ZIP_CACHE_SIZE:
            _ZIP_CACHE.popitem(last=False)
    return data


def _build_zip(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so external_attr means a mode on every platform
            info.external_attr = ZIP_FILE_MODE << 16
            archive.writestr(info, files[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL)
    return buffer.getvalue()


def build_package(config: Config, extra_files: Mapping[str, bytes] | None = None) -> FunctionPackage:
    """The function's zip for `config`: the handler package, plus Powertools unless it comes from a layer.

    `extra_files` (path in the zip -> content) are added as they are; a path already taken is an error."""
    sources: dict[str, Path] = dict(handler_files())
    vendored: list[str] = []
    layer = config.lambda_.powertools_layer
    if layer is None:
        for dist in vendored_distributions():
            vendored.append(f"{dist.metadata['Name']} {dist.version}")
            for name, path in distribution_files(dist).items():
                if name in sources:
                    raise PackageError(f"{name} would be in the zip twice ({path} and {sources[name]})")
                sources[name] = path
    contents = {name: path.read_bytes() for name, path in sources.items()}
    for name, data in (extra_files or {}).items():
        if name in contents:
            raise PackageError(f"{name} is already in the zip")
        contents[name] = data
    return FunctionPackage(
        data=build_zip(contents),
        files=tuple(sorted(contents)),
        vendored=tuple(vendored),
        layers=(layer,) if layer else (),
    )


def write_package(package: FunctionPackage, path: Path) -> None:
    """Write the zip to `path`: a path that cannot be a file is a usage error, a failed write operational."""
    if path.is_dir():
        raise UsageError(f"--zip-only: {path} is a directory; give a file path such as {path / 'function.zip'}")
    if not path.parent.is_dir():
        raise UsageError(f"--zip-only: directory {path.parent} does not exist")
    try:
        path.write_bytes(package.data)
    except OSError as exc:
        raise TxnalertError(f"cannot write {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class ZipResult:
    """`deploy --zip-only`: the zip written, no AWS call."""

    path: Path
    package: FunctionPackage
    exit_code: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), **self.package.as_dict()}


def zip_only(config: Config, path: Path, *, dry_run: bool = False) -> ZipResult:
    """Build the function's zip for `config` and write it to `path` (`deploy --zip-only`)."""
    package = build_package(config)
    if dry_run:
        raise UsageError("--zip-only and --dry-run: --zip-only makes no AWS call; drop --dry-run")
    write_package(package, path)
    return ZipResult(path, package)
