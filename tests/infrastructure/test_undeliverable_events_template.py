"""Nothing undeliverable is dropped and no event can be forged: every scheduled function has
an on-failure destination and runs under a schedule role that trusts this account only;
every SNS subscription has a dead-letter queue SNS may write to; both data buckets log their
access; the status publisher may put events of its own source only."""

from __future__ import annotations

from typing import Any

from tests.support.iam import work_policies

SCHEDULED = {
    "SageMakerReconcileFunction",
    "BedrockAdmissionFunction",
    "BedrockReconcileFunction",
    "BedrockPricesFunction",
    "PackagingPollFunction",
    "EdgeReconcileFunction",
    "EdgeSyncFunction",
}


def _of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def _schedules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Scheduled function → its schedule event's properties."""
    found = {}
    for logical_id, function in _of_type(template, "AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] in ("Schedule", "ScheduleV2"):
                found[logical_id] = event["Properties"]
    return found


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(policy_holder: dict[str, Any]) -> list[dict[str, Any]]:
    documents = [
        policy.get("PolicyDocument", policy)
        for policy in policy_holder.get("Policies", [])
        if isinstance(policy, dict)
    ]
    statements = [
        statement for document in documents for statement in document.get("Statement", [])
    ]
    # A statement under a condition, `!If [condition, statement, NoValue]`, as its statement.
    return [
        statement["Fn::If"][1] if "Fn::If" in statement else statement for statement in statements
    ]


def test_the_scheduled_functions_are_the_known_ones(template: dict[str, Any]) -> None:
    assert set(_schedules(template)) == SCHEDULED


def test_every_scheduled_function_keeps_a_failed_run(template: dict[str, Any]) -> None:
    queues = _of_type(template, "AWS::SQS::Queue")
    for logical_id in _schedules(template):
        config = template["Resources"][logical_id]["Properties"]["EventInvokeConfig"]
        on_failure = config["DestinationConfig"]["OnFailure"]
        assert on_failure["Type"] == "SQS", logical_id
        queue, attribute = on_failure["Destination"]["Fn::GetAtt"]
        assert (queue in queues, attribute) == (True, "Arn"), logical_id


def test_every_schedule_runs_under_a_role_that_trusts_this_account_only(
    template: dict[str, Any],
) -> None:
    for logical_id, schedule in _schedules(template).items():
        role_id, attribute = schedule["RoleArn"]["Fn::GetAtt"]
        role = template["Resources"][role_id]
        assert (role["Type"], attribute) == ("AWS::IAM::Role", "Arn"), logical_id
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
        assert trust["Condition"] == {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        }
        invoke, send = _statements(role["Properties"])
        assert invoke["Action"] == "lambda:InvokeFunction"
        assert {"Fn::GetAtt": [logical_id, "Arn"]} in _invokable(invoke["Resource"])
        assert send["Action"] == "sqs:SendMessage"
        assert send["Resource"] == schedule["DeadLetterConfig"]["Arn"]


def _invokable(resources: Any) -> list[Any]:
    """The functions a statement names, each `!If [condition, function, NoValue]` as its
    function."""
    return [
        resource["Fn::If"][1] if "Fn::If" in resource else resource
        for resource in _listed(resources)
    ]


def test_a_schedule_role_may_invoke_only_its_own_scheduled_functions(
    template: dict[str, Any],
) -> None:
    scheduled = {
        logical_id: schedule["RoleArn"]["Fn::GetAtt"][0]
        for logical_id, schedule in _schedules(template).items()
    }
    for role_id in set(scheduled.values()):
        invoke, _send = _statements(template["Resources"][role_id]["Properties"])
        assert sorted(
            function["Fn::GetAtt"][0] for function in _invokable(invoke["Resource"])
        ) == sorted(logical_id for logical_id, role in scheduled.items() if role == role_id)


def test_every_sns_subscription_has_a_dead_letter_queue_sns_may_write_to(
    template: dict[str, Any],
) -> None:
    subscriptions = _of_type(template, "AWS::SNS::Subscription")
    assert len(subscriptions) == 3
    grants = [
        statement
        for policy in _of_type(template, "AWS::SQS::QueuePolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
        and statement["Principal"] == {"Service": "sns.amazonaws.com"}
    ]
    for logical_id, subscription in subscriptions.items():
        properties = subscription["Properties"]
        queue = properties["RedrivePolicy"]["deadLetterTargetArn"]
        assert queue["Fn::GetAtt"][1] == "Arn", logical_id
        assert any(
            grant["Resource"] == queue
            and properties["TopicArn"] in _listed(grant["Condition"]["ArnEquals"]["aws:SourceArn"])
            for grant in grants
        ), logical_id


def test_both_data_buckets_log_access_to_the_log_bucket(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for bucket in ("DropZoneBucket", "ResultsBucket"):
        logging = resources[bucket]["Properties"]["LoggingConfiguration"]
        assert logging["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}
    properties = resources["AccessLogsBucket"]["Properties"]
    assert "LoggingConfiguration" not in properties
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert any(
        rule["Status"] == "Enabled" and rule.get("ExpirationInDays")
        for rule in properties["LifecycleConfiguration"]["Rules"]
    )
    (policy,) = [
        policy
        for policy in _of_type(template, "AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == {"Ref": "AccessLogsBucket"}
    ]
    allow, deny = policy["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnEquals": {
            "aws:SourceArn": [
                {"Fn::GetAtt": ["DropZoneBucket", "Arn"]},
                {"Fn::GetAtt": ["ResultsBucket", "Arn"]},
            ]
        },
    }
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_events_may_be_put_only_with_dropzones_own_source(template: dict[str, Any]) -> None:
    put_events = [
        (logical_id, statement)
        for logical_id, function in _of_type(template, "AWS::Serverless::Function").items()
        for statement in _statements({"Policies": work_policies(template, logical_id)})
        if "events:PutEvents" in _listed(statement["Action"])
    ]
    assert [logical_id for logical_id, _ in put_events] == ["StatusPublisherFunction"]
    for _, statement in put_events:
        assert statement["Condition"] == {"StringEquals": {"events:source": "dropzone"}}
