"""The submit path's AWS call budget, counted the way `make bench`'s bulk run counts it."""

from __future__ import annotations

# Import Powertools' tracer at collection time, before pytest-socket blocks sockets.
import dropzone.observability  # noqa: F401
from benchmarks.bulk import HARNESS, SUBMIT_BUDGET, SUBMIT_FUNCTION, run_bulk

UPLOADS = 20


def test_submit_path_stays_within_its_call_budget_without_loss_or_duplication() -> None:
    # Given 20 uploads, every 10th to a failing model and every 5th event delivered twice
    result = run_bulk(UPLOADS, chunk=10, failing_every=10, redeliver_every=5)

    # Then every upload ends once, in its expected status, with one inference each
    assert result.lost == []
    assert result.duplicated == []
    assert result.outcomes == {"SUCCEEDED": 18, "FAILED": 2}
    assert result.redelivered == 4
    assert result.status_events_missing == 0
    assert result.status_event_duplicates == 0

    # And the submit path, status events included, stays within its budget
    submit = result.counter.by_caller(SUBMIT_FUNCTION)
    assert submit["sagemaker-runtime.InvokeEndpointAsync"] == UPLOADS
    assert result.submit_calls_per_upload() <= SUBMIT_BUDGET, result.submit_path()
    # a first delivery writes once to create the job and once to record it SUBMITTED;
    # a second delivery of the same event costs one failed conditional write, no read
    assert submit["dynamodb.PutItem"] == UPLOADS + result.redelivered
    assert submit["dynamodb.UpdateItem"] == UPLOADS
    assert "dynamodb.GetItem" not in submit

    # And the harness's own calls were kept apart from Dropzone's
    assert result.counter.by_caller(HARNESS)["s3.PutObject"] >= UPLOADS
    assert "s3.PutObject" not in submit
