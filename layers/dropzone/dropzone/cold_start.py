"""The cyclic garbage collector during a cold start.

What a function's init builds (boto3's sessions and service models, Powertools, pydantic and
every module) lives as long as the execution environment does, so the collector finds
little garbage among it; yet each of its collections walks every object tracked so far, and
a collection of the oldest generation walks all of them. Init allocates enough to trigger
over a hundred collections.

In a Lambda execution environment (`AWS_EXECUTION_ENV` names a Lambda runtime), importing
`dropzone` pauses the collector (`hold`). The first call of a handler wrapped in `released`
moves everything tracked so far into the permanent generation (`gc.freeze`), where no
collection looks again, and resumes the collector before the event is handled: the first
event's garbage, like any later event's, is collected as usual. Frozen objects are still
freed by reference counting (the runtime's first event and context, for example). Cycles
left unreachable during init are frozen with the rest and never freed: several hundred
objects (500 to 700 measured on Python 3.11, under 200 KB), mostly throwaway classes from
the libraries' imports; a collection at that point would cost as much as the pause saves.
The pause happens once per process: once anything is frozen, importing `dropzone` again
changes nothing. Anywhere else (tests, the CLI, LocalCloud) nothing changes.
"""

from __future__ import annotations

import functools
import gc
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

LAMBDA_RUNTIME_PREFIX = "AWS_Lambda_"  # AWS_EXECUTION_ENV in Lambda's runtimes and images

Handler = TypeVar("Handler", bound=Callable[..., Any])

_held = False
_releasing = threading.Lock()


def in_lambda(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether this process is a Lambda execution environment (or a Lambda runtime image,
    as `sam local invoke` runs it)."""
    return environ.get("AWS_EXECUTION_ENV", "").startswith(LAMBDA_RUNTIME_PREFIX)


def hold() -> bool:
    """Pause the collector until the first event, if this is Lambda, the collector runs and
    nothing was frozen yet; whether it was paused here."""
    global _held
    if _held or not in_lambda() or not gc.isenabled() or gc.get_freeze_count():
        return False
    gc.disable()
    _held = True
    return True


def release() -> None:
    """Freeze what init built and resume the collector, once; nothing if `hold` did not
    pause it. A handler called from several threads at once: one release, before any of
    their events."""
    global _held
    with _releasing:
        if not _held:
            return
        gc.freeze()
        gc.enable()
        _held = False


def released(handler: Handler) -> Handler:
    """Wrap a Lambda handler: its first call ends the cold start's hold (`release`)."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _held:
            release()
        return handler(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
