"""Every bad packaging request ends REJECTED through the real submitter, with its field and
reason in the job and in the report, and nothing is asked of Lookout for Vision."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dropzone.models.jobs import JobStatus
from tests.support.fixtures import Stack
from tests.support.packaging import PackagingWorld, world
from tests.support.packaging_corpus import INVALID


@pytest.fixture
def w(stack: Stack) -> PackagingWorld:
    return world(stack)


def _read(w: PackagingWorld, uri: str) -> dict[str, Any]:
    bucket, _, key = uri[5:].partition("/")
    body = w.stack.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)  # type: ignore[no-any-return]


def test_every_bad_request_is_rejected_with_its_field_and_reason(w: PackagingWorld) -> None:
    # One stack for the whole corpus: each case is its own upload, so its own job.
    wrong = []
    for name, body, key, field, reason in INVALID:
        # Given a bad packaging request in the drop zone
        # When the submitter handles its upload
        job = w.submit(body, key)
        # Then the job is REJECTED with the field and the reason, in the ledger and report
        report = _read(w, job.report_location) if job.report_location else {"problems": []}
        in_report = [p["reason"] for p in report["problems"] if p["field"] == field]
        if (
            job.status is not JobStatus.REJECTED
            or job.message is None
            or f"{field}: " not in job.message
            or not any(reason in text for text in in_report)
        ):
            wrong.append((name, job.status, job.message))
    assert wrong == []
    # and nothing was asked of Lookout for Vision
    starts = [call for call in w.lookoutvision.calls if call.operation == "StartModelPackagingJob"]
    assert starts == []
