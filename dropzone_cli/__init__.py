"""`dropzone`: the operator CLI (jobs, demo, invoke, doctor, redrive, stop, edge).

Kept light on import: `python -m dropzone_cli.lambda_child` runs through this package,
and a local cold start must not find the function's modules already imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


def main(argv: list[str] | None = None, *, clients: Callable[[str], Any] | None = None) -> int:
    """Run the CLI; returns the exit status. `clients` makes the AWS clients (a boto3
    session's by default)."""
    from dropzone_cli.app import run

    return run(argv, clients=clients)
