"""The edge resources in template.yaml: every queue and every reported metric is watched
by an alarm the alarms page lists, and the sync reads no device by key but its cursor."""

from __future__ import annotations

from typing import Any

import pytest

from dropzone.store.devices import SYNC_CURSOR_KEY
from tests.support.docs import first_name, page, rows


@pytest.mark.parametrize("queue", ["EdgeDeploymentSubmitQueue", "EdgeHeartbeatQueue"])
def test_each_edge_queue_has_an_age_alarm(alarms: dict[str, dict[str, Any]], queue: str) -> None:
    watching = [
        name
        for name, alarm in alarms.items()
        if alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
        and alarm["Dimensions"]
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    ]
    assert watching == [f"{queue}AgeAlarm"]
    alarm = alarms[watching[0]]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Maximum",
        3600,
        "GreaterThanThreshold",
    )


@pytest.mark.parametrize("metric", ["EdgeHeartbeatsRejected", "EdgeHeartbeatsFromUnknownDevices"])
def test_each_heartbeat_report_metric_has_an_alarm(
    alarms: dict[str, dict[str, Any]], metric: str
) -> None:
    (alarm,) = [a for a in alarms.values() if a["MetricName"] == metric]
    assert alarm["Namespace"] == "Dropzone"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "edge-heartbeat"}]


def test_the_alarms_page_lists_the_heartbeat_and_queue_age_alarms(
    alarms: dict[str, dict[str, Any]],
) -> None:
    table = {first_name(row["alarm"]) for row in rows(page("reference/alarms.md"), "alarm")}
    watched = {
        name
        for name, alarm in alarms.items()
        if name.startswith("Edge")
        and (
            alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
            or alarm["MetricName"].startswith("EdgeHeartbeats")
        )
    }
    assert len(watched) == 4
    assert [name for name in sorted(watched) if name not in table] == []


def test_the_sync_reads_only_its_cursor_by_key(template: dict[str, Any]) -> None:
    function = template["Resources"]["EdgeSyncFunction"]["Properties"]
    statements = [s for policy in function["Policies"] for s in policy["Statement"]]
    (get_item,) = [s for s in statements if "dynamodb:GetItem" in str(s["Action"])]
    assert get_item["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [SYNC_CURSOR_KEY]}
    }
