"""Logger, tracer and metrics: built once, imported everywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class _NoSegment(BaseSegment):
    """What an untraced handler annotates: nothing is kept."""

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass


class Untraced(BaseProvider):
    """The tracer's provider where tracing is off: Powertools' default provider imports the
    X-Ray SDK (and, through it, asyncio and wrapt) even to trace nothing."""

    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(
        self, name: Any = None, **kwargs: Any
    ) -> AsyncIterator[BaseSegment]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass


def tracing_on() -> bool:
    """Whether the tracer traces here: Powertools' own rule (in Lambda, not under SAM CLI or
    Chalice, and POWERTOOLS_TRACE_DISABLED not true)."""
    return not Tracer._is_tracer_disabled()


logger = Logger()
# Only botocore is patched: every AWS call gets its X-Ray subsegment, and the other
# integrations would cost cold-start time for libraries Dropzone does not use. Where tracing
# is off, the X-Ray SDK is not imported at all.
tracer = (
    Tracer(patch_modules=["botocore"])
    if tracing_on()
    else Tracer(patch_modules=["botocore"], provider=Untraced())
)
metrics = Metrics()
