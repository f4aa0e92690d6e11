"""Greengrass roll-out rules: both spellings of a status event's deployment id, outcomes by
device counts, and thing names from target ARNs."""

from __future__ import annotations

from dropzone.models.jobs import JobStatus
from dropzone.workflows.edge.events import DeploymentStatusEvent
from dropzone.workflows.edge.greengrass_rules import outcome_of, thing_name
from tests.support.events import greengrass_status
from tests.support.packaging import GROUP, THING


def test_either_spelling_of_the_deployment_id_is_accepted() -> None:
    for legacy in (False, True):
        event = DeploymentStatusEvent.model_validate_json(
            greengrass_status("d-1", "core-1", "SUCCEEDED", legacy_id=legacy)
        )
        assert event.detail.deployment_id == "d-1"
        assert event.core_device() == "core-1"


def test_outcomes_by_counts() -> None:
    assert outcome_of(["SUCCEEDED", "COMPLETED"]) is JobStatus.SUCCEEDED
    assert outcome_of(["FAILED", "REJECTED", "TIMED_OUT"]) is JobStatus.FAILED
    assert outcome_of(["CANCELED"]) is JobStatus.STOPPED
    assert outcome_of(["CANCELED", "FAILED"]) is JobStatus.FAILED
    assert outcome_of(["SUCCEEDED", "CANCELED"]) is JobStatus.PARTIALLY_SUCCEEDED


def test_thing_names_come_from_thing_targets_only() -> None:
    assert thing_name(THING) == "line-3-core"
    assert thing_name("arn:aws:iot:us-east-1:123456789012:thing/a:b") == "a:b"
    assert thing_name(GROUP) is None
