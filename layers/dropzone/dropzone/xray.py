"""The tracer's provider: X-Ray subsegments sent straight to the X-Ray daemon.

Powertools' default provider is the X-Ray SDK, whose import (asyncio and wrapt with it) was
the largest share of a function's cold start after pydantic. Dropzone needs a part of it: a
subsegment per traced handler, one per AWS call, annotations, metadata, exceptions, and the
trace header passed on to the services it calls. This provider does that with the standard
library. Each subsegment is sent when it closes, as a document of its own in the trace that
Lambda names in _X_AMZN_TRACE_ID, to the daemon at AWS_XRAY_DAEMON_ADDRESS. Where tracing is
off, nothing is patched, built or sent; in an invocation that is not sampled, botocore's
calls go through the patch but nothing is built or sent.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from dropzone.xray_documents import (
    DAEMON_ADDRESS_ENV,
    TRACE_HEADER_ENV,
    Subsegment,
    TraceContext,
    encode,
    parse_daemon_address,
    parse_trace_header,
)

_log = logging.getLogger(__name__)
PATCHABLE = ("botocore",)


class NoSegment(BaseSegment):
    """What an untraced or unsampled invocation annotates: nothing is kept."""

    def close(self, end_time: float | None = None) -> None:
        """Nothing to close."""

    def add_subsegment(self, subsegment: Any) -> None:
        """Nothing is kept."""

    def remove_subsegment(self, subsegment: Any) -> None:
        """Nothing is kept."""

    def put_annotation(self, key: str, value: Any) -> None:
        """Nothing is kept."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Nothing is kept."""

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        """Nothing is kept."""


class DaemonSender:
    """Fire-and-forget UDP datagrams to the daemon, as the X-Ray SDK sends them: a send that
    fails is logged at debug level and never fails the invocation."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self._socket: socket.socket | None = None

    def __call__(self, datagram: bytes) -> None:
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(datagram, self.address)
        except OSError as err:
            _log.debug("X-Ray subsegment not sent to %s:%s: %s", *self.address, err)


def _drop(datagram: bytes) -> None:
    """Where datagrams go when the daemon's address is not one."""


class XRayDaemon(BaseProvider):
    """Powertools' tracer provider. `enabled` is whether tracing is on here (Powertools'
    rule, dropzone.observability.tracing_on); `send` takes each datagram (the daemon by
    default); `environ` holds the trace header, read per subsegment since Lambda sets it
    per invocation."""

    def __init__(
        self,
        enabled: bool,
        send: Callable[[bytes], None] | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.enabled = enabled
        self._environ = environ
        self._send = send
        self._open: ContextVar[tuple[Subsegment, ...]] = ContextVar("xray_open", default=())
        self._unpatch: list[Callable[[], None]] = []

    @property
    def send(self) -> Callable[[bytes], None]:
        """The daemon's sender; an address that is not one is logged once as an error, and
        nothing is sent: tracing never fails an invocation."""
        if self._send is None:
            try:
                address = parse_daemon_address(self._environ.get(DAEMON_ADDRESS_ENV))
            except ValueError as err:
                _log.error("X-Ray subsegments are not sent: %s", err)
                self._send = _drop
            else:
                self._send = DaemonSender(address)
        return self._send

    def current(self) -> Subsegment | None:
        """The innermost open subsegment of the current trace, if any."""
        return self._current(parse_trace_header(self._environ.get(TRACE_HEADER_ENV)))

    def _current(self, trace: TraceContext | None) -> Subsegment | None:
        open_now = self._open.get()
        if trace is None or not open_now or open_now[-1].trace_id != trace.root:
            return None
        return open_now[-1]

    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Iterator[BaseSegment]:
        trace = parse_trace_header(self._environ.get(TRACE_HEADER_ENV)) if self.enabled else None
        if trace is None or not trace.sampled:
            yield NoSegment()
            return
        parent = self.current()
        subsegment = Subsegment(
            str(name or "subsegment"),
            trace.root,
            parent.id if parent is not None else trace.parent,
            kwargs.get("namespace"),
        )
        token = self._open.set((*self._open.get(), subsegment))
        try:
            yield subsegment
        except BaseException as err:
            if subsegment.cause is None:
                subsegment.add_exception(err)
            raise
        finally:
            self._open.reset(token)
            subsegment.close()
            self._send_closed(subsegment)

    def _send_closed(self, subsegment: Subsegment) -> None:
        """Sends it; whatever goes wrong is logged and the subsegment dropped, so that
        tracing never fails an invocation nor hides the error that ended it."""
        try:
            datagram = encode(subsegment.document())
            if datagram is None:
                _log.warning("X-Ray subsegment %r not sent: too large", subsegment.name)
            else:
                self.send(datagram)
        except Exception as err:
            _log.warning("X-Ray subsegment %r not sent: %s", subsegment.name, type(err).__name__)

    @asynccontextmanager
    async def in_subsegment_async(
        self, name: Any = None, **kwargs: Any
    ) -> AsyncIterator[BaseSegment]:
        with self.in_subsegment(name, **kwargs) as subsegment:
            yield subsegment

    def put_annotation(self, key: str, value: Any) -> None:
        current = self.current()
        if current is not None:
            current.put_annotation(key, value)

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        current = self.current()
        if current is not None:
            current.put_metadata(key, value, namespace)

    def patch(self, modules: Sequence[str]) -> None:
        unknown = sorted(set(modules) - set(PATCHABLE))
        if unknown:
            raise ValueError(f"cannot trace {', '.join(unknown)}: only {', '.join(PATCHABLE)}")
        if self.enabled and not self._unpatch:
            from dropzone.xray_botocore import patch_botocore

            self._unpatch.append(patch_botocore(self))

    def patch_all(self) -> None:
        self.patch(PATCHABLE)

    def unpatch(self) -> None:
        """Undoes patch(): botocore's own methods again."""
        while self._unpatch:
            self._unpatch.pop()()

    def trace_header(self) -> str | None:
        """The header for a request made inside the current subsegment: the invocation's
        trace, this subsegment as the parent, and the header's other fields passed on."""
        trace = parse_trace_header(self._environ.get(TRACE_HEADER_ENV))
        current = self._current(trace)
        if trace is None or current is None:
            return None
        return trace.header_for(current.id)
