"""`dropzone doctor`: is the deployed stack healthy? PASS/FAIL per check, exit 1 on any FAIL."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from dropzone_cli.common import aws_error_message
from dropzone_cli.render import Column, Printer, trim_end
from dropzone_cli.stack import (
    ALARM_TYPE,
    DEPTH_ATTRIBUTES,
    FUNCTION_TYPE,
    QUEUE_TYPE,
    DeployedStack,
)

# Outputs operators and this CLI rely on (docs/reference/outputs.md: endpoint configuration,
# drop zone): the shared core's always, a workflow's while its switch leaves it on.
REQUIRED_OUTPUTS = (
    "DropZoneBucketName",
    "ResultsBucketName",
    "JobsTableName",
    "AlarmTopicArn",
)
WORKFLOW_OUTPUTS = {
    "EnableSageMakerAsync": ("AsyncSuccessTopicArn", "AsyncErrorTopicArn"),
    "EnableBedrockBatch": ("BedrockServiceRoleArn",),
}
HEALTHY_STATUSES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
_ALARM_NAMES_PER_CALL = 100


@dataclass(frozen=True)
class Check:
    ok: bool
    subject: str
    detail: str


def run_checks(stack: DeployedStack) -> list[Check]:
    checks = [_stack_status(stack), _outputs(stack)]
    checks.extend(_dead_letter_queues(stack))
    checks.extend(_alarms(stack))
    checks.extend(_functions(stack))
    return checks


COLUMNS = (
    Column("", styled=True),
    Column("CHECK", trim=trim_end, min_width=20),
    Column("DETAIL", trim=trim_end, min_width=20),
)


def doctor(stack: DeployedStack, printer: Printer) -> int:
    checks = run_checks(stack)
    failures = sum(not check.ok for check in checks)
    if printer.output == "json":
        printer.json(
            {
                "stack": stack.name,
                "region": stack.target.region,
                "passed": not failures,
                "checks": [vars(check) for check in checks],
            }
        )
        return 1 if failures else 0
    rows = [("PASS" if check.ok else "FAIL", check.subject, check.detail) for check in checks]
    printer.rows(COLUMNS, rows)
    region = stack.target.region or "the default region"
    if failures:
        printer.line(
            f"\n{failures} of {len(checks)} checks failed for stack {stack.name} in {region}"
        )
        return 1
    printer.line(f"\nall {len(checks)} checks passed for stack {stack.name} in {region}")
    return 0


def _stack_status(stack: DeployedStack) -> Check:
    status = stack.status
    if status in HEALTHY_STATUSES:
        return Check(True, "stack", status)
    if status == "UPDATE_ROLLBACK_COMPLETE":
        return Check(False, "stack", f"{status}: the last update failed and was rolled back")
    return Check(False, "stack", f"{status}: not a completed deployment")


def expected_outputs(stack: DeployedStack) -> list[str]:
    """The outputs this stack should have: a switched-off workflow has none of its own."""
    parameters = {
        parameter["ParameterKey"]: parameter.get("ParameterValue", "")
        for parameter in stack.description.get("Parameters", [])
    }
    expected = list(REQUIRED_OUTPUTS)
    for switch, outputs in WORKFLOW_OUTPUTS.items():
        if parameters.get(switch, "true") != "false":
            expected.extend(outputs)
    return expected


def _outputs(stack: DeployedStack) -> Check:
    expected = expected_outputs(stack)
    missing = [name for name in expected if not stack.outputs.get(name)]
    if missing:
        return Check(False, "outputs", "missing: " + ", ".join(missing))
    return Check(True, "outputs", f"{len(expected)} expected outputs present")


def _dead_letter_queues(stack: DeployedStack) -> list[Check]:
    sqs = stack.target.client("sqs")
    checks = []
    for queue in stack.of_type(QUEUE_TYPE):
        if not queue.logical_id.endswith("DLQ"):
            continue
        subject = f"queue {queue.logical_id}"
        try:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue.physical_id, AttributeNames=list(DEPTH_ATTRIBUTES)
            )["Attributes"]
        except ClientError as error:
            checks.append(Check(False, subject, aws_error_message(error)))
            continue
        held = [
            f"{count} {what}"
            for name, what in DEPTH_ATTRIBUTES.items()
            if (count := int(attributes.get(name, "0")))
        ]
        if held:
            detail = ", ".join(held) + " (see `dropzone redrive`)"
            checks.append(Check(False, subject, f"messages: {detail}"))
        else:
            checks.append(Check(True, subject, "empty (none waiting, in flight or delayed)"))
    return checks


def _alarms(stack: DeployedStack) -> list[Check]:
    names = [alarm.physical_id for alarm in stack.of_type(ALARM_TYPE) if alarm.physical_id]
    if not names:
        return [Check(True, "alarms", "the stack has no alarms")]
    cloudwatch = stack.target.client("cloudwatch")
    firing: list[str] = []
    seen = 0
    try:
        for start in range(0, len(names), _ALARM_NAMES_PER_CALL):
            chunk = names[start : start + _ALARM_NAMES_PER_CALL]
            paginator = cloudwatch.get_paginator("describe_alarms")
            for page in paginator.paginate(AlarmNames=chunk, AlarmTypes=["MetricAlarm"]):
                for alarm in page.get("MetricAlarms", []):
                    seen += 1
                    if alarm.get("StateValue") == "ALARM":
                        firing.append(alarm["AlarmName"])
    except ClientError as error:
        return [Check(False, "alarms", aws_error_message(error))]
    checks = [Check(False, f"alarm {name}", "in ALARM") for name in sorted(firing)]
    if seen < len(names):
        checks.append(
            Check(False, "alarms", f"{len(names) - seen} of the stack's alarms not found")
        )
    elif not firing:
        checks.append(Check(True, "alarms", f"none of {seen} alarms in ALARM"))
    return checks


def _functions(stack: DeployedStack) -> list[Check]:
    client = stack.target.client("lambda")
    checks = []
    for function in stack.of_type(FUNCTION_TYPE):
        subject = f"function {function.logical_id}"
        try:
            response = client.invoke(FunctionName=function.physical_id, InvocationType="DryRun")
        except ClientError as error:
            checks.append(Check(False, subject, aws_error_message(error)))
            continue
        status = response.get("StatusCode")
        if status == 204:
            checks.append(Check(True, subject, "DryRun invoke accepted (204)"))
        else:
            checks.append(Check(False, subject, f"DryRun invoke answered {status}, not 204"))
    if not checks:
        checks.append(Check(False, "functions", "the stack has no Lambda functions"))
    return checks
