"""The edge resources in template.yaml: every queue and every reported metric is watched
by an alarm the alarms page lists, and the sync reads no device by key but its cursor."""

from __future__ import annotations

from typing import Any

import pytest

from dropzone.store.devices import SYNC_CURSOR_KEY
from dropzone.workflows.edge.rules import (
    DROPZONE_ARTIFACTS_PREFIX,
    RESULTS_ARTIFACTS_PREFIX,
    artifact_places,
    outside_artifact_places,
)
from tests.support.docs import first_name, page, rows
from tests.support.fixtures import STACK_METRICS_NAMESPACE
from tests.support.iam import work_policies


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
    assert alarm["Namespace"] == STACK_METRICS_NAMESPACE
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
    statements = [
        s for policy in work_policies(template, "EdgeSyncFunction") for s in policy["Statement"]
    ]
    (get_item,) = [s for s in statements if "dynamodb:GetItem" in str(s["Action"])]
    assert get_item["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [SYNC_CURSOR_KEY]}
    }


def test_the_submit_function_reads_only_documents_and_artifact_prefixes(
    template: dict[str, Any],
) -> None:
    statements = [
        s
        for policy in work_policies(template, "EdgeDeploymentSubmitFunction")
        for s in policy["Statement"]
    ]
    reads = [s for s in statements if "s3:GetObject" in str(s["Action"])]
    lists = [s for s in statements if "s3:ListBucket" in str(s["Action"])]
    drop = "arn:${AWS::Partition}:s3:::${DropZoneBucket}"
    results = "arn:${AWS::Partition}:s3:::${ResultsBucket}"
    # Objects: the documents and exactly the prefixes rules.artifact_places names
    assert [s["Action"] for s in reads] == [["s3:GetObject", "s3:GetObjectVersion"]]
    assert [r["Fn::Sub"] for r in reads[0]["Resource"]] == [
        f"{drop}/${{EdgeDeploymentsPrefix}}*",
        f"{drop}/{DROPZONE_ARTIFACTS_PREFIX}*",
        f"{results}/{RESULTS_ARTIFACTS_PREFIX}*",
    ]
    # Listing (404 for a missing object): the same prefixes, by condition
    listed = {s["Resource"]["Fn::Sub"]: s["Condition"]["StringLike"]["s3:prefix"] for s in lists}
    assert listed == {
        drop: [{"Fn::Sub": "${EdgeDeploymentsPrefix}*"}, f"{DROPZONE_ARTIFACTS_PREFIX}*"],
        results: f"{RESULTS_ARTIFACTS_PREFIX}*",
    }
    assert all(s["Action"] == "s3:ListBucket" for s in lists)


def test_artifact_places_are_the_two_prefixes() -> None:
    assert artifact_places("drop", "results") == (
        "s3://drop/edge-artifacts/",
        "s3://results/model-packaging/outputs/",
    )
    places = artifact_places("drop", "results")
    assert outside_artifact_places("drop", "edge-artifacts/m.tar.gz", places) is None
    assert outside_artifact_places("results", "model-packaging/outputs/j/c.zip", places) is None
    for bucket, key in [
        ("drop", "edge-deployments/fleet/d.json"),
        ("drop", "edge-artifactsX/m"),
        ("results", "reports/x.json"),
        ("other", "edge-artifacts/m"),
    ]:
        assert outside_artifact_places(bucket, key, places) == (
            "must be under s3://drop/edge-artifacts/ or s3://results/model-packaging/outputs/"
        )
