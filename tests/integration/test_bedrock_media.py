"""Multimodal records that name their media by s3Location (Amazon Nova's images, videos and
documents): the media are staged in the job's own input folder, beside the records, and a
record may name only objects of its own upload's folder."""

from __future__ import annotations

import json
from typing import Any

from dropzone.models.jobs import JobStatus
from dropzone.sqs_batch import SqsMessage
from tests.support.bedrock import BedrockWorld, world
from tests.support.fixtures import Stack

NOVA = "amazon.nova-lite-v1:0"
FOLDER = f"bedrock-batch/{NOVA}/photos/"


def nova(index: int, uri: str) -> dict[str, Any]:
    image = {"format": "jpeg", "source": {"s3Location": {"uri": uri, "bucketOwner": "111"}}}
    content = [{"image": image}, {"text": f"describe photo {index}"}]
    return {
        "recordId": f"p{index}",
        "modelInput": {"messages": [{"role": "user", "content": content}]},
    }


def _drop(w: BedrockWorld, count: int, uri_of: Any) -> str:
    for index in range(count):
        w.stack.s3_client.put_object(
            Bucket=w.stack.dropzone_bucket, Key=f"{FOLDER}img/{index}.jpg", Body=b"\xff\xd8jpeg"
        )
    body = "".join(json.dumps(nova(index, uri_of(index))) + "\n" for index in range(count))
    return w.submitter().submit(w.upload(f"{FOLDER}in.jsonl", body.encode())).job_id


def _own(w: BedrockWorld, index: int) -> str:
    return f"s3://{w.stack.dropzone_bucket}/{FOLDER}img/{index}.jpg"


def test_media_are_staged_beside_the_records_and_the_job_reads_them(stack: Stack) -> None:
    w = world(stack, min_records_per_job=5)
    upload_id = _drop(w, 6, lambda index: _own(w, index))
    upload = w.ledger.get(upload_id)
    assert upload is not None and upload.status is JobStatus.SUBMITTED
    (part_id,) = upload.children
    part = w.ledger.get(part_id)
    assert part is not None
    folder = part.options["input_uri"].rsplit("/", 1)[0] + "/"
    bucket, prefix = folder[5:].split("/", 1)
    keys = {
        item["Key"][len(prefix) :]
        for item in w.stack.s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    }
    assert keys == {"in.jsonl", *(f"media/img/{index}.jpg" for index in range(6))}
    staged = w.stack.s3_client.get_object(Bucket=bucket, Key=f"{prefix}in.jsonl")["Body"].read()
    first = json.loads(staged.splitlines()[0])["modelInput"]["messages"][0]["content"][0]
    assert first["image"]["source"]["s3Location"] == {"uri": f"{folder}media/img/0.jpg"}
    final = w.run_to_end(upload_id)
    assert final.status is JobStatus.SUCCEEDED  # Bedrock found every image in its folder


def test_a_retry_round_gets_the_media_in_its_own_folder(stack: Stack) -> None:
    from dropzone_local.record_faults import Fault, RecordFaults

    # Given a record the model throttles on every run
    faults = RecordFaults(
        {lambda model_input: "photo 1" in json.dumps(model_input): Fault.throttling(times=None)}
    )
    w = world(stack, faults=faults, min_records_per_job=1, record_retries=1)
    upload_id = _drop(w, 3, lambda index: _own(w, index))
    final = w.run_to_end(upload_id)
    # Then its retry round's job read the image from its own folder, and failed only for
    # the throttling
    round_job = w.ledger.get(f"{upload_id}-r1-p001")
    assert round_job is not None
    folder = round_job.options["input_uri"].rsplit("/", 1)[0] + "/"
    staged = json.loads(
        w.stack.s3_client.get_object(
            Bucket=folder[5:].split("/", 1)[0],
            Key=round_job.options["input_uri"][5:].split("/", 1)[1],
        )["Body"].read()
    )
    image = staged["modelInput"]["messages"][0]["content"][0]["image"]
    assert image["source"]["s3Location"]["uri"] == f"{folder}media/img/1.jpg"
    (failed,) = [line for line in w.result_lines(upload_id) if "error" in line]
    assert failed["error"]["code"] == 429 and failed["error"]["attempts"] == 2
    assert final.counts["retry_rounds"] == 1


def test_a_record_naming_an_object_outside_its_folder_is_rejected(stack: Stack) -> None:
    w = world(stack, min_records_per_job=1)
    outside = f"s3://{w.stack.dropzone_bucket}/sagemaker-async/model/secret.jpg"
    upload_id = _drop(w, 2, lambda index: outside if index == 1 else _own(w, index))
    job = w.ledger.get(upload_id)
    assert job is not None and job.status is JobStatus.REJECTED
    assert job.message == (
        "line 2: modelInput.messages[0].content[0].image.source.s3Location.uri names an object "
        "outside this upload's folder: a record's media must sit beside its file, under "
        f"s3://{w.stack.dropzone_bucket}/{FOLDER}"
    )
    assert w.fake.create_calls == []


def test_a_record_naming_a_missing_object_is_rejected(stack: Stack) -> None:
    w = world(stack, min_records_per_job=1)
    missing = f"s3://{w.stack.dropzone_bucket}/{FOLDER}img/nowhere.jpg"
    upload_id = _drop(w, 2, lambda index: missing if index == 0 else _own(w, index))
    job = w.ledger.get(upload_id)
    assert job is not None and job.status is JobStatus.REJECTED
    assert job.message is not None and "img/nowhere.jpg, which does not exist" in job.message


def test_a_media_object_dropped_beside_the_records_is_not_an_upload(stack: Stack) -> None:
    w = world(stack)
    event = {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {
            "bucket": {"name": w.stack.dropzone_bucket},
            "object": {"key": f"{FOLDER}img/7.jpg", "size": 4, "etag": "e", "version-id": "v"},
        },
    }
    w.submitter().handle_record(SqsMessage("m", json.dumps(event), 1))
    assert w.stack.dynamodb.scan(TableName=w.stack.table_name)["Count"] == 0
