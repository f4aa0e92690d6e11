"""template.yaml's stack, provisioned on moto: KMS keys, buckets, tables and their streams,
queues with their redrive policies, topics and subscriptions, EventBridge rules with their
patterns, and the functions with their environments and event sources. API Gateway HTTP APIs
are not provisioned (nothing local calls them), but their Ref and GetAtt resolve to stable
ids and URLs."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dropzone_local.functions import LocalFunction
from dropzone_local.intrinsics import Resolver

ACCOUNT = "123456789012"
KMS_KEY = "AWS::KMS::Key"
_API_GATEWAY_V2 = "AWS::ApiGatewayV2::"


def create_table(dynamodb: Any, table_name: str, properties: dict[str, Any]) -> str | None:
    """Create a table as the template declares it: keys, indexes and stream. Returns the
    stream's ARN, if the table has one."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if properties.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    if "StreamSpecification" in properties:
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            **properties["StreamSpecification"],
        }
    table = dynamodb.create_table(**request)["TableDescription"]
    stream_arn: str | None = table.get("LatestStreamArn")
    return stream_arn


class LocalStack:
    """The stack's resources by logical id: their physical names and ARNs, the stack's
    parameters and outputs, and its functions."""

    def __init__(
        self,
        template: dict[str, Any],
        template_path: Path,
        *,
        stack_name: str,
        region: str,
        parameters: dict[str, str],
        function_environment: dict[str, str],
    ) -> None:
        self.template = template
        self.template_path = template_path
        self.stack_name = stack_name
        self.region = region
        self.functions: dict[str, LocalFunction] = {}
        self.observer_queue = ""  # the queue of our own subscriber to status events
        self._function_environment = function_environment
        self._physical: dict[str, str] = {}
        self._arns: dict[str, str] = {}
        self._resolver = self._make_resolver(parameters)

    def output(self, name: str) -> str:
        return str(self._resolver(self.template["Outputs"][name]["Value"]))

    def deployed_output(self, name: str) -> str:
        """An output's value, or "" when the template has no such output or its
        condition leaves it out."""
        output = self.template.get("Outputs", {}).get(name)
        if output is None:
            return ""
        if "Condition" in output and not self._resolver.condition(output["Condition"]):
            return ""
        return str(self._resolver(output["Value"]))

    def parameter(self, name: str) -> str:
        return str(self._resolver.reference(name))

    def function_named(self, name: str) -> str | None:
        """A function's logical id from any name Lambda accepts: the name, a full or
        partial ARN (with or without a qualifier), or the template's logical id."""
        if name in self.functions:
            return name
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) >= 7 else ""
        elif ":function:" in name:
            name = name.split(":function:", 1)[1].split(":", 1)[0]
        else:
            name = name.split(":", 1)[0]
        for logical_id in self.functions:
            if self.ref(logical_id) == name or logical_id == name:
                return logical_id
        return None

    # -- names and ARNs ------------------------------------------------------------------

    def _make_resolver(self, overrides: dict[str, str]) -> Resolver:
        declared = self.template.get("Parameters", {})
        check_parameters(declared, overrides)
        parameters = {
            name: str(overrides.get(name, spec.get("Default", "")))
            for name, spec in declared.items()
        }
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        return Resolver(
            self.template,
            parameters=parameters,
            pseudo=pseudo,
            ref=self.ref,
            get_att=self.get_att,
        )

    def ref(self, logical_id: str) -> str:
        if logical_id not in self._physical:
            resource = self.template["Resources"][logical_id]
            if resource["Type"] == KMS_KEY:  # its KeyId is KMS's, known once created
                raise LookupError(f"{logical_id} is a KMS key that provision() has not created")
            self._physical[logical_id] = self._physical_name(logical_id, resource)
        return self._physical[logical_id]

    def _physical_name(self, logical_id: str, resource: dict[str, Any]) -> str:
        resource_type = resource["Type"]
        base = f"{self.stack_name}-{logical_id}"
        if resource_type == "AWS::ApiGatewayV2::Stage":
            stage_name = resource.get("Properties", {}).get("StageName")
            if isinstance(stage_name, str):
                return stage_name
        if resource_type.startswith(_API_GATEWAY_V2):
            # API Gateway's ids are 10 lower-case letters and digits: the same for the same
            # stack and resource, so URLs built from them stay put between runs.
            digest = hashlib.sha256(base.encode()).digest()
            alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
            return "".join(alphabet[byte % len(alphabet)] for byte in digest[:10])
        if resource_type == "AWS::S3::Bucket":
            return base.lower()[:63]
        if resource_type == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{base}"
        if resource_type == "AWS::SNS::Topic":
            return f"arn:aws:sns:{self.region}:{ACCOUNT}:{base}"
        return base

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource_type = self.template["Resources"][logical_id]["Type"]
        name = self.ref(logical_id)
        if resource_type == "AWS::SQS::Queue":
            queue_name = name.rsplit("/", 1)[1]
            return {"QueueName": queue_name, "QueueUrl": name}.get(
                attribute, f"arn:aws:sqs:{self.region}:{ACCOUNT}:{queue_name}"
            )
        if resource_type == "AWS::DynamoDB::Table" and attribute == "StreamArn":
            return self._arns[f"{logical_id}.StreamArn"]
        if resource_type == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}"
        if resource_type == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if resource_type == "AWS::SNS::Topic":
            return {"TopicName": name.rsplit(":", 1)[1]}.get(attribute, name)
        if resource_type == "AWS::Events::Rule":
            return f"arn:aws:events:{self.region}:{ACCOUNT}:rule/{name}"
        if resource_type == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT}:role/{name}"
        if resource_type == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"
        if resource_type == KMS_KEY:
            return name if attribute == "KeyId" else self._arns[f"{logical_id}.Arn"]
        if resource_type == "AWS::ApiGatewayV2::Api" and attribute == "ApiEndpoint":
            return f"https://{name}.execute-api.{self.region}.amazonaws.com"
        if resource_type == "AWS::ApiGatewayV2::Api" and attribute == "ApiId":
            return name
        return f"arn:aws:local:{self.region}:{ACCOUNT}:{logical_id}/{attribute}"

    def resolved(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """The properties of each resource of a type that is deployed (its condition holds),
        with their intrinsics resolved."""
        return {
            logical_id: self._resolver(resource.get("Properties", {}))
            for logical_id, resource in self._resources(resource_type)
        }

    def _resources(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.template["Resources"].items():
            if resource.get("Type") != resource_type:
                continue
            if "Condition" in resource and not self._resolver.condition(resource["Condition"]):
                continue
            yield logical_id, resource

    # -- provisioning --------------------------------------------------------------------

    def provision(self, client: Callable[[str], Any]) -> None:
        """Create every resource on moto, through `client(service)`."""
        s3, sqs, sns = client("s3"), client("sqs"), client("sns")
        for logical_id, resource in self._resources(KMS_KEY):
            properties = self._resolver(resource.get("Properties", {}))
            request = {
                name: properties[name]
                for name in ("KeySpec", "KeyUsage", "Description")
                if name in properties
            }
            key = client("kms").create_key(**request)["KeyMetadata"]
            self._physical[logical_id] = key["KeyId"]
            self._arns[f"{logical_id}.Arn"] = key["Arn"]
        for logical_id, resource in self._resources("AWS::S3::Bucket"):
            properties = self._resolver(resource.get("Properties", {}))
            bucket = self.ref(logical_id)
            s3.create_bucket(Bucket=bucket)
            if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(
                    Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
                )
            notifications = properties.get("NotificationConfiguration", {})
            if notifications.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
                s3.put_bucket_notification_configuration(
                    Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
                )
        for logical_id, resource in self._resources("AWS::DynamoDB::Table"):
            properties = self._resolver(resource["Properties"])
            stream_arn = create_table(client("dynamodb"), self.ref(logical_id), properties)
            if stream_arn is not None:
                self._arns[f"{logical_id}.StreamArn"] = stream_arn
        queues = list(self._resources("AWS::SQS::Queue"))
        # Dead-letter queues first: redrive policies name them.
        queues.sort(key=lambda item: "RedrivePolicy" in item[1].get("Properties", {}))
        for logical_id, resource in queues:
            properties = self._resolver(resource.get("Properties", {}))
            attributes = {
                name: json.dumps(value) if isinstance(value, dict) else str(value)
                for name, value in properties.items()
                if name
                in ("VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy", "DelaySeconds")
            }
            sqs.create_queue(QueueName=self.get_att(logical_id, "QueueName"), Attributes=attributes)
        for logical_id, _resource in self._resources("AWS::SNS::Topic"):
            sns.create_topic(Name=self.ref(logical_id).rsplit(":", 1)[1])
        for _logical_id, resource in self._resources("AWS::SNS::Subscription"):
            properties = self._resolver(resource["Properties"])
            attributes = {}
            if "RawMessageDelivery" in properties:
                attributes["RawMessageDelivery"] = str(properties["RawMessageDelivery"]).lower()
            sns.subscribe(
                TopicArn=properties["TopicArn"],
                Protocol=properties["Protocol"],
                Endpoint=properties["Endpoint"],
                Attributes=attributes,
            )
        for logical_id, resource in self._resources("AWS::Events::Rule"):
            self._create_rule(client("events"), logical_id, self._resolver(resource["Properties"]))
        self._observe_status_events(sqs, client("events"))
        for logical_id, resource in self._resources("AWS::Serverless::Function"):
            self.functions[logical_id] = self._function(logical_id, resource)

    def _create_rule(self, events: Any, logical_id: str, properties: dict[str, Any]) -> None:
        name = self.ref(logical_id)
        pattern = properties.get("EventPattern")
        if pattern is None:
            return
        events.put_rule(
            Name=name, EventPattern=json.dumps(pattern), State=properties.get("State", "ENABLED")
        )
        targets = [
            {"Id": target["Id"], "Arn": target["Arn"]}
            for target in properties.get("Targets", [])
            if target["Arn"].startswith("arn:aws:sqs:")
        ]
        if targets:
            events.put_targets(Rule=name, Targets=targets)

    def _observe_status_events(self, sqs: Any, events: Any) -> None:
        """A subscriber of our own, as a user would write one, to watch status events."""
        self.observer_queue = sqs.create_queue(QueueName=f"{self.stack_name}-status-observer")[
            "QueueUrl"
        ]
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{self.stack_name}-status-observer"
        events.put_rule(
            Name=f"{self.stack_name}-status-observer",
            EventPattern=json.dumps(
                {"source": ["dropzone"], "detail-type": ["Dropzone Job Status Change"]}
            ),
        )
        events.put_targets(
            Rule=f"{self.stack_name}-status-observer", Targets=[{"Id": "observer", "Arn": arn}]
        )

    def _function(self, logical_id: str, resource: dict[str, Any]) -> LocalFunction:
        globals_ = self.template.get("Globals", {}).get("Function", {})
        properties = resource.get("Properties", {})
        code_uri = properties.get("CodeUri", globals_.get("CodeUri", "."))
        handler = properties.get("Handler", globals_.get("Handler", "app.handler"))
        module_path, _, handler_name = handler.rpartition(".")
        environment = {
            **self._resolver(globals_.get("Environment", {}).get("Variables", {})),
            **self._resolver(properties.get("Environment", {}).get("Variables", {})),
        }
        function = LocalFunction(
            logical_id=logical_id,
            handler_path=self.template_path.parent
            / code_uri
            / (module_path.replace(".", "/") + ".py"),
            handler_name=handler_name,
            environment={
                # what the Lambda runtime sets for every function
                "AWS_REGION": self.region,
                "AWS_LAMBDA_FUNCTION_NAME": logical_id,
                **{k: str(v) for k, v in environment.items()},
                **self._function_environment,
            },
            timeout_seconds=int(
                self._resolver(properties.get("Timeout", globals_.get("Timeout", 3)))
            ),
            memory_mb=int(
                self._resolver(properties.get("MemorySize", globals_.get("MemorySize", 128)))
            ),
        )
        for event in properties.get("Events", {}).values():
            event_properties = self._resolver(event.get("Properties", {}))
            if event["Type"] == "SQS":
                queue_name = event_properties["Queue"].rsplit(":", 1)[1]
                url = f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{queue_name}"
                function.sqs_sources.append((url, int(event_properties.get("BatchSize", 10))))
            elif event["Type"] == "DynamoDB":
                function.stream_sources.append(
                    (event_properties["Stream"], int(event_properties.get("BatchSize", 100)))
                )
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                function.schedules.append(event_properties.get("ScheduleExpression", ""))
        destination = self._resolver(
            properties.get("EventInvokeConfig", {})
            .get("DestinationConfig", {})
            .get("OnFailure", {})
        )
        if destination.get("Type") == "SQS":
            queue_name = str(destination["Destination"]).rsplit(":", 1)[1]
            function.on_failure_queue = (
                f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{queue_name}"
            )
        return function


def check_parameters(declared: dict[str, Any], overrides: dict[str, str]) -> None:
    """Refuse parameter values CloudFormation would refuse: a name the template does not
    declare, or a value outside its AllowedValues, AllowedPattern, or a Number's bounds."""
    problems = []
    for name, value in overrides.items():
        spec = declared.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(declared), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{name}: the template has no such parameter{hint}")
            continue
        text = str(value)
        allowed = spec.get("AllowedValues")
        if allowed is not None and text not in [str(item) for item in allowed]:
            problems.append(f"{name}: {text!r} is not one of {', '.join(map(str, allowed))}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, text):
            problems.append(f"{name}: {text!r} does not match {pattern}")
        if spec.get("Type") == "Number":
            try:
                number = float(text)
            except ValueError:
                problems.append(f"{name}: {text!r} is not a number")
                continue
            low, high = spec.get("MinValue"), spec.get("MaxValue")
            if (low is not None and number < float(low)) or (
                high is not None and number > float(high)
            ):
                problems.append(f"{name}: {text} is outside {low}..{high}")
    if problems:
        raise ValueError("parameters the template refuses: " + "; ".join(problems))
