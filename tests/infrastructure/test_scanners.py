"""The template scanners (make scan) run with every make test, and nothing they would report
is silenced without a reason: each checkov skip in a resource's Metadata gives its comment,
each cfn-lint ignore_checks entry its comment on the same line, and each parliament finding
the policy audit lets pass its reason. The audit resolves intrinsics to ARNs of each
resource type's real format, and judges both branches of an Fn::If."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from dropzone_local.template import TEMPLATE_PATH, read_document

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = [TEMPLATE_PATH, *sorted((ROOT / "stacks").glob("*.yaml"))]
CHECKOV_ID = re.compile(r"CKV2?_[A-Z0-9]+_\d+")
CFN_LINT_ID = re.compile(r"[EWI]S?\d{4}")  # cfn-lint's E3012; the serverless rules' ES6000
INLINE_CHECKOV = re.compile(r"(?:checkov|bridgecrew):skip=([^\s:]*)(?::(.*))?")
MIN_REASON_WORDS = 3


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _is_reason(text: Any) -> bool:
    return isinstance(text, str) and len(text.split()) >= MIN_REASON_WORDS


def _makefile() -> str:
    return (ROOT / "Makefile").read_text(encoding="utf-8")


def _prerequisites(target: str) -> list[str]:
    (line,) = re.findall(rf"^{re.escape(target)}:([^#\n=]*)", _makefile(), flags=re.MULTILINE)
    return line.split()


def _recipe(target: str) -> str:
    (recipe,) = re.findall(
        rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", _makefile(), flags=re.MULTILINE
    )
    return str(recipe)


@cache
def _policy_audit() -> ModuleType:
    path = ROOT / "scripts" / "check_policies.py"
    spec = importlib.util.spec_from_file_location("check_policies", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------- suppressions


@pytest.mark.parametrize("path", TEMPLATES, ids=_name)
def test_every_checkov_skip_names_a_check_and_gives_its_reason(path: Path) -> None:
    problems = []
    for logical_id, resource in read_document(path)["Resources"].items():
        metadata = resource.get("Metadata", {})
        for tool in ("checkov", "bridgecrew"):
            for skip in metadata.get(tool, {}).get("skip", []):
                check = skip.get("id") if isinstance(skip, dict) else skip
                if not isinstance(check, str) or not CHECKOV_ID.fullmatch(check):
                    problems.append(f"{logical_id}: {check!r} is not a checkov check id")
                elif not _is_reason(skip.get("comment")):
                    problems.append(f"{logical_id}: {check} has no reason (comment)")
    assert problems == []


@pytest.mark.parametrize("path", TEMPLATES, ids=_name)
def test_every_inline_checkov_skip_names_a_check_and_gives_its_reason(path: Path) -> None:
    problems = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for check, reason in INLINE_CHECKOV.findall(line):
            if not CHECKOV_ID.fullmatch(check) or not _is_reason(reason):
                problems.append(f"line {number}: {line.strip()}")
    assert problems == []


def _mapping_value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for name, value in node.value if name.value == key), None)


def _ignore_checks(metadata: yaml.Node | None) -> list[yaml.Node]:
    config = _mapping_value(_mapping_value(metadata, "cfn-lint"), "config")
    checks = _mapping_value(config, "ignore_checks")
    if checks is None:
        return []
    return checks.value if isinstance(checks, yaml.SequenceNode) else [checks]


@pytest.mark.parametrize("path", TEMPLATES, ids=_name)
def test_every_cfn_lint_ignored_check_is_one_check_with_its_reason_beside_it(path: Path) -> None:
    """`ignore_checks` has no field for a reason: each entry stands on its own line with its
    reason in a comment after it, `- ES6000  # a dead-letter queue: ...`."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    resources = _mapping_value(root, "Resources")
    assert isinstance(resources, yaml.MappingNode)
    places = [("the template", _mapping_value(root, "Metadata"))] + [
        (name.value, _mapping_value(resource, "Metadata")) for name, resource in resources.value
    ]
    problems = []
    for where, metadata in places:
        checks = _ignore_checks(metadata)
        rows = [check.start_mark.line for check in checks]
        for check in checks:
            row = check.start_mark.line
            after = lines[row][check.end_mark.column :] if check.end_mark.line == row else ""
            if not isinstance(check, yaml.ScalarNode) or not CFN_LINT_ID.fullmatch(check.value):
                problems.append(f"{where}: {check.value!r} is not one cfn-lint check id")
            elif rows.count(row) > 1 or not _is_reason(after.partition("#")[2]):
                problems.append(f"{where}: {check.value} has no reason of its own beside it")
    assert problems == []


# ------------------------------------------------------------------ scan configuration


def test_make_test_runs_every_scanner() -> None:
    assert "scan" in _prerequisites("test")
    assert sorted(_prerequisites("scan")) == ["cfn-lint", "checkov", "parliament"]


def test_checkov_scans_every_template_as_cloudformation_offline() -> None:
    recipe = _recipe("checkov")
    assert "--framework cloudformation" in recipe
    assert "$(TEMPLATES)" in recipe
    # without it checkov fetches check metadata from its vendor's service
    assert "--skip-download" in recipe
    assert "--soft-fail" not in recipe


def test_cfn_lint_runs_the_serverless_rules_from_the_dev_dependencies() -> None:
    assert "--append-rules cfn_lint_serverless.rules -- $(TEMPLATES)" in _recipe("cfn-lint")
    with (ROOT / "pyproject.toml").open("rb") as handle:
        dev = tomllib.load(handle)["dependency-groups"]["dev"]
    assert [d for d in dev if re.match(r"cfn-lint-serverless\b", d)], dev


def test_the_policy_audit_covers_every_template() -> None:
    assert "scripts/check_policies.py" in _recipe("parliament")
    assert "$(TEMPLATES)" in _recipe("parliament")


def test_every_finding_the_policy_audit_lets_pass_has_its_reason_and_none_is_resource_star() -> (
    None
):
    allowances = _policy_audit().ALLOWED
    assert [a.issue for a in allowances if a.issue == "RESOURCE_STAR"] == []
    assert [a.issue for a in allowances if not _is_reason(a.reason)] == []


# ------------------------------------------------------------------ the audit's resolver


def _stack(resources: dict[str, Any], **extra: Any) -> Any:
    audit = _policy_audit()
    template = {"Parameters": {}, "Resources": resources, **extra}
    return audit.Stack(ROOT / "template.yaml", template, template, "dropzone", None)


def test_the_policy_audit_gives_each_resource_an_arn_of_its_real_format() -> None:
    stack = _stack(
        {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Table": {"Type": "AWS::DynamoDB::Table"},
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Logs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${AWS::StackName}/Fn"}},
            },
        }
    )
    resolved = {
        "queue": {"Fn::GetAtt": ["Queue", "Arn"]},
        "index": {"Fn::Sub": "${Table.Arn}/index/by-state"},
        "objects": {"Fn::Sub": "${Bucket.Arn}/reports/*"},
        "topic": {"Ref": "Topic"},
        "logs": {"Fn::GetAtt": ["Logs", "Arn"]},
    }
    assert stack.single(resolved, "test") == {
        "queue": "arn:aws:sqs:us-east-1:123456789012:Queue",
        "index": "arn:aws:dynamodb:us-east-1:123456789012:table/Table/index/by-state",
        "objects": "arn:aws:s3:::bucket/reports/*",
        "topic": "arn:aws:sns:us-east-1:123456789012:Topic",
        "logs": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/dropzone/Fn:*",
    }


def test_the_policy_audit_judges_both_branches_of_a_condition_in_a_policy() -> None:
    stack = _stack(
        {"Queue": {"Type": "AWS::SQS::Queue"}},
        Conditions={"Off": {"Fn::Equals": ["a", "b"]}},
    )
    statements = [
        {
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::If": ["Off", {"Fn::GetAtt": ["Queue", "Arn"]}, "*"]},
        },
        {"Fn::If": ["Off", {"Effect": "Allow"}, {"Ref": "AWS::NoValue"}]},
    ]
    (union,) = stack.values(statements, union=True, where="test")
    assert union == [
        {
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": ["arn:aws:sqs:us-east-1:123456789012:Queue", "*"],
        },
        {"Effect": "Allow"},
    ]
    (decided,) = stack.values(statements, union=False, where="test")
    assert decided == [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]
