from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.settings.sagemaker import SageMakerReconcileSettings
from dropzone.workflows.sagemaker.reconcile import SageMakerReconciler
from tests.support.clock import ManualClock
from tests.support.fixtures import Stack

KIND = JobKind.SAGEMAKER_ASYNC
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _submitted(stack: Stack, clock: ManualClock, job_id: str, deadline: datetime) -> None:
    ledger = stack.ledger(clock=clock)
    ledger.create(
        Job(
            job_id=job_id,
            kind=KIND,
            status=JobStatus.ACCEPTED,
            source=SourceObject(bucket="dropzone-drop", key=f"sagemaker-async/ep/{job_id}"),
            target="ep",
            created_at="",
            updated_at="",
        ),
        lease_owner="s",
        lease_seconds=60,
    )
    ledger.transition(
        job_id,
        KIND,
        JobStatus.SUBMITTED,
        updates={
            "output_location": f"s3://{stack.results_bucket}/out/{job_id}.out",
            "failure_location": f"s3://{stack.results_bucket}/failures/{job_id}-error.out",
            "deadline_at": deadline.isoformat().replace("+00:00", "Z"),
        },
    )


def test_settles_quiet_jobs_from_their_outputs_and_expires_the_overdue(stack: Stack) -> None:
    clock = ManualClock()
    # Given four submitted jobs whose notifications never came
    _submitted(stack, clock, "dz-ok", T0 + timedelta(hours=6))
    _submitted(stack, clock, "dz-bad", T0 + timedelta(hours=6))
    _submitted(stack, clock, "dz-late", T0 + timedelta(minutes=20))
    _submitted(stack, clock, "dz-wait", T0 + timedelta(hours=6))
    stack.s3_client.put_object(Bucket=stack.results_bucket, Key="out/dz-ok.out", Body=b"{}")
    stack.s3_client.put_object(
        Bucket=stack.results_bucket,
        Key="failures/dz-bad-error.out",
        Body=b'{"failureReason": "CUDA out of memory"}',
    )
    # When the reconciler runs an hour later
    clock.now = T0 + timedelta(hours=1)
    settings = SageMakerReconcileSettings(jobs_table=stack.table_name, reconcile_grace_minutes=30)
    summary = SageMakerReconciler(
        settings, stack.ledger(clock=clock), stack.s3(), clock=clock
    ).run()
    # Then each ends in its true status, and the one still within its deadline waits
    assert summary.as_dict() == {
        "examined": 4,
        "succeeded": 1,
        "failed": 1,
        "expired": 1,
        "unresolved": 1,
    }
    ledger = stack.ledger()
    statuses = {
        job_id: ledger.get(job_id).status for job_id in ("dz-ok", "dz-bad", "dz-late", "dz-wait")
    }  # type: ignore[union-attr]
    assert statuses == {
        "dz-ok": JobStatus.SUCCEEDED,
        "dz-bad": JobStatus.FAILED,
        "dz-late": JobStatus.EXPIRED,
        "dz-wait": JobStatus.SUBMITTED,
    }
    assert ledger.get("dz-bad").message == "CUDA out of memory"  # type: ignore[union-attr]


def test_recently_submitted_jobs_are_left_alone(stack: Stack) -> None:
    clock = ManualClock()
    _submitted(stack, clock, "dz-new", T0 - timedelta(minutes=1))
    clock.now = T0 + timedelta(minutes=5)
    settings = SageMakerReconcileSettings(jobs_table=stack.table_name, reconcile_grace_minutes=30)
    summary = SageMakerReconciler(
        settings, stack.ledger(clock=clock), stack.s3(), clock=clock
    ).run()
    assert summary.examined == 0
