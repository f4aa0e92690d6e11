"""SageMaker's SNS notifications as the result function reads them: raw or wrapped in an
SNS envelope, and refused clearly when malformed."""

from __future__ import annotations

import json

import pytest

from dropzone.errors import InvalidInput
from dropzone.models.notifications import parse_sns_delivery
from tests.support.events import load_event


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"Type": "Notification", "Message": "{}"}),
        json.dumps({"inferenceId": "x"}),
    ],
)
def test_malformed_notifications_are_refused_clearly(body: str) -> None:
    with pytest.raises(InvalidInput, match="not a SageMaker async notification"):
        parse_sns_delivery(body)


def test_raw_message_delivery_is_accepted_too() -> None:
    envelope = json.loads(load_event("sagemaker_result.json")["Records"][0]["body"])
    note = parse_sns_delivery(envelope["Message"])
    assert note.invocation_status == "Completed"
