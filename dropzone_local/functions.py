"""The stack's functions in the local cloud: each one's real handler, loaded from its file
and run in its template environment with a Lambda context and its own collaborator."""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dropzone.aws import ClientSource
from dropzone_local.lambda_context import LambdaContext
from dropzone_local.metrics import MetricsRecorder, capture

_INVOKING: ContextVar[str | None] = ContextVar("dropzone_local_invoking", default=None)


def invoking() -> str | None:
    """The logical id of the function LocalCloud is running right now, None between
    invocations: lets a test or benchmark tell the functions' AWS calls from its own."""
    return _INVOKING.get()


@dataclass
class LocalFunction:
    logical_id: str
    handler_path: Path
    handler_name: str
    environment: dict[str, str]
    sqs_sources: list[tuple[str, int]] = field(default_factory=list)  # (queue URL, batch size)
    stream_sources: list[tuple[str, int]] = field(default_factory=list)  # (stream ARN, batch)
    schedules: list[str] = field(default_factory=list)
    on_failure_queue: str | None = None
    timeout_seconds: int = 3
    memory_mb: int = 128
    _module: ModuleType | None = None

    def module(self) -> ModuleType:
        if self._module is None:
            name = f"dropzone_local_functions.{self.logical_id}_{uuid.uuid4().hex[:8]}"
            spec = importlib.util.spec_from_file_location(name, self.handler_path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {self.handler_path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            self._module = module
        return self._module

    def handler(self) -> Callable[..., Any]:
        return getattr(self.module(), self.handler_name)  # type: ignore[no-any-return]

    def entry(self, client: ClientSource) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The handler and its collaborator (as the keyword argument it takes), built by the
        module's own factory with the given clients: `handler(event, context, x=None)` has
        `default_x(client)`."""
        handler = self.handler()
        name = list(inspect.signature(handler).parameters)[2]
        factory = getattr(self.module(), f"default_{name}")
        return handler, {name: factory(client)}

    def run(
        self,
        event: dict[str, Any],
        client: ClientSource,
        *,
        region: str,
        recorder: MetricsRecorder | None = None,
    ) -> Any:
        """Run the real handler once, in the function's template environment, with a fresh
        Lambda context and the collaborator its factory builds from `client`; the metrics
        it emits go to `recorder`, if given. LocalCloud stands in for CloudWatch, so the
        metrics are always on: where the environment switches them off, their EMF lines
        are recorded but kept off the terminal."""
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled

        token = _INVOKING.set(self.logical_id)
        recorder = recorder if recorder is not None else MetricsRecorder()
        with environment(self.environment):
            echo = not is_metrics_disabled()
        variables = {**self.environment, "POWERTOOLS_METRICS_DISABLED": "false"}
        try:
            with (
                environment(variables),
                _powertools(variables),
                capture(recorder, echo=echo),
            ):
                context = LambdaContext(
                    function_name=self.logical_id,
                    timeout_seconds=self.timeout_seconds,
                    memory_limit_in_mb=self.memory_mb,
                    region=region,
                )
                handler, collaborator = self.entry(client)
                return handler(event, context, **collaborator)
        finally:
            _INVOKING.reset(token)


@contextmanager
def _powertools(variables: dict[str, str]) -> Iterator[None]:
    """The function's Powertools settings on the shared logger and metrics, which read them
    once, when they were built (in Lambda each function has its own process): its log level
    and service name, and its metrics' namespace and service."""
    from dropzone.observability import logger, metrics

    level = variables.get("POWERTOOLS_LOG_LEVEL")
    service = variables.get("POWERTOOLS_SERVICE_NAME")
    namespace = variables.get("POWERTOOLS_METRICS_NAMESPACE")
    previous = (logger.log_level, metrics.namespace, metrics.service)
    if level:
        logger.setLevel(level)
    if service:
        logger.append_keys(service=service)
        metrics.service = service
    if namespace:
        metrics.namespace = namespace
    try:
        yield
    finally:
        metrics.clear_metrics()  # whatever went unflushed: each invocation starts afresh
        logger.setLevel(previous[0])
        metrics.namespace, metrics.service = previous[1], previous[2]


@contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """Set environment variables for a while; then put back what was there before."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
