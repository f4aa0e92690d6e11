from __future__ import annotations

import pytest

from dropzone.batch import SqsMessage, process_sqs_batch
from tests.support.events import load_event


def _event(*bodies: str) -> dict[str, object]:
    template = load_event("sagemaker_submit.json")["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = dict(template, messageId=f"m-{index}", body=body)
        record["attributes"] = {**template["attributes"], "ApproximateReceiveCount": str(index + 1)}
        records.append(record)
    return {"Records": records}


def test_only_the_messages_that_raised_are_reported() -> None:
    seen: list[SqsMessage] = []

    def handle(message: SqsMessage) -> None:
        seen.append(message)
        if message.body == "bad":
            raise ValueError("nope")

    result = process_sqs_batch(_event("ok", "bad", "ok", "bad"), handle)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}
    assert [m.receive_count for m in seen] == [1, 2, 3, 4]


def test_an_empty_batch_reports_nothing() -> None:
    assert process_sqs_batch({"Records": []}, lambda _m: None) == {"batchItemFailures": []}


@pytest.mark.parametrize("attributes", [{}, None])
def test_missing_receive_count_defaults_to_one(attributes: object) -> None:
    record = {"messageId": "x", "body": "b", "attributes": attributes}
    assert SqsMessage.from_record(record).receive_count == 1
