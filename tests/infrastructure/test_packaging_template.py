"""The packaging and Greengrass resources in template.yaml: queue age alarms, the edge
reconciler's schedule, alarm and least-privilege policy, and the docs listing them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.docs import first_name, page, rows
from tests.support.iam import work_policies


@pytest.mark.parametrize("queue", ["PackagingSubmitQueue", "GreengrassStateQueue"])
def test_each_packaging_queue_has_an_age_alarm_the_docs_list(
    alarms: dict[str, dict[str, Any]], queue: str
) -> None:
    (name,) = [
        name
        for name, alarm in alarms.items()
        if alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
        and alarm["Dimensions"]
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    ]
    alarm = alarms[name]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["AlarmActions"]) == (
        "Maximum",
        3600,
        [{"Ref": "AlarmTopic"}],
    )
    assert name in {first_name(row["alarm"]) for row in rows(page("reference/alarms.md"), "alarm")}


def test_the_edge_reconciler_runs_on_a_schedule_with_a_dead_letter_queue(
    template: dict[str, Any], alarms: dict[str, dict[str, Any]]
) -> None:
    function = template["Resources"]["EdgeReconcileFunction"]["Properties"]
    (event,) = function["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == "rate(15 minutes)"
    assert event["Properties"]["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": ["EventDeliveryDLQ", "Arn"]}
    }
    variables = function["Environment"]["Variables"]
    assert variables["EDGE_DEPLOYMENT_TIMEOUT_HOURS"] == {"Ref": "EdgeDeploymentTimeoutHours"}
    assert variables["RECONCILE_GRACE_MINUTES"] == {"Ref": "ReconcileGraceMinutes"}
    parameter = template["Parameters"]["EdgeDeploymentTimeoutHours"]
    assert (parameter["Default"], parameter["MinValue"]) == (72, 1)
    (errors,) = [
        alarm
        for alarm in alarms.values()
        if alarm["MetricName"] == "Errors"
        and alarm["Dimensions"][0]["Value"] == {"Ref": "EdgeReconcileFunction"}
    ]
    assert errors["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "EdgeReconcileLogGroup"}


def test_the_edge_reconciler_may_do_only_what_it_does(template: dict[str, Any]) -> None:
    (policy,) = work_policies(template, "EdgeReconcileFunction")
    actions = sorted(
        action
        for statement in policy["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    )
    assert actions == [
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "greengrass:GetDeployment",
        "greengrass:ListEffectiveDeployments",
    ]
    assert all(statement["Resource"] != "*" for statement in policy["Statement"])


def test_quota_refusals_may_postpone_only_their_own_queue(template: dict[str, Any]) -> None:
    (policy,) = work_policies(template, "PackagingSubmitFunction")
    (statement,) = [s for s in policy["Statement"] if s["Sid"] == "PostponeQuotaRefusals"]
    assert statement["Action"] == "sqs:ChangeMessageVisibility"
    assert statement["Resource"] == {"Fn::GetAtt": ["PackagingSubmitQueue", "Arn"]}


def test_the_docs_document_the_reconciler(template: dict[str, Any]) -> None:
    assert "`EdgeDeploymentTimeoutHours`" in page("reference/parameters.md")
    assert "`EdgeReconcileFunctionName`" in page("reference/outputs.md")
    assert "EdgeReconcileFunctionName" in template["Outputs"]
    assert "`edge_reconcile.json`" in page("local-development/sample-events.md")


def _poller_policy(template: dict[str, Any], **parameters: str) -> list[dict[str, Any]]:
    """The poller's statements as CloudFormation would deploy them with these parameters."""
    from dropzone_local.intrinsics import Resolver

    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    values.update(parameters)
    resolver = Resolver(
        template,
        parameters=values,
        pseudo={"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111"},
        ref=lambda name: f"ref-{name}",
        get_att=lambda name, attribute: f"att-{name}-{attribute}",
    )
    policies = resolver(work_policies(template, "PackagingPollFunction"))
    return [statement for policy in policies for statement in policy["Statement"]]


def _rollout_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        statement
        for statement in statements
        if any(
            action.startswith(("iot:", "greengrass:"))
            for action in (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
        )
    ]


def _resources(statement: dict[str, Any]) -> list[str]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


@pytest.mark.parametrize(
    "targets", ["line-3-core", "line-3-core,factory-a-*", ",".join(f"t{n}" for n in range(10))]
)
def test_the_poller_may_roll_out_only_to_the_listed_targets(
    template: dict[str, Any], targets: str
) -> None:
    statements = _rollout_statements(_poller_policy(template, GreengrassTargets=targets))
    iot = "arn:aws:iot:eu-west-1:111"
    entries = targets.split(",")
    expected = {f"{iot}:thing/{entry}" for entry in entries} | {
        f"{iot}:thinggroup/{entry}" for entry in entries
    }
    named = {
        resource
        for statement in statements
        for resource in _resources(statement)
        if ":thing/" in resource or ":thinggroup/" in resource
    }
    # Every thing and thing group ARN is one the list names, and each entry is there
    assert named == expected
    # CreateJob is authorized against the job and its targets together: the job's ARN
    # stands beside the targets, and the other job actions name the job only
    (targeted,) = [s for s in statements if s["Sid"] == "DeployToAllowedTargets"]
    assert sorted(_resources(targeted)) == sorted({f"{iot}:job/*", *expected})
    (jobs,) = [s for s in statements if s["Sid"] == "RunDeploymentJobs"]
    assert jobs["Resource"] == f"{iot}:job/*"
    assert sorted(jobs["Action"]) == ["iot:CancelJob", "iot:DescribeJob", "iot:UpdateJob"]
    iot_resources = {
        resource
        for statement in statements
        for resource in _resources(statement)
        if resource.startswith("arn:aws:iot:") or resource == "*"
    }
    assert iot_resources - expected == {f"{iot}:job/*", "*"}
    (star,) = [s for s in statements if "*" in _resources(s)]
    assert sorted(star["Action"]) == ["greengrass:CreateDeployment", "greengrass:ListDeployments"]


@pytest.mark.parametrize(
    "parameters",
    [{}, {"GreengrassTargets": ""}, {"GreengrassTargets": "a", "EnableEdgeDeployment": "false"}],
)
def test_without_targets_the_poller_holds_no_rollout_permission(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    statements = _poller_policy(template, **parameters)
    assert _rollout_statements(statements) == []
    assert statements  # the packaging permissions are still there


def test_both_packaging_functions_get_the_targets_and_the_switch(
    template: dict[str, Any],
) -> None:
    for parameter in ("GreengrassTargets", "GreengrassReplaceComponents"):
        assert template["Parameters"][parameter]["Default"] in ("", "false")
    for function in ("PackagingSubmitFunction", "PackagingPollFunction"):
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["GREENGRASS_TARGETS"] == {"Ref": "GreengrassTargets"}
        assert variables["GREENGRASS_REPLACE_COMPONENTS"] == {"Ref": "GreengrassReplaceComponents"}


def test_the_target_pattern_is_the_settings_pattern(template: dict[str, Any]) -> None:
    from dropzone.settings.packaging import GREENGRASS_TARGETS_PATTERN

    assert template["Parameters"]["GreengrassTargets"]["AllowedPattern"] == (
        GREENGRASS_TARGETS_PATTERN
    )
