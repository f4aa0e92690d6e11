"""The functions that read service notifications and state events may send an unreadable
message back to their own queue at once (ChangeMessageVisibility), and to no other."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.iam import work_policies


@pytest.mark.parametrize(
    ("function", "queue"),
    [
        ("SageMakerResultFunction", "SageMakerResultQueue"),
        ("BedrockStateFunction", "BedrockStateQueue"),
        ("GreengrassStateFunction", "GreengrassStateQueue"),
    ],
)
def test_an_unreadable_message_may_go_back_only_to_its_own_queue(
    template: dict[str, Any], function: str, queue: str
) -> None:
    properties = template["Resources"][function]["Properties"]
    (source,) = properties["Events"].values()
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}
    # (a policy under a template condition, `!If [condition, policy, NoValue]`, as its policy)
    statements = [
        statement
        for policy in work_policies(template, function)
        for statement in policy.get("Fn::If", [None, policy])[1]["Statement"]
        if "sqs:ChangeMessageVisibility" in statement["Action"]
    ]
    assert [(s["Sid"], s["Action"], s["Resource"]) for s in statements] == [
        ("ReturnUnreadableMessages", "sqs:ChangeMessageVisibility", {"Fn::GetAtt": [queue, "Arn"]})
    ]
