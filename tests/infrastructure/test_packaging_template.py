"""The packaging and Greengrass resources in template.yaml: queue age alarms, the edge
reconciler's schedule, alarm and least-privilege policy, and the docs listing them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.docs import first_name, page, rows


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
    (policy,) = template["Resources"]["EdgeReconcileFunction"]["Properties"]["Policies"]
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
    (policy,) = template["Resources"]["PackagingSubmitFunction"]["Properties"]["Policies"]
    (statement,) = [s for s in policy["Statement"] if s["Sid"] == "PostponeQuotaRefusals"]
    assert statement["Action"] == "sqs:ChangeMessageVisibility"
    assert statement["Resource"] == {"Fn::GetAtt": ["PackagingSubmitQueue", "Arn"]}


def test_the_docs_document_the_reconciler(template: dict[str, Any]) -> None:
    assert "`EdgeDeploymentTimeoutHours`" in page("reference/parameters.md")
    assert "`EdgeReconcileFunctionName`" in page("reference/outputs.md")
    assert "EdgeReconcileFunctionName" in template["Outputs"]
    assert "`edge_reconcile.json`" in page("local-development/sample-events.md")
