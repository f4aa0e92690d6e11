"""moto's SQS sends at a lower cost and with the same outcome, for as long as the local
cloud runs (`sqs_sends_reading_what_they_use`).

Each message moto puts in a queue (a SendMessage, and moto's own deliveries from S3, SNS
and EventBridge) asks the queue for its attributes up to three times, to read one of
them: ContentBasedDeduplication. Each time moto computes every attribute, turning each
name into a Python attribute name character by character and counting the queue's
messages three times over. During a send, the queue's attributes here are a read-only
mapping with moto's names, in moto's order, each value computed as moto computes it
when it is read; the rest of the send (its checks, the delay, the FIFO deduplication)
is moto's. Outside a send, the attributes are moto's dict.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_sending = threading.local()  # .queues: the queues a send on this thread is writing to


@contextmanager
def sqs_sends_reading_what_they_use() -> Iterator[None]:
    models = importlib.import_module("moto.sqs.models")
    queue, backend = models.Queue, models.SQSBackend
    attributes, send = vars(queue)["attributes"], vars(backend)["send_message"]

    def read_when_sending(self: Any) -> Any:
        if any(sending is self for sending in getattr(_sending, "queues", ())):
            return QueueAttributes(self)
        return attributes.fget(self)

    def send_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            target = self.get_queue(queue_name)
        except Exception:  # moto's send raises it again, as moto does
            return send(self, queue_name, *args, **kwargs)
        queues: list[Any] = _sending.__dict__.setdefault("queues", [])
        queues.append(target)
        try:
            return send(self, queue_name, *args, **kwargs)
        finally:
            queues.pop()

    queue.attributes = property(read_when_sending)
    backend.send_message = send_message
    try:
        yield
    finally:
        queue.attributes = attributes
        backend.send_message = send


class QueueAttributes(Mapping[str, Any]):
    """A queue's attributes as moto's `Queue.attributes` lists them, each value computed
    from the queue when it is read."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        self._names = names

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        queue = self._queue
        value = getattr(queue, _python_name(name))
        if name == "Policy" and queue.policy:
            value = queue.policy
        elif name == "RedrivePolicy" and queue.redrive_policy:
            value = json.dumps(queue.redrive_policy)
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


_PYTHON_NAMES: dict[str, str] = {}


def _python_name(name: str) -> str:
    """moto's snake-case name for an attribute, worked out once per name."""
    found = _PYTHON_NAMES.get(name)
    if found is None:
        convert = importlib.import_module("moto.core.utils").camelcase_to_underscores
        found = _PYTHON_NAMES[name] = convert(name)
    return found
