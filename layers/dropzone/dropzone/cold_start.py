"""The cyclic garbage collector during a cold start.

What a function's init builds (boto3's sessions and service models, Powertools, pydantic and
every module) lives as long as the execution environment does, so the collector finds no
garbage among it; yet each of its collections walks every object tracked so far, and a
collection of the oldest generation walks all of them. Init allocates enough to trigger
dozens of collections.

In a Lambda execution environment (`AWS_EXECUTION_ENV` names a Lambda runtime), importing
`dropzone` pauses the collector (`hold`). The first call of a handler wrapped in `released`
moves everything init built into the permanent generation (`gc.freeze`), where no
collection looks again, and resumes the collector before the event is handled: the first
event's garbage, like any later event's, is collected as usual. Cycles left unreachable
during init itself are frozen with the rest and never freed: about 500 objects, the same in
every function, left by the libraries' imports (a collection at that point would cost as
much as the pause saves). Anywhere else (tests, the CLI, LocalCloud) nothing changes.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable
from typing import Any, TypeVar

LAMBDA_RUNTIME_PREFIX = "AWS_Lambda_"  # AWS_EXECUTION_ENV in Lambda's runtimes and images

Handler = TypeVar("Handler", bound=Callable[..., Any])

_held = False


def in_lambda(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether this process is a Lambda execution environment (or a Lambda runtime image,
    as `sam local invoke` runs it)."""
    return environ.get("AWS_EXECUTION_ENV", "").startswith(LAMBDA_RUNTIME_PREFIX)


def hold() -> bool:
    """Pause the collector until the first event, if this is Lambda and it runs; whether
    it was paused here."""
    global _held
    if _held or not in_lambda() or not gc.isenabled():
        return False
    gc.disable()
    _held = True
    return True


def release() -> None:
    """Freeze what init built and resume the collector, once; nothing if `hold` did not
    pause it."""
    global _held
    if not _held:
        return
    _held = False
    gc.freeze()
    gc.enable()


def released(handler: Handler) -> Handler:
    """Wrap a Lambda handler: its first call ends the cold start's hold (`release`)."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _held:
            release()
        return handler(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
