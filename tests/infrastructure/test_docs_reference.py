"""The documentation's reference pages say what the template, the code, the Makefile and
samconfig.toml say: every parameter, output, alarm, metric, status, ledger field, event
field, EventBridge rule and make target, each with its facts, and every count in prose.

The template is read through `load_template()` (the `template` and `alarms` fixtures), never
from a file by name, so the checks hold however the stack's templates are laid out.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections import defaultdict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.workflows.bedrock.rules import SERVICE_STATUSES as BEDROCK_STATUSES
from dropzone.workflows.edge import greengrass_rules
from dropzone.workflows.edge import rules as edge_rules
from dropzone.workflows.packaging.rules import SERVICE_STATUSES as PACKAGING_STATUSES
from dropzone.workflows.status.publisher import DETAIL_TYPE, EVENT_SOURCE, status_change_detail
from dropzone_local.template import TEMPLATE_PATH, read_document, resources_of_type
from tests.support.docs import (
    MAKEFILE,
    README,
    ROOT,
    documents,
    first_name,
    names,
    page,
    pages,
    prose,
    rows,
    tables,
)
from tests.support.fixtures import STACK_METRICS_NAMESPACE
from tests.support.iam import markdown, role_rows

PARAMETERS = "reference/parameters.md"
OUTPUTS = "reference/outputs.md"
ALARMS = "reference/alarms.md"
METRICS = "reference/metrics.md"
STATUSES = "reference/statuses.md"
LEDGER = "reference/job-ledger.md"
EVENTS = "reference/events.md"
MAKE_TARGETS = "local-development/make-targets.md"
DEPLOY = "operations/deploy.md"
SECURITY = "reference/security.md"
RUNTIME = ROOT / "layers" / "dropzone" / "dropzone"


def _namespace(value: Any) -> str:
    """An alarm's namespace as the alarms page writes it: `Dropzone/<stack>` for the stack's own."""
    if value == STACK_METRICS_NAMESPACE:
        return "Dropzone/<stack>"
    return str(value)


def _target(value: Any) -> str:
    """The logical id a `!Ref` or `!GetAtt` names, or the value itself."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return str(value)


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("section", "relative"), [("Parameters", PARAMETERS), ("Outputs", OUTPUTS)]
)
def test_every_parameter_and_output_is_documented(
    template: dict[str, Any], section: str, relative: str
) -> None:
    text = page(relative)
    missing = [name for name in template[section] if f"`{name}`" not in text]
    assert missing == []


def test_the_parameters_table_gives_each_parameter_its_default_and_allowed_values(
    template: dict[str, Any],
) -> None:
    table = rows(page(PARAMETERS), "parameter")
    documented = [first_name(row["parameter"]) for row in table]
    assert sorted(documented) == sorted(template["Parameters"])
    for row in table:
        name = first_name(row["parameter"])
        parameter = template["Parameters"][name]
        default = str(parameter["Default"])
        if default:
            assert names(row["default"]) == [default], name
        else:
            assert row["default"] == "empty", name
        allowed = row["allowed"]
        for bound in ("MinValue", "MaxValue"):
            if bound in parameter:
                assert str(parameter[bound]) in re.findall(r"\d+(?:\.\d+)?", allowed), (name, bound)
        if "AllowedValues" in parameter:
            assert names(allowed) == [str(value) for value in parameter["AllowedValues"]], name
        assert row["meaning"], name


# ------------------------------------------------------------------------------ outputs


def test_the_outputs_table_lists_each_output_once_with_its_export(
    template: dict[str, Any],
) -> None:
    table = rows(page(OUTPUTS), "output")
    documented = [first_name(row["output"]) for row in table]
    assert sorted(documented) == sorted(template["Outputs"])
    for row in table:
        name = first_name(row["output"])
        export = template["Outputs"][name].get("Export", {}).get("Name")
        if export is None:
            assert row["exported as"] == "—", name
            continue
        if isinstance(export, dict):
            export = export["Fn::Sub"]
        assert names(row["exported as"]) == [export.replace("${AWS::StackName}", "<stack>")]


# ------------------------------------------------------------------------------- alarms


def test_every_alarm_is_documented(alarms: dict[str, dict[str, Any]]) -> None:
    text = page(ALARMS)
    assert [name for name in alarms if f"`{name}`" not in text] == []


def test_the_alarms_tables_give_each_alarm_its_metric_and_what_it_watches(
    template: dict[str, Any], alarms: dict[str, dict[str, Any]]
) -> None:
    table = rows(page(ALARMS), "alarm")
    documented = [first_name(row["alarm"]) for row in table]
    assert sorted(documented) == sorted(alarms)
    for row in table:
        name = first_name(row["alarm"])
        alarm = alarms[name]
        assert names(row["metric"]) == [_namespace(alarm["Namespace"]), alarm["MetricName"]], name
        fires_when = row["fires when"]
        (dimension,) = alarm["Dimensions"]
        assert f"`{_target(dimension['Value'])}`" in fires_when, name
        assert f"> {alarm['Threshold']}" in fires_when, name
        minutes = alarm["Period"] // 60
        assert f"{minutes}-minute" in fires_when or f"{minutes} minutes" in fires_when, name
        # A workflow's own switch is said once for the page; any other condition, per alarm
        condition = _beyond_workflow_switch(template["Resources"][name].get("Condition"))
        if condition:
            assert f"`{condition}`" in fires_when, name
    assert "switched off" in page(ALARMS)


def _beyond_workflow_switch(condition: str | None) -> str | None:
    """What of a resource's condition is more than its workflow being switched on."""
    switches = {
        resource["Condition"]
        for resource in read_document(TEMPLATE_PATH)["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Application"
    }
    if condition is None or condition in switches:
        return None
    for switch in switches:
        condition = condition.removeprefix(f"{switch}And")
    return condition


def test_the_alarms_page_says_how_every_queue_and_function_is_watched(
    template: dict[str, Any], alarms: dict[str, dict[str, Any]]
) -> None:
    watched: dict[str, set[str]] = defaultdict(set)
    for alarm in alarms.values():
        (dimension,) = alarm["Dimensions"]
        watched[alarm["MetricName"]].add(_target(dimension["Value"]))
    functions = set(resources_of_type(template, "AWS::Serverless::Function"))
    assert functions == watched["Errors"]
    queues = resources_of_type(template, "AWS::SQS::Queue")
    dead_letter_queues = {
        _target(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for queue in queues.values()
        if "RedrivePolicy" in queue["Properties"]
    }
    assert dead_letter_queues <= watched["ApproximateNumberOfMessagesVisible"]
    not_watched_themselves = sorted(
        set(queues)
        - watched["ApproximateNumberOfMessagesVisible"]
        - watched["ApproximateAgeOfOldestMessage"]
    )
    for queue in not_watched_themselves:
        redrive = queues[queue]["Properties"]["RedrivePolicy"]
        assert _target(redrive["deadLetterTargetArn"]) in dead_letter_queues
    introduction = page(ALARMS).split("\n## ")[0]
    assert [queue for queue in not_watched_themselves if f"`{queue}`" not in introduction] == []


# ------------------------------------------------------------------------------ metrics

_STRING_METHODS: dict[str, Callable[[str], str]] = {
    "capitalize": str.capitalize,
    "title": str.title,
    "upper": str.upper,
    "lower": str.lower,
}


def _loop_values(
    variable: str, call: ast.Call, parents: dict[ast.AST, ast.AST], where: str
) -> list[str]:
    """The values `variable` takes in the `for` loop around `call`, less those an `if
    variable != "…"` between the loop and the call leaves out."""
    excluded: set[str] = set()
    node: ast.AST = call
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If):
            tests = node.test.values if isinstance(node.test, ast.BoolOp) else [node.test]
            for test in tests:
                if (
                    isinstance(test, ast.Compare)
                    and isinstance(test.left, ast.Name)
                    and test.left.id == variable
                    and isinstance(test.ops[0], ast.NotEq)
                    and isinstance(test.comparators[0], ast.Constant)
                ):
                    excluded.add(str(test.comparators[0].value))
        if isinstance(node, ast.For):
            bound = [node.target] if isinstance(node.target, ast.Name) else []
            if isinstance(node.target, ast.Tuple):
                bound = [element for element in node.target.elts if isinstance(element, ast.Name)]
            if any(name.id == variable for name in bound[:1]):
                return [
                    value
                    for value in _iterated(node.iter, node, parents, where)
                    if value not in excluded
                ]
    raise AssertionError(f"{where}: no for loop gives {variable!r}; write the metric name out")


def _iterated(
    iterable: ast.expr, loop: ast.For, parents: dict[ast.AST, ast.AST], where: str
) -> list[str]:
    if isinstance(iterable, ast.Tuple | ast.List | ast.Set):
        return [
            str(element.value) for element in iterable.elts if isinstance(element, ast.Constant)
        ]
    if (
        isinstance(iterable, ast.Call)
        and isinstance(iterable.func, ast.Attribute)
        and iterable.func.attr in ("items", "keys")
        and isinstance(iterable.func.value, ast.Name)
    ):
        mapping = iterable.func.value.id
        function: ast.AST = loop
        while function in parents and not isinstance(function, ast.FunctionDef):
            function = parents[function]
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == mapping for t in node.targets)
                and isinstance(node.value, ast.Dict)
            ):
                return [str(key.value) for key in node.value.keys if isinstance(key, ast.Constant)]
    raise AssertionError(f"{where}: cannot tell what {ast.unparse(iterable)} holds")


def _metric_names(
    expression: ast.expr, call: ast.Call, parents: dict[ast.AST, ast.AST], where: str
) -> list[str]:
    if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
        return [expression.value]
    if isinstance(expression, ast.JoinedStr):
        (formatted,) = [part for part in expression.values if isinstance(part, ast.FormattedValue)]
        value = formatted.value
        method: Callable[[str], str] = str
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr in _STRING_METHODS
            and not value.args
        ):
            method = _STRING_METHODS[value.func.attr]
            value = value.func.value
        assert isinstance(value, ast.Name), f"{where}: cannot resolve {ast.unparse(expression)}"
        pieces: list[str] = []
        for variant in _loop_values(value.id, call, parents, where):
            pieces.append(
                "".join(
                    method(variant) if part is formatted else str(getattr(part, "value", ""))
                    for part in expression.values
                )
            )
        return pieces
    raise AssertionError(f"{where}: cannot resolve the metric name {ast.unparse(expression)}")


@cache
def emitted_metrics() -> dict[str, frozenset[str]]:
    """Every metric name the runtime package emits (`add_metric(name=…)`), with the modules,
    relative to the package, that emit it."""
    emitted: dict[str, set[str]] = defaultdict(set)
    for path in sorted(RUNTIME.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and (
                    (isinstance(node.func, ast.Attribute) and node.func.attr == "add_metric")
                    or (isinstance(node.func, ast.Name) and node.func.id == "single_metric")
                )
            ):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            given = [keyword.value for keyword in node.keywords if keyword.arg == "name"]
            assert len(given) == 1, f"{where}: give the metric its name as name=…"
            (name,) = given
            for metric in _metric_names(name, node, parents, where):
                emitted[metric].add(path.relative_to(RUNTIME).as_posix())
    return {metric: frozenset(modules) for metric, modules in emitted.items()}


def test_the_metric_names_are_read_from_the_code() -> None:
    emitted = emitted_metrics()
    # One literal name and each kind of computed name, as the code writes them today.
    assert emitted["JobsAccepted"] == {"workflows/intake.py"}
    assert "ReconciledUnresolved" in emitted
    assert "ReconciledExamined" not in emitted  # `if name != "examined"` leaves it out
    assert "EdgeReconciledAsked" in emitted


def test_the_metrics_page_lists_every_metric_the_code_emits_and_where() -> None:
    emitted = emitted_metrics()
    table = rows(page(METRICS), "metric")
    documented = [first_name(row["metric"]) for row in table]
    assert len(documented) == len(set(documented))
    assert sorted(documented) == sorted(emitted)
    for row in table:
        metric = first_name(row["metric"])
        assert set(names(row["emitted in"])) == emitted[metric], metric
        assert row["counts"], metric


def test_the_alarms_on_dropzone_metrics_watch_metrics_the_code_emits(
    alarms: dict[str, dict[str, Any]],
) -> None:
    own = {
        alarm["MetricName"]
        for alarm in alarms.values()
        if alarm["Namespace"] == STACK_METRICS_NAMESPACE
    }
    assert own
    assert own <= set(emitted_metrics())


def test_the_service_dimension_table_gives_every_function_its_service_name(
    template: dict[str, Any],
) -> None:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    table = {first_name(row["function"]): row for row in rows(page(METRICS), "function")}
    assert sorted(table) == sorted(functions)
    for name, function in functions.items():
        service = function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        assert names(table[name]["`service`"]) == [service], name


# ----------------------------------------------------------------------------- statuses


def test_the_statuses_table_gives_every_status_its_rules() -> None:
    table = rows(page(STATUSES), "status")
    assert [first_name(row["status"]) for row in table] == [status.value for status in JobStatus]
    for row, status in zip(table, JobStatus, strict=True):
        assert row["terminal"] == ("yes" if status.is_terminal else "no"), status
        assert names(row["reached from"]) == [s.value for s in status.predecessors()], status
        assert row["meaning"], status


def test_every_status_in_a_table_of_the_docs_is_a_status() -> None:
    statuses = {status.value for status in JobStatus}
    for path in pages():
        for table in tables(path.read_text(encoding="utf-8")):
            if not table or next(iter(table[0])) != "status":
                continue
            for row in table:
                assert first_name(row["status"]) in statuses, (path.name, row)


def test_the_statuses_page_lists_every_kind_and_the_statuses_it_uses() -> None:
    table = rows(page(STATUSES), "kind")
    assert sorted(first_name(row["kind"]) for row in table) == sorted(
        kind.value for kind in JobKind
    )
    statuses = {status.value for status in JobStatus}
    for row in table:
        used = names(row["statuses it uses"])
        assert used and set(used) <= statuses, row


@pytest.mark.parametrize("relative", [LEDGER, EVENTS])
def test_the_kind_field_names_every_kind(relative: str) -> None:
    (row,) = [row for row in rows(page(relative), "field") if first_name(row["field"]) == "kind"]
    documented = next(cell for header, cell in row.items() if header != "field")
    assert sorted(names(documented)) == sorted(kind.value for kind in JobKind)


def _mapping_tables(first_header: str) -> list[tuple[str, dict[str, str]]]:
    """Every table of the docs headed `first_header`: service word → the cell it maps to."""
    found = []
    for path in pages():
        for table in tables(path.read_text(encoding="utf-8")):
            if not table or next(iter(table[0])) != first_header:
                continue
            mapping: dict[str, str] = {}
            for row in table:
                first, second = list(row.values())[:2]
                for word in names(first):
                    mapping[word] = second
            found.append((path.name, mapping))
    assert found, f"no table headed {first_header!r}"
    return found


@pytest.mark.parametrize(
    ("first_header", "statuses"),
    [("Bedrock status", BEDROCK_STATUSES), ("Lookout for Vision status", PACKAGING_STATUSES)],
    ids=["bedrock", "lookoutvision"],
)
def test_the_service_status_tables_map_every_service_status_as_the_code_does(
    first_header: str, statuses: dict[str, JobStatus]
) -> None:
    for where, mapping in _mapping_tables(first_header):
        assert sorted(mapping) == sorted(statuses), where
        for word, cell in mapping.items():
            assert first_name(cell) == statuses[word].value, (where, word)


def test_the_sagemaker_service_statuses_are_the_ones_the_code_records() -> None:
    recorded: dict[str, str] = {}
    for path in sorted((RUNTIME / "workflows" / "sagemaker").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            words = [
                keyword.value.value
                for keyword in node.keywords
                if keyword.arg == "service_status" and isinstance(keyword.value, ast.Constant)
            ]
            statuses = [
                arg.attr
                for arg in node.args
                if isinstance(arg, ast.Attribute)
                and isinstance(arg.value, ast.Name)
                and arg.value.id == "JobStatus"
            ]
            if words and statuses:
                recorded[str(words[0])] = statuses[0]
    assert recorded
    for where, mapping in _mapping_tables("SageMaker service status"):
        assert {word: first_name(cell) for word, cell in mapping.items()} == recorded, where


def test_the_greengrass_device_statuses_count_as_the_code_counts_them() -> None:
    table = rows(page(STATUSES), "device status")
    counted = {row["counts as"]: set(names(row["device status"])) for row in table}
    assert counted == {
        "success": set(greengrass_rules.SUCCESS),
        "failure": set(greengrass_rules.FAILURE),
        "canceled": set(greengrass_rules.CANCELED),
        "still running": set(greengrass_rules._PROGRESS),
    }
    ((_, unreported),) = _mapping_tables("Greengrass deployment status")
    assert {word: first_name(cell) for word, cell in unreported.items()} == (
        greengrass_rules.UNREPORTED_AS
    )


def test_the_edge_manager_deployment_statuses_count_as_the_code_counts_them() -> None:
    table = rows(page(STATUSES), "`DeploymentStatus`")
    counted = {row["counts as"]: set(names(row["`DeploymentStatus`"])) for row in table}
    assert counted == {
        "success": set(edge_rules._SUCCESS_WORDS),
        "failure": set(edge_rules._FAIL_WORDS),
    }


# ------------------------------------------------------------------ ledger and events


def test_the_ledger_page_documents_every_field_of_the_job_record() -> None:
    documented = {name for row in rows(page(LEDGER), "field") for name in names(row["field"])}
    assert [field for field in Job.model_fields if field not in documented] == []


def test_the_events_page_lists_every_field_of_the_event_detail() -> None:
    job = Job(
        job_id="dz-1",
        kind=JobKind.BEDROCK_BATCH,
        status=JobStatus.SUCCEEDED,
        source=SourceObject(bucket="b", key="k", version_id="v", etag="e", size=1),
        target="t",
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:00.000Z",
        service_status="Completed",
        parent_id="dz-0",
        output_location="s3://b/o",
        failure_location="s3://b/f",
        report_location="s3://b/r",
        message="m",
        estimate={"records": 1},
        cost={"input_tokens": 1},
    )
    detail = status_change_detail(job, "RUNNING")
    documented = [first_name(row["field"]) for row in rows(page(EVENTS), "field")]
    assert documented == list(detail)
    text = page(EVENTS)
    assert f"`source`: `{EVENT_SOURCE}`" in text
    assert f"`detail-type`: `{DETAIL_TYPE}`" in text


def test_the_events_page_lists_every_rule_with_its_pattern_and_queue(
    template: dict[str, Any],
) -> None:
    rules = resources_of_type(template, "AWS::Events::Rule")
    table = {first_name(row["rule"]): row for row in rows(page(EVENTS), "rule")}
    assert sorted(table) == sorted(rules)
    for name, rule in rules.items():
        row = table[name]
        pattern = rule["Properties"]["EventPattern"]
        assert names(row["source"]) == pattern["source"], name
        assert names(row["detail-type"]) == pattern["detail-type"], name
        (target,) = rule["Properties"]["Targets"]
        assert names(row["queue"]) == [_target(target["Arn"])], name
        parameters = re.findall(r"\{'Ref': '(\w+)'\}|\$\{(\w+)\}", str(pattern.get("detail", {})))
        for parameter in {ref or sub for ref, sub in parameters} & set(template["Parameters"]):
            assert parameter in row["matches"], (name, parameter)


# ----------------------------------------------------------------------------- security


def _template_files() -> list[Path]:
    return [TEMPLATE_PATH, *sorted((ROOT / "stacks").glob("*.yaml"))]


def test_the_security_page_names_every_action_granted_on_every_resource(
    template: dict[str, Any],
) -> None:
    statements = [
        row for path in _template_files() for row in role_rows(template, read_document(path))
    ]
    assert statements
    actions = [(action, row["on"]) for row in statements for action in row["actions"].split(", ")]
    assert [action for action, _ in actions if "*" in action] == []
    unscoped = sorted({action for action, resource in actions if "*" in resource.split(", ")})
    assert unscoped
    section = page(SECURITY).split("## What each role may do")[0]
    assert [action for action in unscoped if f"`{action}`" not in section] == []


def _role_tables() -> dict[str, list[str]]:
    """The security page's tables of role statements: template file → its rows as written."""
    found: dict[str, list[str]] = {}
    for section in page(SECURITY).split("\n### ")[1:]:
        heading, _, body = section.partition("\n")
        found[first_name(heading)] = [line for line in body.splitlines() if line.startswith("| `")]
    return found


def test_the_security_page_gives_every_statement_of_every_role_as_the_templates_do(
    template: dict[str, Any],
) -> None:
    tables = _role_tables()
    files = {str(path.relative_to(ROOT)): path for path in _template_files()}
    assert sorted(tables) == sorted(files)
    for name, path in files.items():
        expected = [markdown(row) for row in role_rows(template, read_document(path))]
        written = tables[name]
        assert [row for row in expected if row not in written] == [], f"missing from {name}"
        assert [row for row in written if row not in expected] == [], f"not in {name}"


def test_every_function_has_its_own_role_and_no_role_has_a_managed_policy() -> None:
    for path in _template_files():
        document = read_document(path)
        roles = resources_of_type(document, "AWS::IAM::Role")
        assert roles, path
        for name, function in resources_of_type(document, "AWS::Serverless::Function").items():
            properties = function["Properties"]
            assert "Policies" not in properties, name
            assert properties["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}, name
            role = roles[f"{name}Role"]
            assert role.get("Condition") == function.get("Condition"), name
            (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}, name
            policies = [
                policy["Fn::If"][1] if "Fn::If" in policy else policy
                for policy in role["Properties"]["Policies"]
            ]
            assert [policy["PolicyName"] for policy in policies][:2] == ["Runtime", "Work"], name
        for name, resource in document["Resources"].items():
            assert "ManagedPolicyArns" not in resource.get("Properties", {}), name
            assert resource["Type"] not in {"AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"}, name


# ------------------------------------------------------------------------- make targets


def _makefile() -> str:
    return MAKEFILE.read_text(encoding="utf-8")


def test_the_make_targets_table_lists_every_target_of_the_makefile() -> None:
    targets = re.findall(r"^([a-z][a-z0-9-]*):(?!=)", _makefile(), flags=re.MULTILINE)
    table = rows(page(MAKE_TARGETS), "target")
    documented = [first_name(row["target"]).removeprefix("make ") for row in table]
    assert len(documented) == len(set(documented))
    assert sorted(documented) == sorted(targets)


def test_the_make_targets_table_says_what_make_test_runs() -> None:
    (prerequisites,) = re.findall(r"^test:([^#\n]*)", _makefile(), flags=re.MULTILINE)
    (row,) = [row for row in rows(page(MAKE_TARGETS), "target") if row["target"] == "`make test`"]
    missing = [name for name in prerequisites.split() if f"`{name}`" not in row["what it does"]]
    assert missing == []


def test_the_make_targets_page_names_the_makefile_settings() -> None:
    settings = re.findall(r"^([A-Z_]+) \?=", _makefile(), flags=re.MULTILINE)
    assert settings
    assert [name for name in settings if f"`{name}`" not in page(MAKE_TARGETS)] == []


# ----------------------------------------------------------------------------- deploying


def test_the_deploy_page_gives_every_samconfig_environment() -> None:
    with (ROOT / "samconfig.toml").open("rb") as handle:
        config = tomllib.load(handle)
    environments = {name: value for name, value in config.items() if isinstance(value, dict)}
    table = {first_name(row["environment"]): row for row in rows(page(DEPLOY), "environment")}
    assert sorted(table) == sorted(environments)
    text = page(DEPLOY)
    for name, environment in environments.items():
        stack = environment["global"]["parameters"]["stack_name"]
        overrides = environment["deploy"]["parameters"]["parameter_overrides"]
        assert names(table[name]["stack"]) == [stack], name
        assert names(table[name]["parameter overrides"]) == [overrides], name
        assert f"`{environment['global']['parameters']['region']}`" in text, name


def test_the_sam_cli_version_is_the_one_the_makefile_pins() -> None:
    (version,) = re.findall(r"^SAM_CLI_VERSION \?= (\S+)", _makefile(), flags=re.MULTILINE)
    for text in (page(DEPLOY), README.read_text(encoding="utf-8")):
        assert f"aws-sam-cli=={version}" in text
        assert not set(re.findall(r"aws-sam-cli==(\S+?)[`\s)]", text)) - {version}


# --------------------------------------------------------------------- counts in prose

_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_NUMBER = r"(?P<count>\d+|" + "|".join(_NUMBER_WORDS) + r")"


def _counts(template: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """What a number directly before these nouns must be: noun pattern → (what, count)."""

    def of_type(resource_type: str) -> int:
        return len(resources_of_type(template, resource_type))

    return {
        r"(?:SQS )?queues": ("SQS queues", of_type("AWS::SQS::Queue")),
        r"(?:DynamoDB )?tables": ("DynamoDB tables", of_type("AWS::DynamoDB::Table")),
        r"EventBridge rules": ("EventBridge rules", of_type("AWS::Events::Rule")),
        r"(?:CloudWatch )?alarms": ("alarms", of_type("AWS::CloudWatch::Alarm")),
        r"(?:Lambda )?functions": ("functions", of_type("AWS::Serverless::Function")),
        r"(?:S3 )?buckets": ("buckets", of_type("AWS::S3::Bucket")),
        r"(?:stack )?parameters": ("parameters", len(template["Parameters"])),
        r"(?:stack )?outputs": ("outputs", len(template["Outputs"])),
        r"metrics": ("metrics", len(emitted_metrics())),
        r"(?:job )?statuses": ("statuses", len(JobStatus)),
        r"workflows": ("workflows", len(JobKind)),
    }


def test_every_count_stated_in_prose_is_the_real_count(template: dict[str, Any]) -> None:
    counts = _counts(template)
    stated: set[str] = set()
    wrong: list[str] = []
    for path in documents():
        text = prose(path.read_text(encoding="utf-8"))
        for noun, (what, count) in counts.items():
            pattern = rf"\b{_NUMBER} {noun}\b"
            for match in re.finditer(pattern, text, flags=re.IGNORECASE):
                said = match.group("count").lower()
                value = int(said) if said.isdigit() else _NUMBER_WORDS.index(said)
                stated.add(what)
                if value != count:
                    wrong.append(f"{path.relative_to(ROOT)}: {match.group(0)!r}, but {count}")
    assert wrong == []
    # Each total is stated somewhere, so this test keeps checking something.
    assert sorted(stated) == sorted(what for what, _ in counts.values())
