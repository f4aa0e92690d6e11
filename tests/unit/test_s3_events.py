from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from dropzone.models.s3_events import ObjectCreatedEvent, candidate_keys
from tests.support.events import load_event


def test_parses_the_eventbridge_event_in_events() -> None:
    body = load_event("sagemaker_submit.json")["Records"][0]["body"]
    source = ObjectCreatedEvent.model_validate_json(body).source_object()
    assert source.bucket == "dropzone-drop"
    assert source.key == "sagemaker-async/churn-model/2026/11/input+0001.json"
    assert source.version_id == "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
    assert source.etag == "b1946ac92492d2347c6235b4d2611184"
    assert source.size == 1048


def test_tolerates_motos_variant_and_unversioned_buckets() -> None:
    moto_shape = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {
            "bucket": {"name": "b"},
            "object": {"key": "k", "size": 5, "eTag": '"abc"', "version-id": "null"},
            "reason": "ObjectCreated",
            "some-new-field": {"nested": True},
        },
    }
    source = ObjectCreatedEvent.model_validate(moto_shape).source_object()
    assert source.etag == "abc"
    assert source.version_id is None


def test_rejects_a_body_that_is_not_an_s3_event() -> None:
    with pytest.raises(ValidationError):
        ObjectCreatedEvent.model_validate_json(json.dumps({"hello": "world"}))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a/b.json", ["a/b.json"]),
        ("a/my+file.json", ["a/my file.json", "a/my+file.json"]),
        ("a/%C3%A9t%C3%A9.json", ["a/été.json", "a/%C3%A9t%C3%A9.json"]),
    ],
)
def test_candidate_keys_try_decoded_then_raw(raw: str, expected: list[str]) -> None:
    assert candidate_keys(raw) == expected
