"""moto's EventBridge input templating, at a lower cost and with the same deliveries, for
as long as the local cloud runs (`jsonpath_compiled_once`).

Before moto hands an event to a target (an SQS queue, a log group, another bus), it fills
the target's input template (`moto.events.utils.EventTemplateParser.parse`): it compiles
each JSONPath of the input paths map with `jsonpath_ng.ext.parse`, eight of them for the
default template, and reads each from the event. `parse` builds a new ply lexer and parser
at every call, so compiling the same eight paths again costs several milliseconds per
delivery, more than the rest of the delivery: every S3 upload the drop-zone rule routes and
every status event Dropzone publishes pays it. Compiling is a pure function of the path's
text, and the compiled path is only read (`find`), so the compiled paths are kept, by text,
while the local cloud runs. moto imports `parse` from `jsonpath_ng.ext` at each call, so it
finds the kept compilation there.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator
from contextlib import contextmanager

COMPILED_PATHS = 256  # distinct JSONPath texts kept (least recently used dropped)


@contextmanager
def jsonpath_compiled_once() -> Iterator[None]:
    """`jsonpath_ng.ext.parse` memoised by its arguments; the original back on exit."""
    namespace = vars(importlib.import_module("jsonpath_ng.ext"))
    original = namespace["parse"]
    namespace["parse"] = functools.lru_cache(maxsize=COMPILED_PATHS)(original)
    try:
        yield
    finally:
        namespace["parse"] = original
