"""A deployed Dropzone stack, as CloudFormation describes it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from dropzone.aws import error_code
from dropzone_cli.common import CliError, Target, aws_error_message

FUNCTION_TYPE = "AWS::Lambda::Function"
QUEUE_TYPE = "AWS::SQS::Queue"
ALARM_TYPE = "AWS::CloudWatch::Alarm"
TABLE_TYPE = "AWS::DynamoDB::Table"
# Each workflow is a nested stack of the root: its resources are listed with the root's.
NESTED_STACK_TYPE = "AWS::CloudFormation::Stack"
# A queue's messages, by state: a message in flight or delayed is as much in the queue.
DEPTH_ATTRIBUTES = {
    "ApproximateNumberOfMessages": "waiting",
    "ApproximateNumberOfMessagesNotVisible": "in flight",
    "ApproximateNumberOfMessagesDelayed": "delayed",
}


ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException"})


class StackUnavailable(CliError):
    """The stack does not exist in this account and region, or CloudFormation refuses
    to describe it."""


@dataclass(frozen=True)
class Resource:
    logical_id: str
    physical_id: str
    resource_type: str
    status: str


class DeployedStack:
    """Outputs and resources of one stack, read once and kept."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.name = target.stack_name

    @property
    def _cloudformation(self) -> Any:
        return self.target.client("cloudformation")

    @cached_property
    def description(self) -> dict[str, Any]:
        try:
            stacks = self._cloudformation.describe_stacks(StackName=self.name)["Stacks"]
        except ClientError as error:
            raise _stack_error(self.name, error) from error
        if not stacks:
            raise CliError(f"stack {self.name} does not exist", exit_code=1)
        description: dict[str, Any] = stacks[0]
        return description

    @property
    def status(self) -> str:
        return str(self.description.get("StackStatus", ""))

    @cached_property
    def outputs(self) -> dict[str, str]:
        return {
            output["OutputKey"]: output.get("OutputValue", "")
            for output in self.description.get("Outputs", [])
        }

    @cached_property
    def resources(self) -> list[Resource]:
        """Every resource of the stack and of its nested stacks, one per workflow
        (ListStackResources, all pages)."""
        return self._list_resources(self.name)

    def _list_resources(self, stack: str) -> list[Resource]:
        found: list[Resource] = []
        paginator = self._cloudformation.get_paginator("list_stack_resources")
        try:
            for page in paginator.paginate(StackName=stack):
                for summary in page.get("StackResourceSummaries", []):
                    resource = Resource(
                        logical_id=summary["LogicalResourceId"],
                        physical_id=summary.get("PhysicalResourceId", ""),
                        resource_type=summary["ResourceType"],
                        status=summary.get("ResourceStatus", ""),
                    )
                    found.append(resource)
                    if resource.resource_type == NESTED_STACK_TYPE and resource.physical_id:
                        found.extend(self._list_resources(resource.physical_id))
        except ClientError as error:
            raise _stack_error(stack, error) from error
        return found

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.resource_type == resource_type]

    def resource(self, logical_id: str) -> Resource | None:
        """One resource by logical id (DescribeStackResource); None when the stack has
        no such resource. StackUnavailable when the stack does not exist or CloudFormation
        refuses to describe it."""
        try:
            detail = self._cloudformation.describe_stack_resource(
                StackName=self.name, LogicalResourceId=logical_id
            )["StackResourceDetail"]
        except ClientError as error:
            message = error.response.get("Error", {}).get("Message", "")
            if "does not exist for stack" in message:
                return self._nested_resource(logical_id)
            problem = _stack_error(self.name, error)
            if "does not exist" in message or error_code(error) in ACCESS_DENIED:
                raise StackUnavailable(str(problem), exit_code=problem.exit_code) from error
            raise problem from error
        return Resource(
            logical_id=detail["LogicalResourceId"],
            physical_id=detail.get("PhysicalResourceId", ""),
            resource_type=detail["ResourceType"],
            status=detail.get("ResourceStatus", ""),
        )

    def _nested_resource(self, logical_id: str) -> Resource | None:
        """A resource the root stack does not hold itself: one of a nested stack's."""
        return next(
            (
                resource
                for resource in self.resources
                if resource.logical_id == logical_id and resource.resource_type != NESTED_STACK_TYPE
            ),
            None,
        )

    def jobs_table(self) -> str:
        """The job ledger's table name: the JobsTableName output, else the JobsTable
        resource."""
        name = self.outputs.get("JobsTableName")
        if name:
            return name
        resource = self.resource("JobsTable")
        if resource is None or resource.resource_type != TABLE_TYPE:
            raise CliError(f"stack {self.name} has no JobsTable: is it a Dropzone stack?")
        return resource.physical_id


def _stack_error(name: str, error: ClientError) -> CliError:
    message = error.response.get("Error", {}).get("Message", "")
    if "does not exist" in message:
        return CliError(
            f"stack {name} does not exist in this account and region "
            "(set --stack / --region, or use --local for the local demo state)",
            exit_code=1,
        )
    return CliError(aws_error_message(error), exit_code=1)
