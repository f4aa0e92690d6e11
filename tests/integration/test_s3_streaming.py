from __future__ import annotations

import io
import json
from collections.abc import Generator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from dropzone import aws
from dropzone.adapters.s3 import MIN_PART_SIZE, S3, ObjectMissing
from dropzone.workflows.bedrock.jsonl import plan_batch, write_parts
from dropzone.workflows.bedrock.plan import BatchLimits, Part
from tests.support.fixtures import Stack

KEY = "bedrock-batch/amazon.titan-text-express-v1/run-1/input.jsonl"


def _put(stack: Stack, body: bytes, key: str = KEY) -> dict[str, Any]:
    response: dict[str, Any] = stack.s3_client.put_object(
        Bucket=stack.dropzone_bucket, Key=key, Body=body
    )
    return response


def _read(stack: Stack, key: str) -> dict[str, Any]:
    response: dict[str, Any] = stack.s3_client.get_object(Bucket=stack.results_bucket, Key=key)
    return {**response, "Data": response["Body"].read()}


def _pending_uploads(stack: Stack) -> list[Any]:
    uploads: list[Any] = stack.s3_client.list_multipart_uploads(Bucket=stack.results_bucket).get(
        "Uploads", []
    )
    return uploads


def test_chunks_arrive_in_order_and_no_larger_than_asked(stack: Stack) -> None:
    body = bytes(range(256)) * 40
    _put(stack, body)
    chunks = list(stack.s3().iter_chunks(stack.dropzone_bucket, KEY, chunk_size=1000))
    assert b"".join(chunks) == body
    assert [len(chunk) for chunk in chunks] == [1000] * 10 + [240]


def test_chunks_come_from_the_pinned_version(stack: Stack) -> None:
    # Given an object replaced after the version we planned to read
    old = _put(stack, b"old bytes")
    _put(stack, b"new bytes")
    # When it is read by version id
    chunks = stack.s3().iter_chunks(stack.dropzone_bucket, KEY, version_id=old["VersionId"])
    # Then the old bytes come back
    assert b"".join(chunks) == b"old bytes"


def test_a_replaced_object_fails_loudly_when_pinned_by_etag(stack: Stack) -> None:
    old = _put(stack, b"old bytes")
    new = _put(stack, b"new bytes")
    s3 = stack.s3()
    with pytest.raises(ClientError) as raised:
        list(s3.iter_chunks(stack.dropzone_bucket, KEY, etag=old["ETag"].strip('"')))
    assert aws.error_code(raised.value) == "PreconditionFailed"
    current = s3.iter_chunks(stack.dropzone_bucket, KEY, etag=new["ETag"].strip('"'))
    assert b"".join(current) == b"new bytes"


def test_a_missing_object_is_reported_as_missing(stack: Stack) -> None:
    with pytest.raises(ObjectMissing):
        list(stack.s3().iter_chunks(stack.dropzone_bucket, "bedrock-batch/nothing.jsonl"))


def test_get_object_is_pinned_and_the_body_is_closed() -> None:
    # Given a client that expects exactly these requests
    client = boto3.client("s3", region_name="us-east-1")
    by_etag, by_version = io.BytesIO(b"abc"), io.BytesIO(b"defgh")
    with Stubber(client) as stubber:
        stubber.add_response(
            "get_object",
            {"Body": StreamingBody(by_etag, 3)},
            expected_params={"Bucket": "b", "Key": "k", "IfMatch": '"abc123"'},
        )
        stubber.add_response(
            "get_object",
            {"Body": StreamingBody(by_version, 5)},
            expected_params={"Bucket": "b", "Key": "k", "VersionId": "v1"},
        )
        s3 = S3(client)
        # When the first is read to the end, and the second abandoned after one chunk
        assert b"".join(s3.iter_chunks("b", "k", etag="abc123")) == b"abc"
        reading = s3.iter_chunks("b", "k", version_id="v1", etag="ignored", chunk_size=2)
        assert next(reading) == b"de"
        assert isinstance(reading, Generator)
        reading.close()
        stubber.assert_no_pending_responses()
    # Then both bodies are closed
    assert by_etag.closed
    assert by_version.closed


def test_a_small_object_is_one_put(stack: Stack) -> None:
    writer = stack.s3().multipart_writer(stack.results_bucket, "staging/small.jsonl")
    writer.write(b'{"a": 1}\n')
    writer.write(b'{"a": 2}\n')
    writer.close()
    stored = _read(stack, "staging/small.jsonl")
    assert stored["Data"] == b'{"a": 1}\n{"a": 2}\n'
    assert stored["ContentType"] == "application/jsonl"
    assert _pending_uploads(stack) == []


def test_an_empty_object_can_be_written(stack: Stack) -> None:
    writer = stack.s3().multipart_writer(stack.results_bucket, "staging/empty.jsonl")
    writer.close()
    assert _read(stack, "staging/empty.jsonl")["Data"] == b""


def test_a_large_object_is_uploaded_in_parts_as_it_is_written(stack: Stack) -> None:
    # Given a writer with the smallest part size S3 accepts
    writer = stack.s3().multipart_writer(
        stack.results_bucket, "staging/large.jsonl", part_size=MIN_PART_SIZE
    )
    piece = b"x" * (1024**2 - 1) + b"\n"
    # When 11 MiB and a bit are written a MiB at a time
    for _ in range(11):
        writer.write(piece)
    writer.write(b"tail\n")
    # Then two full parts are already uploaded before close
    upload = _pending_uploads(stack)[0]
    parts = stack.s3_client.list_parts(
        Bucket=stack.results_bucket, Key="staging/large.jsonl", UploadId=upload["UploadId"]
    )["Parts"]
    assert [part["Size"] for part in parts] == [MIN_PART_SIZE, MIN_PART_SIZE]
    # And close completes the object from three parts
    writer.close()
    stored = _read(stack, "staging/large.jsonl")
    assert stored["Data"] == piece * 11 + b"tail\n"
    assert stored["ETag"].strip('"').endswith("-3")
    assert stored["ContentType"] == "application/jsonl"
    assert _pending_uploads(stack) == []
    # And aborting a completed object changes nothing
    writer.abort()
    assert _read(stack, "staging/large.jsonl")["Data"] == stored["Data"]


def test_abort_leaves_neither_object_nor_upload(stack: Stack) -> None:
    writer = stack.s3().multipart_writer(
        stack.results_bucket, "staging/aborted.jsonl", part_size=MIN_PART_SIZE
    )
    writer.write(b"x" * (MIN_PART_SIZE + 10))
    assert len(_pending_uploads(stack)) == 1
    writer.abort()
    assert _pending_uploads(stack) == []
    with pytest.raises(ClientError):
        _read(stack, "staging/aborted.jsonl")
    with pytest.raises(ValueError, match="already closed or aborted"):
        writer.write(b"more")


def test_part_size_must_be_one_s3_accepts(stack: Stack) -> None:
    with pytest.raises(ValueError, match="part_size"):
        stack.s3().multipart_writer(stack.results_bucket, "k", part_size=MIN_PART_SIZE - 1)


def test_a_jsonl_object_is_planned_and_split_into_objects(stack: Stack) -> None:
    # Given 250 records dropped in S3, at most 100 per job and at least 20
    lines = [
        json.dumps({"recordId": f"r{i}", "modelInput": {"inputText": f"text {i}"}}).encode() + b"\n"
        for i in range(250)
    ]
    head = _put(stack, b"".join(lines))
    s3 = stack.s3()

    def chunks() -> Any:
        return s3.iter_chunks(
            stack.dropzone_bucket, KEY, version_id=head["VersionId"], chunk_size=1000
        )

    limits = BatchLimits(min_records_per_job=20, max_records_per_job=100)
    # When it is planned and its parts written to the results bucket
    plan = plan_batch(
        chunks(),
        model_id="us.amazon.titan-text-express-v1",
        invocation_type="InvokeModel",
        limits=limits,
    )

    def open_part(part: Part) -> Any:
        return s3.multipart_writer(stack.results_bucket, f"staging/part-{part.index}.jsonl")

    write_parts(chunks(), plan, open_part)
    # Then the three objects hold every record once, in order
    assert [part.records for part in plan.parts] == [100, 100, 50]
    written = [_read(stack, f"staging/part-{part.index}.jsonl")["Data"] for part in plan.parts]
    assert written == [b"".join(lines[:100]), b"".join(lines[100:200]), b"".join(lines[200:])]


def test_a_failed_split_leaves_no_part_behind(stack: Stack) -> None:
    s3 = stack.s3()
    lines = [
        json.dumps({"recordId": f"r{i}", "modelInput": {"inputText": "t"}}).encode() + b"\n"
        for i in range(4)
    ]
    plan = plan_batch(
        [b"".join(lines)],
        model_id="amazon.titan-text-express-v1",
        invocation_type="InvokeModel",
        limits=BatchLimits(min_records_per_job=1, max_records_per_job=2),
    )
    changed = lines[0] + lines[1] + lines[2]

    def open_part(part: Part) -> Any:
        return s3.multipart_writer(stack.results_bucket, f"staging/part-{part.index}.jsonl")

    with pytest.raises(RuntimeError, match="ended before the end of part 2"):
        write_parts([changed], plan, open_part)
    listed = stack.s3_client.list_objects_v2(Bucket=stack.results_bucket, Prefix="staging/")
    assert [item["Key"] for item in listed.get("Contents", [])] == ["staging/part-1.jsonl"]
    assert _pending_uploads(stack) == []
