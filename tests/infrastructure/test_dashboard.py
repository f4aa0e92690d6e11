"""The dashboards, the stuck-job alarms and the saved log queries, read from the templates
as CloudFormation would deploy them with each workflow switched on or off: every widget
charts a metric the code emits or a metric of one of the stack's own resources, every
queue, dead-letter queue and function deployed is charted, and a workflow switched off
leaves nothing behind on any dashboard."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from dropzone_local.intrinsics import Resolver
from dropzone_local.template import load_template, resources_of_type
from tests.infrastructure.test_docs_reference import emitted_metrics
from tests.support.fixtures import STACK_METRICS_NAMESPACE

STACK = "dz-test"
NAMESPACE = f"Dropzone/{STACK}"
ALARM = "AWS::CloudWatch::Alarm"
DASHBOARD = "AWS::CloudWatch::Dashboard"
SWITCHES = (
    "EnableSageMakerAsync",
    "EnableBedrockBatch",
    "EnableModelPackaging",
    "EnableEdgeDeployment",
)
# Every optional part on, so that its widgets are checked too.
OPTIONAL_PARTS = {
    "BedrockOnDemand": "Enabled",
    "BedrockPriceRefresh": "Enabled",
    "EdgeManagerSync": "Enabled",
}


def _resolver(overrides: dict[str, str]) -> Resolver:
    template = load_template()
    parameters = {
        name: str(overrides.get(name, spec.get("Default", "")))
        for name, spec in template["Parameters"].items()
    }
    return Resolver(
        template,
        parameters=parameters,
        pseudo={
            "AWS::Region": "us-east-1",
            "AWS::AccountId": "123456789012",
            "AWS::StackName": STACK,
        },
        ref=lambda name: f"name-of-{name}",
        get_att=lambda name, attribute: f"{attribute}-of-{name}",
    )


def _deployed(overrides: dict[str, str]) -> tuple[Resolver, dict[str, dict[str, Any]]]:
    resolver = _resolver(overrides)
    resources = {
        name: resource
        for name, resource in load_template()["Resources"].items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }
    return resolver, resources


def _charted(
    overrides: dict[str, str],
) -> tuple[dict[str, dict[str, Any]], list[list[Any]], list[str]]:
    """The deployed resources, every metric line of every dashboard, and every expression."""
    resolver, resources = _deployed(overrides)
    lines: list[list[Any]] = []
    expressions: list[str] = []
    for dashboard in resources_of_type({"Resources": resources}, DASHBOARD).values():
        body = json.loads(resolver(dashboard["Properties"]["DashboardBody"]))
        for widget in body["widgets"]:
            assert widget["type"] == "metric"
            properties = widget["properties"]
            assert {"title", "region", "view", "stat", "period"} <= set(properties)
            for line in properties["metrics"]:
                if isinstance(line[0], dict):
                    expressions.append(line[0]["expression"])
                else:
                    lines.append([part for part in line if not isinstance(part, dict)])
    return resources, lines, expressions


def _named(
    resource_type: str, resources: dict[str, dict[str, Any]], attribute: str | None
) -> dict[str, str]:
    """Logical id → the name a widget gives the resource (its Ref, or an attribute)."""
    return {
        name: f"{attribute}-of-{name}" if attribute else f"name-of-{name}"
        for name in resources_of_type({"Resources": resources}, resource_type)
    }


ALL_ON = {**OPTIONAL_PARTS, **dict.fromkeys(SWITCHES, "true")}


def test_every_widget_charts_an_emitted_metric_or_one_of_the_stacks_own_resources() -> None:
    resources, lines, expressions = _charted(ALL_ON)
    emitted = emitted_metrics()
    queues = set(_named("AWS::SQS::Queue", resources, "QueueName").values())
    functions = set(_named("AWS::Serverless::Function", resources, None).values())
    services = {
        resource["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for resource in resources_of_type(
            {"Resources": resources}, "AWS::Serverless::Function"
        ).values()
    }
    assert lines
    for namespace, metric, *dimensions in lines:
        pairs = dict(zip(dimensions[::2], dimensions[1::2], strict=True))
        if namespace == "AWS/SQS":
            assert set(pairs) == {"QueueName"} and pairs["QueueName"] in queues, (metric, pairs)
        elif namespace == "AWS/Lambda":
            assert set(pairs) == {"FunctionName"} and pairs["FunctionName"] in functions, pairs
        else:
            assert namespace == NAMESPACE, namespace
            assert metric in emitted, metric
            assert pairs["service"] in services, (metric, pairs)
            # Only the dimensions the code adds: `kind` where the status publisher counts.
            assert set(pairs) == (
                {"service", "kind"} if metric in {"JobsSucceeded", "JobsFailed"} else {"service"}
            ), pairs
    searched = set()
    for expression in expressions:
        (metric,) = re.findall(r'MetricName="(\w+)"', expression)
        assert NAMESPACE in expression and "model_id,service}" in expression, expression
        assert metric in emitted, metric
        searched.add(metric)
    assert searched == {"BedrockCostUsd", "BedrockSlotsInUse"}


def test_the_stacks_metrics_namespace_is_the_one_the_functions_publish_to() -> None:
    resolver, _ = _deployed({})
    assert resolver(STACK_METRICS_NAMESPACE) == NAMESPACE


def _dead_letter_queues(resources: dict[str, dict[str, Any]]) -> set[str]:
    return {
        name
        for name in resources_of_type({"Resources": resources}, "AWS::SQS::Queue")
        if name.endswith("DLQ")
    }


def test_every_queue_dead_letter_queue_and_function_deployed_is_charted() -> None:
    resources, lines, _ = _charted(ALL_ON)
    charted = {(line[0], line[1], line[3]) for line in lines if line[0].startswith("AWS/")}
    names = _named("AWS::SQS::Queue", resources, "QueueName")
    dead_letter = _dead_letter_queues(resources)
    for queue, name in names.items():
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", name) in charted, queue
        if queue not in dead_letter:
            assert ("AWS/SQS", "ApproximateAgeOfOldestMessage", name) in charted, queue
    for function, name in _named("AWS::Serverless::Function", resources, None).items():
        for metric in ("Errors", "Throttles", "Duration"):
            assert ("AWS/Lambda", metric, name) in charted, (function, metric)


@pytest.mark.parametrize("switch", SWITCHES)
def test_a_workflow_switched_off_leaves_nothing_on_any_dashboard(switch: str) -> None:
    everything, _, _ = _charted(ALL_ON)
    resources, lines, _ = _charted({**ALL_ON, switch: "false"})
    gone = set(everything) - set(resources)
    assert gone
    shown = json.dumps(lines)
    assert [name for name in gone if f'-of-{name}"' in shown] == []
    dashboards = resources_of_type({"Resources": resources}, DASHBOARD)
    assert len(dashboards) == len(resources_of_type({"Resources": everything}, DASHBOARD)) - 1


def test_the_optional_parts_switched_off_leave_no_widget_behind() -> None:
    everything, _, _ = _charted(ALL_ON)
    resources, lines, _ = _charted({})
    gone = set(everything) - set(resources)
    assert {"BedrockOnDemandFunction", "BedrockPricesFunction", "EdgeSyncFunction"} <= gone
    shown = json.dumps(lines)
    assert [name for name in gone if f'-of-{name}"' in shown] == []


def test_every_alarm_notifies_the_alarm_topic_when_it_fires_and_when_it_clears() -> None:
    alarms = resources_of_type(load_template(), ALARM)
    assert alarms
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert properties["OKActions"] == properties["AlarmActions"], name


def test_each_workflows_stuck_job_alarm_watches_what_its_scheduled_function_emits() -> None:
    template = load_template()
    emitted = emitted_metrics()["OldestInFlightJobAgeSeconds"]
    functions = resources_of_type(template, "AWS::Serverless::Function")
    services = {
        function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]: function
        for function in functions.values()
    }
    stuck = {
        name: alarm["Properties"]
        for name, alarm in resources_of_type(template, ALARM).items()
        if alarm["Properties"]["MetricName"] == "OldestInFlightJobAgeSeconds"
    }
    assert sorted(stuck) == [
        "BedrockStuckJobAlarm",
        "EdgeStuckJobAlarm",
        "PackagingStuckJobAlarm",
        "SageMakerStuckJobAlarm",
    ]
    assert len(emitted) == 1  # one helper, called by every reconciler and the poller
    for name, alarm in stuck.items():
        (dimension,) = alarm["Dimensions"]
        function = services[dimension["Value"]]
        # The function runs on a schedule no slower than the alarm's period.
        (event,) = function["Properties"]["Events"].values()
        assert event["Type"] == "ScheduleV2", name
        assert alarm["TreatMissingData"] == "ignore", name
        assert alarm["Period"] == 900, name


def test_each_saved_query_reads_every_log_group_of_its_part_of_the_stack() -> None:
    resolver, resources = _deployed(ALL_ON)
    queries = resources_of_type({"Resources": resources}, "AWS::Logs::QueryDefinition")
    read = [
        group
        for query in queries.values()
        for group in resolver(query["Properties"]["LogGroupNames"])
    ]
    log_groups = {
        f"name-of-{name}"
        for name in resources_of_type({"Resources": resources}, "AWS::Logs::LogGroup")
    }
    prices = "name-of-BedrockPricesLogGroup"  # the price refresh handles no job
    assert sorted(read) == sorted(log_groups - {prices})
    for query in queries.values():
        assert resolver(query["Properties"]["Name"]).startswith(f"Dropzone/{STACK}/")
        assert 'filter @message like "JOB_ID"' in query["Properties"]["QueryString"]
