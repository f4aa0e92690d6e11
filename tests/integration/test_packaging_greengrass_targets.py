"""Which Greengrass targets a packaging request may roll out to: only the things and thing
groups GreengrassTargets names (or a prefix of it matches), and replacing a target's
components only with GreengrassReplaceComponents. Refused at intake, before anything is
started, and again by the poller for a job that reaches it anyway."""

from __future__ import annotations

from typing import Any

import pytest

from dropzone.models.jobs import Job, JobStatus
from dropzone.workflows.edge.greengrass_rules import deployment_job_id
from tests.support.fixtures import Stack
from tests.support.packaging import KEY, THING, PackagingWorld, request_body, world

START = "StartModelPackagingJob"
ARN = "arn:aws:iot:us-east-1:123456789012"


def _starts(w: PackagingWorld) -> list[Any]:
    return [call for call in w.lookoutvision.calls if call.operation == START]


def _roll_out(w: PackagingWorld, key: str = KEY, **section: Any) -> Job:
    return w.submit(request_body(GreengrassDeployment=section), key=key)


def _package_and_poll(w: PackagingWorld, job: Job) -> Job:
    assert job.status is JobStatus.SUBMITTED
    w.lookoutvision.advance_until_idle()
    w.tick(5)
    w.poller().run()
    final = w.ledger.get(job.job_id)
    assert final is not None
    return final


def test_a_target_outside_the_list_is_rejected_naming_the_allowed_targets(stack: Stack) -> None:
    # Given a stack that may roll out to line-3-core and the factory-a-* things and groups
    w = world(stack, greengrass_targets="line-3-core,factory-a-*")
    # When a request names another thing, and another a group outside the list
    thing = _roll_out(w, TargetArn=f"{ARN}:thing/line-4-core")
    group = _roll_out(
        w,
        key=KEY.replace(".json", "-group.json"),
        TargetArn=f"{ARN}:thinggroup/factory-b-line",
        CoreDeviceCount=2,
    )
    # Then both are REJECTED at intake, the reason naming the target and the allowed ones
    for job, target in ((thing, "thing 'line-4-core'"), (group, "thing group 'factory-b-line'")):
        assert job.status is JobStatus.REJECTED
        assert job.message is not None
        assert f"GreengrassDeployment.TargetArn: {target} is not a target" in job.message
        assert "GreengrassTargets allows line-3-core, factory-a-*" in job.message
        assert job.report_location is not None
    # and nothing is packaged, nothing deployed, even after the poller runs
    w.poller().run()
    assert _starts(w) == []
    assert w.greengrass.create_calls == []


def test_with_an_empty_list_every_roll_out_is_rejected(stack: Stack) -> None:
    # Given a stack deployed with GreengrassTargets left empty (the default)
    w = world(stack, greengrass_targets="")
    # When a request names a Greengrass target
    job = _roll_out(w, TargetArn=THING)
    # Then it is REJECTED: roll-outs are off, and the reason says which parameter turns them on
    assert job.status is JobStatus.REJECTED
    assert job.message is not None
    assert "Greengrass roll-outs are off in this stack (GreengrassTargets is empty)" in (
        job.message
    )
    assert _starts(w) == [] and w.greengrass.create_calls == []
    # while a request without a roll-out is still packaged
    other = w.submit(request_body(), key=KEY.replace(".json", "-2.json"))
    assert other.status is JobStatus.SUBMITTED


@pytest.mark.parametrize(
    ("target", "section"),
    [
        (f"{ARN}:thing/factory-a-press-2", {}),
        (f"{ARN}:thinggroup/factory-a-presses", {"CoreDeviceCount": 1}),
        (THING, {}),
    ],
)
def test_a_listed_name_or_a_matching_prefix_is_rolled_out(
    stack: Stack, target: str, section: dict[str, Any]
) -> None:
    w = world(stack, greengrass_targets="line-3-core,factory-a-*")
    job = _package_and_poll(w, _roll_out(w, TargetArn=target, **section))
    assert job.status is JobStatus.SUCCEEDED
    (call,) = w.greengrass.create_calls
    assert call["targetArn"] == target
    rollout = w.ledger.get(deployment_job_id(job.job_id))
    assert rollout is not None and rollout.status is JobStatus.SUBMITTED


def test_an_exact_name_is_no_prefix(stack: Stack) -> None:
    w = world(stack, greengrass_targets="line-3")
    job = _roll_out(w, TargetArn=f"{ARN}:thing/line-3-core")
    assert job.status is JobStatus.REJECTED
    assert _starts(w) == []


def test_replacing_the_targets_components_needs_the_opt_in(stack: Stack) -> None:
    # Given a stack that may roll out to the thing, without GreengrassReplaceComponents
    w = world(stack)
    # When a request asks to replace the components already running there
    job = _roll_out(w, TargetArn=THING, KeepExistingComponents=False)
    # Then it is REJECTED, naming the parameter, and nothing is started
    assert job.status is JobStatus.REJECTED
    assert job.message is not None
    assert "GreengrassDeployment.KeepExistingComponents" in job.message
    assert "GreengrassReplaceComponents" in job.message
    assert _starts(w) == [] and w.greengrass.create_calls == []


def test_with_the_opt_in_the_targets_components_are_replaced(stack: Stack) -> None:
    w = world(stack, greengrass_replace_components=True)
    w.greengrass.create_deployment(
        targetArn=THING,
        components={"aws.greengrass.Nucleus": {"componentVersion": "2.12.0"}},
        clientToken="earlier",
    )
    job = _package_and_poll(w, _roll_out(w, TargetArn=THING, KeepExistingComponents=False))
    assert job.status is JobStatus.SUCCEEDED
    assert w.greengrass.create_calls[-1]["components"] == {
        "circuit-model": {"componentVersion": "1.0.0"}
    }


@pytest.mark.parametrize(
    ("later", "reason"),
    [
        ({"greengrass_targets": "line-4-core"}, "GreengrassTargets allows line-4-core"),
        ({"greengrass_targets": ""}, "GreengrassTargets is empty"),
        ({"greengrass_replace_components": False}, "GreengrassReplaceComponents"),
    ],
)
def test_the_poller_refuses_a_roll_out_the_stack_no_longer_allows(
    stack: Stack, later: dict[str, Any], reason: str
) -> None:
    # Given a job accepted while the stack allowed its roll-out
    w = world(stack, greengrass_replace_components=True)
    job = w.submit(
        request_body(GreengrassDeployment={"TargetArn": THING, "KeepExistingComponents": False})
    )
    assert job.status is JobStatus.SUBMITTED
    w.lookoutvision.advance_until_idle()
    w.tick(5)
    # When the stack's parameters change before the poller hands the job off
    w.settings = w.settings.model_copy(update=later)
    w.poller().run()
    # Then the roll-out record is REJECTED with the reason and a report, Greengrass is
    # never called, and the packaging job still settles
    assert w.greengrass.create_calls == []
    rollout = w.ledger.get(deployment_job_id(job.job_id))
    assert rollout is not None and rollout.status is JobStatus.REJECTED
    assert rollout.message is not None and reason in rollout.message
    assert rollout.report_location is not None
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
