"""Whatever the order of events: duplicate, missing and reordered Bedrock state events,
duplicate upload deliveries and duplicate or stray invocations of the finishing step never
put a record twice in an upload's result, and never start a retry round's job twice."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from dropzone.models.jobs import JobStatus
from dropzone_local.event_delivery import UnreliableDelivery
from dropzone_local.record_faults import Fault, RecordFaults
from tests.support.bedrock import MODEL, record, world
from tests.support.fixtures import Stack

RECORDS = 60


def _body(seed: int) -> tuple[bytes, set[int], set[int]]:
    rng = random.Random(seed)
    retryable = set(rng.sample(range(RECORDS), 12))
    final = set(rng.sample(sorted(set(range(RECORDS)) - retryable), 3))
    lines = []
    for index in range(RECORDS):
        item = record(record_id=f"r{index:03d}" if rng.random() < 0.7 else None)
        item["modelInput"]["messages"][0]["content"][0]["text"] = f"#{index}"
        if index in retryable:
            item["modelInput"]["dz_fault"] = "once"
        elif index in final:
            item["modelInput"]["dz_fault"] = "never"
        lines.append(json.dumps(item))
    return ("\n".join(lines) + "\n").encode(), retryable, final


@pytest.mark.parametrize("seed", range(6))
def test_chaos_never_doubles_a_record_or_a_round(stack: Stack, seed: int) -> None:
    # Given an upload in three parts, some records throttled once, some refused for good
    faults = RecordFaults({"once": Fault.throttling(), "never": Fault.malformed_input()})
    w = world(
        stack, faults=faults, max_records_per_file=25, min_records_per_job=5, max_jobs_per_model=2
    )
    unreliable = UnreliableDelivery(w.events.append, seed=seed, drop=0.25, hold=0.25, duplicate=0.3)
    w.fake.deliver = unreliable
    body, retryable, final = _body(seed)
    source = w.upload(f"bedrock-batch/{MODEL}/chaos/in.jsonl", body)
    rng = random.Random(seed)
    upload_id = w.submitter().submit(source).job_id
    w.submitter().submit(source)  # a duplicate delivery of the upload
    tracker = w.tracker()
    later = datetime.now(UTC)
    # When everything runs with late, lost and doubled events, stray and doubled finishing
    for step in range(80):
        w.admission().admit()
        w.fake.advance()
        w.deliver_events(tracker)
        if step % 4 == 3:
            unreliable.flush()
            w.deliver_events(tracker)
        asked = w.finish_requests()
        rng.shuffle(asked)
        for upload in asked + asked[: rng.randint(0, len(asked))]:  # some twice
            w.finisher().finish(upload)
        if rng.random() < 0.3:
            w.finisher().finish(upload_id)  # a stray invocation
        later += timedelta(hours=1)
        moment = later
        w.reconciler(clock=lambda moment=moment: moment).run()
        upload = w.ledger.get(upload_id)
        if upload is not None and upload.status.is_terminal:
            break
    # Then the upload ended with every record once, in input order
    upload = w.ledger.get(upload_id)
    assert upload is not None and upload.status is JobStatus.PARTIALLY_SUCCEEDED, upload
    lines = w.result_lines(upload_id)
    assert [line["line"] for line in lines] == list(range(1, RECORDS + 1))
    failed = {line["line"] - 1 for line in lines if "error" in line}
    assert failed == final
    assert not failed & retryable  # the throttled ones all passed on a retry
    # And each job, retry rounds' included, exists once in the ledger and once in Bedrock
    assert len(upload.children) == len(set(upload.children))
    rounds = [child for child in upload.children if "-r" in child]
    assert rounds, "the throttled records were retried in a round"
    created = Counter(call["clientRequestToken"] for call in w.fake.create_calls)
    names = Counter(
        job["jobName"] for job in w.fake.list_model_invocation_jobs()["invocationJobSummaries"]
    )
    assert set(names) == set(created) and max(names.values()) == 1
