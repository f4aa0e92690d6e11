"""Metrics of two stacks in one account never mix: every function publishes to its root
stack's own namespace, and every alarm on a Dropzone metric watches that namespace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dropzone_local.template import (
    FUNCTION,
    TEMPLATE_PATH,
    nested_applications,
    read_document,
    resources_of_type,
)
from tests.support.fixtures import STACK_METRICS_NAMESPACE

NESTED = nested_applications(read_document(TEMPLATE_PATH), TEMPLATE_PATH)
TEMPLATES = [TEMPLATE_PATH, *NESTED.values()]


def test_every_function_publishes_to_its_stacks_namespace(template: dict[str, Any]) -> None:
    functions = resources_of_type(template, FUNCTION)
    assert functions
    namespaces = {
        name: function["Properties"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
        for name, function in functions.items()
    }
    assert {name: ns for name, ns in namespaces.items() if ns != STACK_METRICS_NAMESPACE} == {}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: Path(path).name)
def test_each_templates_globals_name_the_root_stack(path: Path) -> None:
    document = read_document(path)
    variables = document["Globals"]["Function"]["Environment"]["Variables"]
    stack = "AWS::StackName" if path == TEMPLATE_PATH else "RootStackName"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Fn::Sub": f"Dropzone/${{{stack}}}"}


def test_every_alarm_on_a_dropzone_metric_watches_the_stacks_namespace(
    alarms: dict[str, dict[str, Any]],
) -> None:
    own = {
        name: alarm["Namespace"]
        for name, alarm in alarms.items()
        if not (isinstance(alarm["Namespace"], str) and alarm["Namespace"].startswith("AWS/"))
    }
    assert own  # the heartbeat alarms at least
    assert {name: ns for name, ns in own.items() if ns != STACK_METRICS_NAMESPACE} == {}
