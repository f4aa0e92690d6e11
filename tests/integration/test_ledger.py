from __future__ import annotations

from datetime import timedelta

from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.store.ledger import Ledger
from tests.support.clock import ManualClock
from tests.support.fixtures import Stack

KIND = JobKind.SAGEMAKER_ASYNC


def _job(job_id: str = "dz-1") -> Job:
    return Job(
        job_id=job_id,
        kind=KIND,
        status=JobStatus.ACCEPTED,
        source=SourceObject(bucket="b", key="sagemaker-async/ep/x.json", version_id="v1", size=3),
        target="ep",
        created_at="",
        updated_at="",
    )


def test_create_is_exactly_once(stack: Stack) -> None:
    # Given a ledger
    ledger = stack.ledger()
    # When two creators race for the same job id
    first = ledger.create(_job(), lease_owner="a", lease_seconds=60)
    second = ledger.create(_job(), lease_owner="b", lease_seconds=60)
    # Then exactly one wins, and the loser sees the winner's record
    assert first.created
    assert not second.created
    assert second.job.job_id == "dz-1"
    assert second.job.history[0].status is JobStatus.ACCEPTED


def test_transition_moves_forward_and_keeps_history(stack: Stack) -> None:
    ledger = stack.ledger()
    ledger.create(_job(), lease_owner="a", lease_seconds=60)
    result = ledger.transition(
        "dz-1",
        KIND,
        JobStatus.SUBMITTED,
        service_status="Accepted",
        updates={"inference_id": "i-1"},
    )
    assert result.applied
    assert result.job is not None
    assert result.job.status is JobStatus.SUBMITTED
    assert result.job.inference_id == "i-1"
    assert [t.status for t in result.job.history] == [JobStatus.ACCEPTED, JobStatus.SUBMITTED]
    item = stack.dynamodb.get_item(TableName=stack.table_name, Key={"job_id": {"S": "dz-1"}})[
        "Item"
    ]
    assert item["state_key"]["S"] == "sagemaker_async#SUBMITTED"
    assert "lease_owner" not in item


def test_backward_and_duplicate_transitions_are_recorded_and_ignored(stack: Stack) -> None:
    ledger = stack.ledger()
    ledger.create(_job(), lease_owner="a", lease_seconds=60)
    ledger.transition("dz-1", KIND, JobStatus.SUBMITTED)
    ledger.transition("dz-1", KIND, JobStatus.SUCCEEDED, updates={"output_location": "s3://o/1"})
    # When late and duplicate events arrive
    late = ledger.transition("dz-1", KIND, JobStatus.SUBMITTED)
    duplicate = ledger.transition("dz-1", KIND, JobStatus.SUCCEEDED)
    other_terminal = ledger.transition("dz-1", KIND, JobStatus.FAILED, message="late failure")
    # Then none applies and the record keeps its final status
    assert not late.applied and not duplicate.applied and not other_terminal.applied
    job = ledger.get("dz-1")
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED
    assert job.output_location == "s3://o/1"
    assert job.ignored_events == 3
    assert len(job.history) == 3


def test_terminal_status_sets_retention(stack: Stack) -> None:
    clock = ManualClock()
    ledger = stack.ledger(clock=clock, retention_days=10)
    ledger.create(_job(), lease_owner="a", lease_seconds=60)
    ledger.transition("dz-1", KIND, JobStatus.REJECTED, message="bad")
    item = stack.dynamodb.get_item(TableName=stack.table_name, Key={"job_id": {"S": "dz-1"}})[
        "Item"
    ]
    assert int(item["expires_at"]["N"]) == int((clock.now + timedelta(days=10)).timestamp())


def test_transition_of_unknown_job_is_not_applied(stack: Stack) -> None:
    result = stack.ledger().transition("dz-missing", KIND, JobStatus.SUCCEEDED)
    assert not result.applied
    assert result.job is None


def test_transition_with_wrong_kind_is_refused(stack: Stack) -> None:
    ledger = stack.ledger()
    ledger.create(_job(), lease_owner="a", lease_seconds=60)
    result = ledger.transition("dz-1", JobKind.BEDROCK_BATCH, JobStatus.SUBMITTED)
    assert not result.applied
    job = ledger.get("dz-1")
    assert job is not None and job.status is JobStatus.ACCEPTED


def test_lease_blocks_others_until_it_expires(stack: Stack) -> None:
    clock = ManualClock()
    ledger = stack.ledger(clock=clock)
    ledger.create(_job(), lease_owner="a", lease_seconds=60)
    assert not ledger.acquire_lease("dz-1", owner="b", lease_seconds=60)
    clock.now += timedelta(seconds=61)
    assert ledger.acquire_lease("dz-1", owner="b", lease_seconds=60)
    ledger.release_lease("dz-1", owner="a")  # not the holder: no effect
    assert not ledger.acquire_lease("dz-1", owner="c", lease_seconds=60)
    ledger.release_lease("dz-1", owner="b")
    assert ledger.acquire_lease("dz-1", owner="c", lease_seconds=60)


def test_no_lease_on_a_submitted_job(stack: Stack) -> None:
    ledger = stack.ledger()
    ledger.create(_job(), lease_owner="a", lease_seconds=0)
    ledger.transition("dz-1", KIND, JobStatus.SUBMITTED)
    assert not ledger.acquire_lease("dz-1", owner="b", lease_seconds=60)


def test_lookups_by_state_and_service_ref(stack: Stack) -> None:
    clock = ManualClock()
    ledger = stack.ledger(clock=clock)
    for index in range(3):
        ledger.create(_job(f"dz-{index}"), lease_owner="a", lease_seconds=60)
        clock.now += timedelta(minutes=1)
        ledger.transition(
            f"dz-{index}",
            KIND,
            JobStatus.SUBMITTED,
            updates={"service_ref": f"sagemaker:i-{index}"},
        )
    older = list(
        ledger.by_state(KIND, JobStatus.SUBMITTED, updated_before=clock.now - timedelta(seconds=30))
    )
    assert [job.job_id for job in older] == ["dz-0", "dz-1"]
    assert [job.job_id for job in ledger.find_by_service_ref("sagemaker:i-2")] == ["dz-2"]
    assert ledger.find_by_service_ref("sagemaker:nope") == []


def test_ledger_round_trips_counts_and_options(stack: Stack) -> None:
    ledger: Ledger = stack.ledger()
    ledger.create(_job(), lease_owner="a", lease_seconds=60)
    ledger.transition(
        "dz-1",
        KIND,
        JobStatus.SUBMITTED,
        updates={"counts": {"total": 3}, "options": {"ttl": 60, "accept": "text/csv"}},
    )
    job = ledger.get("dz-1")
    assert job is not None
    assert job.counts == {"total": 3}
    assert job.options == {"ttl": 60, "accept": "text/csv"}
