"""What every command shares: errors, project settings, AWS clients, output helpers."""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

# The source checkout this package lives in (dropzone_cli/common.py).
SOURCE_ROOT = Path(__file__).resolve().parents[1]


class CliError(Exception):
    """A problem the operator can fix: printed as one line, never as a traceback."""

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` (the working directory) holding
    template.yaml or samconfig.toml; the source checkout when there is none."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "samconfig.toml").is_file() or (directory / "template.yaml").is_file():
            return directory
    return SOURCE_ROOT


@dataclass(frozen=True)
class SamConfig:
    """The `stack_name` and `region` of one samconfig.toml environment."""

    stack_name: str | None = None
    region: str | None = None

    @classmethod
    def load(cls, path: Path, environment: str = "default") -> SamConfig:
        if not path.is_file():
            return cls()
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise CliError(f"{path}: not readable as TOML: {error}") from error
        section = document.get(environment)
        if section is None:
            if environment == "default":
                return cls()
            raise CliError(f"{path}: no [{environment}] environment (--config-env)")
        values: dict[str, Any] = {}
        # sam reads a command's own parameters over the global ones; the CLI deploys
        # nothing, so deploy's view of the stack is the one that matters.
        for command in ("global", "deploy"):
            values.update(section.get(command, {}).get("parameters", {}))
        stack = values.get("stack_name")
        region = values.get("region")
        return cls(stack_name=str(stack) if stack else None, region=str(region) if region else None)


ClientFactory = Callable[[str], Any]


@dataclass
class Target:
    """Where remote commands act: a stack in a region, and how to get clients for it."""

    stack_name: str
    region: str | None
    make_client: ClientFactory
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.make_client(service)
        return self._clients[service]


def boto3_clients(region: str | None, profile: str | None = None) -> ClientFactory:
    """Real clients with the project's retry policy, in `region` (or boto3's default), with
    the credentials of `profile` (or boto3's default chain)."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    from dropzone.aws import RETRY_CONFIG

    try:
        session = boto3.Session(region_name=region, profile_name=profile)
    except ProfileNotFound as error:
        raise CliError(f"--profile {profile}: {error}") from error

    def make(service: str) -> Any:
        return session.client(service, config=RETRY_CONFIG)  # type: ignore[call-overload]

    return make


def read_json_file(path: str, *, what: str) -> Any:
    """JSON from a file (`-` reads standard input), or a CliError naming the file."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(f"{what} {path}: {error.strerror or error}") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(
            f"{what} {path}: not JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from error


def print_json(value: Any, stream: TextIO | None = None) -> None:
    print(json.dumps(value, indent=2, sort_keys=False, default=str), file=stream or sys.stdout)


def print_table(
    header: Sequence[str], rows: Iterable[Sequence[str]], stream: TextIO | None = None
) -> None:
    cells = [list(header), *[list(row) for row in rows]]
    widths = [max(len(row[index]) for row in cells) for index in range(len(header))]
    out = stream or sys.stdout
    for number, row in enumerate(cells):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(line.rstrip(), file=out)
        if number == 0:
            print("  ".join("-" * width for width in widths), file=out)


def aws_error_message(error: Exception) -> str:
    """A one-line account of a botocore error."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        detail = response.get("Error", {})
        operation = getattr(error, "operation_name", "") or "request"
        return f"{operation}: {detail.get('Code', 'Error')}: {detail.get('Message', '')}".rstrip(
            ": "
        )
    return str(error)
