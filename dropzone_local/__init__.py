"""Local stand-ins for AWS: fakes for services moto lacks, checked against botocore's models.

Nothing here runs in Lambda; it backs the tests, `make demo` and the local cloud.
`from dropzone_local import LocalCloud` is the public harness (see
docs/local-development/localcloud.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dropzone_local.cloud import LocalCloud

__all__ = ["LocalCloud"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `dropzone_local.<fake>` stays light.
    if name == "LocalCloud":
        from dropzone_local.cloud import LocalCloud

        return LocalCloud
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
