"""The same S3 event delivered three times, twice concurrently: one inference, one job."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dropzone.adapters.sagemaker_runtime import SageMakerRuntime
from dropzone.errors import TransientError
from dropzone.models.jobs import JobStatus, SourceObject
from dropzone.settings.sagemaker import SageMakerSubmitSettings
from dropzone.store.ledger import Ledger
from dropzone.workflows.sagemaker.submit import SageMakerSubmitter
from dropzone_local.sagemaker import FakeEndpoint, FakeSageMakerRuntime
from tests.support.fixtures import Stack


class RacingLedger(Ledger):
    """Forces the worst interleaving at the conditional create: both racers enter `create`
    together; the one whose create wins holds on until the other has tried for the lease."""

    def __init__(
        self, *args: Any, barrier: threading.Barrier, loser_done: threading.Event, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._barrier = barrier
        self._loser_done = loser_done

    def create(self, job: Any, **kwargs: Any) -> Any:
        self._barrier.wait(timeout=30)
        result = super().create(job, **kwargs)
        if result.created:
            assert self._loser_done.wait(timeout=30), "the other delivery never tried the lease"
        return result

    def acquire_lease(self, job_id: str, **kwargs: Any) -> bool:
        try:
            return super().acquire_lease(job_id, **kwargs)
        finally:
            self._loser_done.set()


@pytest.mark.usefixtures("atomic_dynamodb")
def test_three_deliveries_two_concurrent_make_one_call_and_one_job(stack: Stack) -> None:
    # Given one upload and an endpoint
    put = stack.s3_client.put_object(
        Bucket=stack.dropzone_bucket, Key="sagemaker-async/ep/x.json", Body=b"{}"
    )
    source = SourceObject(
        bucket=stack.dropzone_bucket,
        key="sagemaker-async/ep/x.json",
        version_id=put["VersionId"],
        size=2,
    )
    fake = FakeSageMakerRuntime()
    fake.add_endpoint(FakeEndpoint("ep", stack.results_bucket))
    settings = SageMakerSubmitSettings(
        jobs_table=stack.table_name, results_bucket=stack.results_bucket
    )
    barrier, loser_done = threading.Barrier(2), threading.Event()

    def racer() -> SageMakerSubmitter:
        ledger = RacingLedger(
            stack.table_name, stack.dynamodb, barrier=barrier, loser_done=loser_done
        )
        return SageMakerSubmitter(settings, ledger, stack.s3(), SageMakerRuntime(fake))  # type: ignore[arg-type]

    outcomes: list[str] = []

    def deliver(submitter: SageMakerSubmitter) -> None:
        try:
            outcomes.append(submitter.submit(source).status)
        except TransientError:
            outcomes.append("retry later")

    # When two deliveries race
    threads = [threading.Thread(target=deliver, args=(racer(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then one submits and the other is told to come back (its message stays on the queue)
    assert sorted(outcomes) == sorted([JobStatus.SUBMITTED, "retry later"])
    # When the third delivery and the redelivery of the loser arrive
    plain = SageMakerSubmitter(settings, stack.ledger(), stack.s3(), SageMakerRuntime(fake))  # type: ignore[arg-type]
    third = plain.submit(source)
    redelivered = plain.submit(source)
    # Then nothing more happens
    assert third.status is JobStatus.SUBMITTED and redelivered.status is JobStatus.SUBMITTED
    assert len(fake.calls) == 1
    assert stack.dynamodb.scan(TableName=stack.table_name)["Count"] == 1


@pytest.mark.usefixtures("atomic_dynamodb")
def test_many_concurrent_deliveries_without_a_forced_interleaving(stack: Stack) -> None:
    put = stack.s3_client.put_object(
        Bucket=stack.dropzone_bucket, Key="sagemaker-async/ep/y.json", Body=b"{}"
    )
    source = SourceObject(
        bucket=stack.dropzone_bucket,
        key="sagemaker-async/ep/y.json",
        version_id=put["VersionId"],
        size=2,
    )
    fake = FakeSageMakerRuntime()
    fake.add_endpoint(FakeEndpoint("ep", stack.results_bucket))
    settings = SageMakerSubmitSettings(
        jobs_table=stack.table_name, results_bucket=stack.results_bucket
    )
    start = threading.Barrier(8)

    def deliver() -> None:
        submitter = SageMakerSubmitter(settings, stack.ledger(), stack.s3(), SageMakerRuntime(fake))  # type: ignore[arg-type]
        start.wait(timeout=10)
        for _attempt in range(50):  # a queue redelivers until the job is settled
            try:
                submitter.submit(source)
                return
            except TransientError:
                continue

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(fake.calls) == 1
    job = stack.ledger().get(fake.calls[0]["InferenceId"])
    assert job is not None and job.status is JobStatus.SUBMITTED
