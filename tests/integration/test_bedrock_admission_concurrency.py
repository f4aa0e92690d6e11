"""200 jobs for one model, admitted from many threads while jobs finish at random."""

from __future__ import annotations

import json
import random
import threading
import time
import traceback
from typing import Any

import pytest

from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.sqs_batch import SqsMessage
from tests.support.bedrock import MODEL, jsonl, world
from tests.support.fixtures import Stack

JOBS = int(__import__("os").environ.get("DZ_JOBS", "200"))
LIMIT = 10


@pytest.mark.usefixtures("atomic_dynamodb")
def test_never_more_than_n_in_flight_and_every_job_submitted_exactly_once(stack: Stack) -> None:
    w = world(stack, max_jobs_per_model=LIMIT)
    # Given 200 queued jobs sharing one small staged input
    stack.s3_client.put_object(Bucket=stack.results_bucket, Key="staged/in.jsonl", Body=jsonl(100))
    ledger = w.ledger
    for index in range(JOBS):
        ledger.create(
            Job(
                job_id=f"dz-load-{index:04d}",
                kind=JobKind.BEDROCK_BATCH,
                status=JobStatus.QUEUED,
                source=SourceObject(bucket=stack.dropzone_bucket, key=f"in/{index}.jsonl"),
                target=MODEL,
                options={
                    "input_uri": f"s3://{stack.results_bucket}/staged/in.jsonl",
                    "invocation_type": "InvokeModel",
                    "timeout_hours": 24,
                },
                created_at="",
                updated_at="",
            ),
        )
    # And a service that records how many jobs per model it holds in flight at each create
    peak = {"in_flight": 0}
    create = w.fake.create_model_invocation_job

    def create_and_measure(**params: Any) -> dict[str, Any]:
        response = create(**params)
        peak["in_flight"] = max(peak["in_flight"], w.fake.in_flight)
        return response

    w.fake.create_model_invocation_job = create_and_measure  # type: ignore[method-assign]
    done = threading.Event()
    errors: list[BaseException] = []

    def admit_forever(seed: int) -> None:
        admission = w.admission()
        rng = random.Random(seed)
        try:
            while not done.is_set():
                admission.admit(MODEL if rng.random() < 0.5 else None)
                time.sleep(rng.uniform(0.1, 0.3))
        except BaseException as error:  # surfaced below
            errors.append(error)
            done.set()

    def finish_at_random() -> None:
        tracker = w.tracker()
        rng = random.Random(7)
        try:
            while not done.is_set():
                w.fake.advance()
                rng.shuffle(w.events)
                while w.events:
                    event = w.events.pop()
                    tracker.handle_record(SqsMessage("m", json.dumps(event), 1))
                if len(w.fake.create_calls) >= JOBS and not w.fake.in_flight and not w.events:
                    done.set()
                time.sleep(rng.uniform(0, 0.01))
        except BaseException as error:
            errors.append(error)
            done.set()

    # When four admission workers race while jobs finish
    workers = [threading.Thread(target=admit_forever, args=(seed,)) for seed in range(4)]
    workers.append(threading.Thread(target=finish_at_random))
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=240)
    done.set()
    # Then the limit held, and each job reached Bedrock exactly once and finished
    assert not errors, "".join(traceback.format_exception(errors[0]))
    assert 0 < peak["in_flight"] <= LIMIT
    tokens = [call["clientRequestToken"] for call in w.fake.create_calls]
    assert len(tokens) == JOBS
    assert len(set(tokens)) == JOBS
    statuses = {ledger.get(f"dz-load-{i:04d}").status for i in range(JOBS)}  # type: ignore[union-attr]
    assert statuses == {JobStatus.SUCCEEDED}
    assert w.slots().holders(MODEL) == set()
