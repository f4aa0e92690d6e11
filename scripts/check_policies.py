"""Audit every IAM policy document of the templates with parliament (make parliament).

Run with the Python of parliament's own tool environment:

    scripts/uv.sh tool run --from parliament==<version> --with setuptools==<version> \\
        python scripts/check_policies.py --sam-cli-version <version> template.yaml stacks/*.yaml

The templates are expanded by AWS SAM's translator (scripts/sam_expand.py, run with the
pinned SAM CLI's Python), so the roles, inline policies and resource policies SAM derives
are audited as CloudFormation would create them. Every intrinsic is then resolved to a
concrete, realistic value: a parameter to its value (a nested template's to what its parent
passes), a pseudo parameter to us-east-1 / 123456789012 / aws, and a `Ref` or `Fn::GetAtt`
of a resource to a placeholder of that resource type's format (a queue's ARN is
arn:aws:sqs:us-east-1:123456789012:<LogicalId>, a table's ...:table/<LogicalId>, a log
group's ...:log-group:<name>:*), so parliament can tell whether each resource fits its
action. An `Fn::If` inside a policy document counts with both of its branches: the audit
judges everything either branch can grant. Elsewhere (a value passed to a nested stack) an
`Fn::If` is decided with every part of the stack switched on (SCAN_PARAMETERS).

Audited: the inline policies of AWS::IAM::Role, User and Group; AWS::IAM::Policy and
AWS::IAM::ManagedPolicy; and the resource policies of queues, topics, buckets, KMS keys and
log resource policies. Not audited, and counted as such: trust policies (parliament needs a
Resource element, which a trust policy has none of) and AWS managed policies (named by ARN:
their documents are not in the templates).

Every finding is printed and counted by type. Any finding fails the run, RESOURCE_STAR (an
action that supports resource-level permissions granted on "*") above all, except the
findings ALLOWED describes, each with the reason it does not fail.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXPANDER = ROOT / "scripts" / "sam_expand.py"
UV = ROOT / "scripts" / "uv.sh"

REGION = "us-east-1"
ACCOUNT = "123456789012"
PARTITION = "aws"
ROOT_STACK_NAME = "dropzone"

# Root parameters set for the audit, over their defaults: every optional part switched on,
# so every resource and every permission is there. GreengrassTargets fills all ten of its
# slots in stacks/model_packaging.yaml.
SCAN_PARAMETERS = {
    "EnableSageMakerAsync": "true",
    "EnableBedrockBatch": "true",
    "EnableModelPackaging": "true",
    "EnableEdgeDeployment": "true",
    "EdgeManagerSync": "Enabled",
    "EdgeEndpoint": "Enabled",
    "AlarmEmail": "alarms@example.com",
    "GreengrassTargets": ",".join([f"line-{n}-core" for n in range(1, 10)] + ["factory-a-*"]),
}


@dataclass(frozen=True)
class Allowance:
    """Findings of one type that are printed and counted but do not fail the run: those about
    only these actions (any, when None) and, for RESOURCE_MISMATCH, only a missing resource
    of this type (any, when None)."""

    issue: str
    reason: str
    actions: frozenset[str] | None = None
    resource_types: frozenset[str] | None = None
    # what must also hold of the policy document for the allowance to apply
    holds: Callable[[dict[str, Any]], bool] | None = None


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _passes_only_named_roles(document: dict[str, Any]) -> bool:
    """Every statement allowing iam:PassRole names roles without a wildcard and the one
    service each may be passed to."""
    for statement in _statements(document):
        actions = [str(a).lower() for a in _as_list(statement.get("Action", []))]
        if statement.get("Effect") != "Allow" or not any(
            a in ("iam:passrole", "iam:*", "*") for a in actions
        ):
            continue
        resources = _as_list(statement.get("Resource", "*"))
        services = statement.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")
        if any("*" in str(r) for r in resources) or not isinstance(services, str):
            return False
    return True


def _delegates_key_to_the_account(document: dict[str, Any]) -> bool:
    """A key policy whose every statement only hands its key to this account's IAM policies:
    Allow, the account's root as the one principal, KMS actions alone, no other key."""
    root = {"AWS": f"arn:{PARTITION}:iam::{ACCOUNT}:root"}
    statements = _statements(document)
    return bool(statements) and all(
        statement.get("Effect") == "Allow"
        and statement.get("Principal") == root
        and all(str(action).startswith("kms:") for action in _as_list(statement.get("Action")))
        and all(":kms:" in str(resource) for resource in _as_list(statement.get("Resource")))
        for statement in statements
    )


# Every finding fails the run but these, each with the reason it does not. RESOURCE_STAR is
# never allowed.
ALLOWED = (
    Allowance(
        "RESOURCE_MISMATCH",
        "CreateModelInvocationJob is authorized against the one model the job names: a "
        "foundation model, an inference profile or a custom model. Parliament asks for every "
        "model type at once; Dropzone runs foundation models and inference profiles only "
        "(docs/workflows/bedrock-batch.md), so it grants no custom-model.",
        actions=frozenset({"bedrock:createmodelinvocationjob"}),
        resource_types=frozenset({"custom-model"}),
    ),
    Allowance(
        "RESOURCE_MISMATCH",
        "InvokeModel (the permission Converse needs too) is authorized against the one model "
        "it names. Parliament asks for every kind of model at once; Dropzone's on-demand "
        "finishing calls the model of a batch upload, a foundation model or an inference "
        "profile (docs/workflows/bedrock-batch.md), so it grants none of the others.",
        actions=frozenset({"bedrock:invokemodel"}),
        resource_types=frozenset(
            {
                "application-inference-profile",
                "async-invoke",
                "marketplace",
                "default-prompt-router",
                "imported-model",
                "provisioned-model",
            }
        ),
    ),
    Allowance(
        "UNKNOWN_ACTION",
        "bedrock:CountTokens is the IAM action of bedrock-runtime's CountTokens, an operation "
        "of August 2025 that parliament's action list predates; Dropzone grants it on "
        "foundation-model ARNs only (stacks/bedrock_batch.yaml). Allowed for this action only.",
        actions=frozenset({"bedrock:counttokens"}),
    ),
    Allowance(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        "iam:PassRole is how a service is handed the role the stack made for it (Bedrock's "
        "batch jobs run as BedrockServiceRole). Parliament flags the action wherever it is; "
        "allowed only where each PassRole names its roles without a wildcard and the one "
        "service they may be passed to (iam:PassedToService).",
        actions=frozenset({"iam:passrole"}),
        holds=_passes_only_named_roles,
    ),
    Allowance(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        "A key policy must let the account administer its key (KMS refuses one that would "
        "lock out the principal creating it from kms:PutKeyPolicy). Naming the account's root "
        "hands every decision to the account's IAM policies, which grant each role only what "
        "it uses (EdgeEndpointFunctionRole: kms:GenerateMac on EdgeCredentialsKey). Allowed "
        "only in key policies whose every statement does exactly that.",
        holds=_delegates_key_to_the_account,
    ),
    Allowance(
        "RESOURCE_MISMATCH",
        "kms:* in a key policy also names actions that act on no key (CreateKey, ListKeys, "
        "aliases, custom key stores); a key policy cannot grant those, so they grant nothing. "
        "Allowed only in key policies whose every statement hands the key to the account's "
        "IAM policies.",
        holds=_delegates_key_to_the_account,
    ),
)
if any(allowance.issue == "RESOURCE_STAR" for allowance in ALLOWED):
    raise SystemExit("RESOURCE_STAR is never allowed")

# Policy documents: resource type → (what kind, the property holding the document or a
# list of {PolicyName, PolicyDocument}).
IDENTITY = "identity"
RESOURCE = "resource"
POLICY_LISTS = {  # inline policies: a list of {PolicyName, PolicyDocument}
    "AWS::IAM::Role": "Policies",
    "AWS::IAM::User": "Policies",
    "AWS::IAM::Group": "Policies",
}
POLICY_DOCUMENTS = {
    "AWS::IAM::Policy": (IDENTITY, "PolicyDocument"),
    "AWS::IAM::ManagedPolicy": (IDENTITY, "PolicyDocument"),
    "AWS::SQS::QueuePolicy": (RESOURCE, "PolicyDocument"),
    "AWS::SNS::TopicPolicy": (RESOURCE, "PolicyDocument"),
    "AWS::S3::BucketPolicy": (RESOURCE, "PolicyDocument"),
    "AWS::KMS::Key": (RESOURCE, "KeyPolicy"),
    "AWS::Logs::ResourcePolicy": (RESOURCE, "PolicyDocument"),
}


class ScanError(Exception):
    """The templates hold something this audit cannot resolve to a concrete value."""


# ------------------------------------------------------------------------------ reading


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns short-form intrinsics (!Ref, !Sub, ...) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def read_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader
    if not isinstance(document, dict) or "Resources" not in document:
        raise ScanError(f"{path} is not a CloudFormation template")
    return document


def expand(templates: list[dict[str, Any]], sam_cli_version: str) -> list[dict[str, Any]]:
    """The templates as AWS SAM's translator expands them (plain templates as they are)."""
    sam = [t for t in templates if "AWS::Serverless-2016-10-31" in str(t.get("Transform", ""))]
    if not sam:
        return templates
    result = subprocess.run(  # noqa: S603 - our own script, with the pinned SAM CLI
        [
            str(UV),
            "tool",
            "run",
            "--from",
            f"aws-sam-cli=={sam_cli_version}",
            "python",
            str(EXPANDER),
        ],
        input=json.dumps(sam),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": REGION},
    )
    if result.returncode != 0:
        raise ScanError(f"SAM's translator failed:\n{result.stderr[-3000:]}")
    expanded = iter(json.loads(result.stdout))
    return [next(expanded) if t in sam else t for t in templates]


# ---------------------------------------------------------------------------- resolving


def _unique(values: list[Any]) -> list[Any]:
    found: list[Any] = []
    for value in values:
        if value not in found:
            found.append(value)
    return found


def _merged(alternatives: list[Any], where: str) -> Any:
    """A field whose value has several alternatives (both branches of an Fn::If): a list
    of them all, which IAM reads as granting each."""
    if len(alternatives) == 1:
        return alternatives[0]
    merged: list[Any] = []
    for alternative in alternatives:
        if isinstance(alternative, dict):
            raise ScanError(f"{where}: an Fn::If chooses between two objects")
        merged.extend(alternative if isinstance(alternative, list) else [alternative])
    return _unique(merged)


class Stack:
    """One template, expanded, and what its intrinsics resolve to.

    `values(node, union)` answers a node's possible values: one, except where `union`
    counts both branches of an Fn::If; none for AWS::NoValue.
    """

    def __init__(
        self,
        path: Path,
        raw: dict[str, Any],
        expanded: dict[str, Any],
        stack_name: str,
        passed: tuple[Stack, dict[str, Any]] | None,
    ) -> None:
        self.path = path
        self.raw = raw
        self.template = expanded
        self.stack_name = stack_name
        self._passed = passed  # (parent stack, the parameters it passes) for a nested stack
        self.nested: dict[str, Stack] = {}
        self._parameters: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return (
            self.path.relative_to(ROOT).as_posix()
            if self.path.is_relative_to(ROOT)
            else str(self.path)
        )

    # -- parameters, conditions, outputs (always decided, never a union)

    def parameter(self, name: str) -> Any:
        if name not in self._parameters:
            self._parameters[name] = self._parameter(name)
        return self._parameters[name]

    def _parameter(self, name: str) -> Any:
        spec = self.template.get("Parameters", {}).get(name)
        if spec is None:
            raise ScanError(f"{self.name}: no parameter {name}")
        if self._passed is not None:
            parent, given = self._passed
            if name in given:
                value = parent.single(given[name], f"{parent.name}: {name} passed to {self.name}")
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise ScanError(f"{parent.name} passes no {name} to {self.name}")
        else:
            value = SCAN_PARAMETERS.get(name, spec.get("Default"))
            if value is None:
                raise ScanError(f"{self.name}: parameter {name} has no default to audit with")
        kind = str(spec.get("Type", "String"))
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            return value if isinstance(value, list) else str(value).split(",")
        return str(value)

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions", {})
        if name not in conditions:
            raise ScanError(f"{self.name}: no condition {name}")
        return bool(self.single(conditions[name], f"{self.name}: condition {name}"))

    def output(self, name: str) -> Any:
        outputs = self.template.get("Outputs", {})
        if name not in outputs:
            raise ScanError(f"{self.name}: no output {name}")
        return self.single(outputs[name]["Value"], f"{self.name}: output {name}")

    def single(self, node: Any, where: str) -> Any:
        values = self.values(node, union=False, where=where)
        if len(values) != 1:
            raise ScanError(f"{where}: no single value")
        return values[0]

    # -- intrinsics

    def values(self, node: Any, *, union: bool, where: str) -> list[Any]:
        if isinstance(node, list):
            items: list[Any] = []
            for item in node:
                items.extend(self.values(item, union=union, where=where))
            return [items]
        if not isinstance(node, dict):
            return [node]
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self._ref(argument, where)
            if key.startswith("Fn::") or key == "Condition":
                return self._function(key, argument, union, where)
        resolved = {}
        for key, value in node.items():
            alternatives = self.values(value, union=union, where=f"{where}.{key}")
            if alternatives:
                resolved[key] = _merged(alternatives, f"{where}.{key}")
        return [resolved]

    def _ref(self, name: str, where: str) -> list[Any]:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": _stack_id(self.stack_name),
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return []
        if name in pseudo:
            return [pseudo[name]]
        if name in self.template.get("Parameters", {}):
            return [self.parameter(name)]
        return [self._resource_ref(name, where)]

    def _function(self, key: str, argument: Any, union: bool, where: str) -> list[Any]:
        if key == "Fn::If":
            name, when_true, when_false = argument
            if union:
                return _unique(
                    self.values(when_true, union=union, where=where)
                    + self.values(when_false, union=union, where=where)
                )
            chosen = when_true if self.condition(name) else when_false
            return self.values(chosen, union=union, where=where)
        if key == "Condition":
            return [self.condition(argument)]
        if key == "Fn::Equals":
            left, right = (str(self.single(side, where)) for side in argument)
            return [left == right]
        if key == "Fn::Not":
            return [not self.single(argument[0], where)]
        if key == "Fn::And":
            return [all(self.single(item, where) for item in argument)]
        if key == "Fn::Or":
            return [any(self.single(item, where) for item in argument)]
        if key == "Fn::GetAtt":
            logical_id, attribute = (
                argument if isinstance(argument, list) else argument.split(".", 1)
            )
            return [self._get_att(str(logical_id), str(attribute), where)]
        if key == "Fn::Sub":
            return self._sub(argument, union, where)
        if key == "Fn::Join":
            delimiter, items = argument
            return [
                str(delimiter).join(str(i) for i in parts)
                for parts in self._lists(items, union, where)
            ]
        if key == "Fn::Split":
            delimiter, source = argument
            return [
                str(text).split(delimiter) for text in self.values(source, union=union, where=where)
            ]
        if key == "Fn::Select":
            index, items = argument
            position = int(self.single(index, where))
            return _unique([parts[position] for parts in self._lists(items, union, where)])
        if key == "Fn::FindInMap":
            mapping, first, second = (self.single(part, where) for part in argument[:3])
            return [self.template["Mappings"][mapping][first][second]]
        if key == "Fn::GetAZs":
            return [[f"{REGION}a", f"{REGION}b", f"{REGION}c"]]
        if key == "Fn::ToJsonString":
            return [json.dumps(value) for value in self.values(argument, union=union, where=where)]
        raise ScanError(f"{self.name} {where}: {key} is not resolved by this audit")

    def _lists(self, items: Any, union: bool, where: str) -> list[list[Any]]:
        """The possible lists an Fn::Join or Fn::Select reads: each element's alternatives
        combined (a literal list), or what a list-valued function answers."""
        if isinstance(items, list):
            choices = [self.values(item, union=union, where=where) for item in items]
            return [list(combination) for combination in itertools.product(*choices)]
        return [list(value) for value in self.values(items, union=union, where=where)]

    def _sub(self, argument: Any, union: bool, where: str) -> list[str]:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        names = _unique(re.findall(r"\$\{([^}!][^}]*)\}", text))
        choices = []
        for name in names:
            if name in variables:
                choices.append(self.values(variables[name], union=union, where=where))
            elif "." in name:
                logical_id, attribute = name.split(".", 1)
                choices.append([self._get_att(logical_id, attribute, where)])
            else:
                choices.append(self._ref(name, where))
        results = []
        for combination in itertools.product(*choices):
            value = text
            for name, chosen in zip(names, combination, strict=True):
                value = value.replace("${" + name + "}", str(chosen))
            results.append(re.sub(r"\$\{!", "${", value))
        return _unique(results)

    # -- resources: realistic placeholders of each type's format

    def _resource(self, logical_id: str, where: str) -> dict[str, Any]:
        resource = self.template["Resources"].get(logical_id)
        if resource is None:
            raise ScanError(f"{self.name} {where}: no resource {logical_id}")
        return resource  # type: ignore[no-any-return]

    def _physical_name(self, logical_id: str, where: str) -> str:
        resource = self._resource(logical_id, where)
        properties = resource.get("Properties", {})
        name_properties = {
            "AWS::S3::Bucket": "BucketName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::IAM::Role": "RoleName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Events::Rule": "Name",
            "AWS::Scheduler::Schedule": "Name",
        }
        key = name_properties.get(resource["Type"])
        if key and key in properties:
            return str(self.single(properties[key], f"{logical_id}.{key}"))
        if resource["Type"] == "AWS::S3::Bucket":
            return logical_id.lower()  # bucket names are lower case
        return logical_id

    def _resource_ref(self, logical_id: str, where: str) -> str:
        kind = self._resource(logical_id, where)["Type"]
        name = self._physical_name(logical_id, where)
        arn = f"arn:{PARTITION}:{{}}:{REGION}:{ACCOUNT}:{{}}"
        refs = {
            "AWS::SQS::Queue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
            "AWS::SNS::Topic": arn.format("sns", name),
            "AWS::Lambda::LayerVersion": arn.format("lambda", f"layer:{name}:1"),
            "AWS::CloudFormation::Stack": _stack_id(f"{self.stack_name}-{logical_id}"),
            "AWS::KMS::Key": "1234abcd-12ab-34cd-56ef-1234567890ab",
            "AWS::IAM::ManagedPolicy": f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{name}",
            "AWS::StepFunctions::StateMachine": arn.format("states", f"stateMachine:{name}"),
        }
        return refs.get(kind, name)

    def _get_att(self, logical_id: str, attribute: str, where: str) -> str:
        resource = self._resource(logical_id, where)
        kind = resource["Type"]
        if kind == "AWS::CloudFormation::Stack" and attribute.startswith("Outputs."):
            nested = self.nested.get(logical_id)
            if nested is None:
                raise ScanError(f"{self.name} {where}: {logical_id} is not a template given here")
            return str(nested.output(attribute.removeprefix("Outputs.")))
        name = self._physical_name(logical_id, where)
        arn = f"arn:{PARTITION}:{{}}:{REGION}:{ACCOUNT}:{{}}"
        attributes = {
            ("AWS::SQS::Queue", "Arn"): arn.format("sqs", name),
            ("AWS::SQS::Queue", "QueueName"): name,
            ("AWS::SQS::Queue", "QueueUrl"): f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
            ("AWS::SNS::Topic", "TopicArn"): arn.format("sns", name),
            ("AWS::SNS::Topic", "TopicName"): name,
            ("AWS::S3::Bucket", "Arn"): f"arn:{PARTITION}:s3:::{name}",
            ("AWS::S3::Bucket", "DomainName"): f"{name}.s3.amazonaws.com",
            ("AWS::DynamoDB::Table", "Arn"): arn.format("dynamodb", f"table/{name}"),
            # A real stream label is a timestamp with colons (2024-01-01T00:00:00.000), which
            # parliament wrongly refuses in a stream ARN: the placeholder's label has none.
            ("AWS::DynamoDB::Table", "StreamArn"): arn.format(
                "dynamodb", f"table/{name}/stream/2024-01-01T00.00.00.000"
            ),
            ("AWS::Lambda::Function", "Arn"): arn.format("lambda", f"function:{name}"),
            ("AWS::IAM::Role", "Arn"): f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}",
            ("AWS::IAM::Role", "RoleId"): "AROA1234567890EXAMPLE",
            ("AWS::Logs::LogGroup", "Arn"): arn.format("logs", f"log-group:{name}:*"),
            ("AWS::Events::Rule", "Arn"): arn.format("events", f"rule/{name}"),
            ("AWS::Events::EventBus", "Arn"): arn.format("events", f"event-bus/{name}"),
            ("AWS::Scheduler::Schedule", "Arn"): arn.format(
                "scheduler", f"schedule/default/{name}"
            ),
            ("AWS::KMS::Key", "Arn"): arn.format("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"),
            ("AWS::StepFunctions::StateMachine", "Arn"): arn.format(
                "states", f"stateMachine:{name}"
            ),
            ("AWS::Lambda::LayerVersion", "LayerVersionArn"): arn.format(
                "lambda", f"layer:{name}:1"
            ),
        }
        if (kind, attribute) not in attributes:
            raise ScanError(
                f"{self.name} {where}: no placeholder for {kind} {attribute} "
                f"({logical_id}); add one to scripts/check_policies.py"
            )
        return attributes[(kind, attribute)]


def _stack_id(name: str) -> str:
    return (
        f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/"
        "11111111-2222-3333-4444-555555555555"
    )


def stacks(paths: list[Path], sam_cli_version: str) -> list[Stack]:
    """Each template as a stack: a template another one nests (an AWS::Serverless::Application
    whose Location is that file) gets its parameters from its parent, the others are roots."""
    paths = [path.resolve() for path in paths]
    raws = [read_template(path) for path in paths]
    expanded = expand(raws, sam_cli_version)
    parents: dict[Path, tuple[int, str]] = {}  # nested template → (parent index, logical id)
    for index, (path, raw) in enumerate(zip(paths, raws, strict=True)):
        for logical_id, resource in raw["Resources"].items():
            location = resource.get("Properties", {}).get("Location")
            if resource.get("Type") == "AWS::Serverless::Application" and isinstance(location, str):
                parents[(path.parent / location).resolve()] = (index, logical_id)
    built: dict[int, Stack] = {}

    def build(index: int) -> Stack:
        if index not in built:
            path = paths[index]
            if path in parents:
                parent_index, logical_id = parents[path]
                parent = build(parent_index)
                given = parent.raw["Resources"][logical_id]["Properties"].get("Parameters", {})
                stack = Stack(
                    path,
                    raws[index],
                    expanded[index],
                    f"{parent.stack_name}-{logical_id}-1A2B3C4D5E6F",
                    (parent, given),
                )
                parent.nested[logical_id] = stack
            else:
                stack = Stack(path, raws[index], expanded[index], ROOT_STACK_NAME, None)
            built[index] = stack
        return built[index]

    result = [build(index) for index in range(len(paths))]
    roots = [stack for stack in result if stack._passed is None]
    unknown = set(SCAN_PARAMETERS) - {
        name for stack in roots for name in stack.template.get("Parameters", {})
    }
    if roots and unknown:
        raise ScanError(f"SCAN_PARAMETERS names {sorted(unknown)}, which no root template has")
    return result


# ------------------------------------------------------------------------------ auditing


def documents(stack: Stack) -> tuple[list[tuple[str, str, str, Any]], Counter[str]]:
    """Every policy document of the stack, resolved: (kind, logical id, policy name,
    document); and what is not audited, counted."""
    found = []
    skipped: Counter[str] = Counter()
    for logical_id, resource in stack.template["Resources"].items():
        kind = resource.get("Type")
        properties = resource.get("Properties", {})
        where = f"{logical_id}"
        if kind in POLICY_LISTS:
            if "AssumeRolePolicyDocument" in properties:
                skipped["trust policy (no Resource element for parliament to judge)"] += 1
            managed = stack.values(properties.get("ManagedPolicyArns", []), union=True, where=where)
            skipped["AWS managed policy (no document in the templates)"] += sum(
                1 for arn in managed[0] if ":iam::aws:policy/" in str(arn)
            )
            (policies,) = stack.values(
                properties.get(POLICY_LISTS[kind], []), union=True, where=where
            )
            for policy in policies:
                found.append((IDENTITY, logical_id, policy["PolicyName"], policy["PolicyDocument"]))
        elif kind in POLICY_DOCUMENTS:
            document_kind, key = POLICY_DOCUMENTS[kind]
            (document,) = stack.values(properties[key], union=True, where=f"{where}.{key}")
            if isinstance(document, str):
                document = json.loads(document)
            if kind == "AWS::KMS::Key":
                document = _key_policy_on_its_key(
                    document, stack._get_att(logical_id, "Arn", where)
                )
            found.append((document_kind, logical_id, key, document))
    return found, skipped


def _key_policy_on_its_key(document: dict[str, Any], key_arn: str) -> dict[str, Any]:
    """A key policy with its `"Resource": "*"` written as what it means there: the one key the
    policy is attached to (a key policy governs no other key), so that parliament judges the
    statements against that key's ARN rather than as grants on every resource."""
    statements = [
        {**statement, "Resource": key_arn} if statement.get("Resource") == "*" else statement
        for statement in _statements(document)
    ]
    return {**document, "Statement": statements}


def _subjects(finding: Any) -> list[tuple[str | None, str | None]]:
    """What a finding is about: (action, the resource format parliament asked for)."""
    if finding.issue == "RESOURCE_MISMATCH" and isinstance(finding.detail, list):
        return [(item["action"].lower(), item["required_format"]) for item in finding.detail]
    if finding.issue == "RESOURCE_STAR" and isinstance(finding.detail, list):
        return [(str(action).lower(), None) for action in finding.detail]
    if finding.issue == "UNKNOWN_ACTION" and isinstance(finding.location, dict):
        return [(str(finding.location.get("string")).lower(), None)]
    actions = finding.location.get("actions") if isinstance(finding.location, dict) else None
    if actions:
        return [(str(action).lower(), None) for action in _as_list(actions)]
    return [(None, None)]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _covers(allowance: Allowance, action: str | None, required: str | None) -> bool:
    if allowance.actions is not None and action not in allowance.actions:
        return False
    if allowance.resource_types is None:
        return True
    return required is not None and any(
        f":{resource_type}/" in required for resource_type in allowance.resource_types
    )


def allowed_by(finding: Any, document: dict[str, Any]) -> Allowance | None:
    """The allowance that covers everything the finding is about, if one does."""
    for allowance in ALLOWED:
        if (
            allowance.issue == finding.issue
            and all(_covers(allowance, action, req) for action, req in _subjects(finding))
            and (allowance.holds is None or allowance.holds(document))
        ):
            return allowance
    return None


def describe(finding: Any) -> str:
    extra = {
        key: value
        for key, value in (finding.location if isinstance(finding.location, dict) else {}).items()
        if key not in ("filepath", "line", "column")
    }
    parts = [str(part) for part in (finding.detail, extra) if part]
    return "; ".join(parts) or finding.title


def audit(paths: list[Path], sam_cli_version: str, *, show: bool = False) -> int:
    # parliament's own tool environment; its community auditors (privilege escalation,
    # permissions management, credentials exposure, NotPrincipal / NotResource with Allow,
    # single-valued condition keys tested as sets) run too, with their settings.
    # parliament imports pkg_resources, which warns that it is deprecated.
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    import parliament
    from parliament import analyze_policy_string, enhance_finding

    parliament.override_config(
        Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"
    )

    counts: Counter[str] = Counter()
    allowed: Counter[str] = Counter()
    audited: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    used: list[Allowance] = []
    failing = 0
    for stack in stacks(paths, sam_cli_version):
        found, not_audited = documents(stack)
        skipped.update(not_audited)
        for kind, logical_id, policy_name, document in found:
            audited[kind] += 1
            label = f"{stack.name} {logical_id} {policy_name}"
            if show:
                print(f"# {label}\n{json.dumps(document, indent=2)}")
            policy = analyze_policy_string(
                json.dumps(document),
                filepath=label,
                ignore_private_auditors=True,
                include_community_auditors=True,
            )
            located = [(None, finding) for finding in policy._findings] + [
                (statement.sid or f"statement {number}", finding)
                for number, statement in enumerate(policy.statements, start=1)
                for finding in statement.findings
            ]
            for sid, finding in located:
                enhance_finding(finding)
                counts[finding.issue] += 1
                allowance = allowed_by(finding, document)
                if allowance is None:
                    failing += 1
                else:
                    allowed[finding.issue] += 1
                    used = _unique([*used, allowance])
                where = label + (f" [{sid}]" if sid else "")
                print(
                    f"{'allowed' if allowance else 'FAIL':7} {finding.issue} ({finding.severity}) "
                    f"{where}: {describe(finding)}"
                )
    print(
        f"parliament: {audited[IDENTITY]} identity and {audited[RESOURCE]} resource policy "
        "documents audited"
    )
    for reason, count in sorted(skipped.items()):
        if count:
            print(f"  not audited: {count} {reason}")
    counts["RESOURCE_STAR"] += 0  # always counted, as it always fails
    for issue, count in sorted(counts.items()):
        print(f"  {issue}: {count}" + (f", {allowed[issue]} allowed" if allowed[issue] else ""))
    for allowance in used:
        print(f"  allowed {allowance.issue} ({', '.join(sorted(allowance.actions or ['any']))}):")
        print(f"    {allowance.reason}")
    if failing:
        print(f"parliament: {failing} finding(s) fail the audit")
        return 1
    print("parliament: no finding fails the audit")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sam-cli-version", required=True)
    parser.add_argument(
        "--show", action="store_true", help="print each policy document as it is audited"
    )
    parser.add_argument("templates", nargs="+", type=Path)
    arguments = parser.parse_args()
    try:
        return audit(arguments.templates, arguments.sam_cli_version, show=arguments.show)
    except ScanError as error:
        print(f"parliament: cannot audit the templates: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
