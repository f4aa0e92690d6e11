"""Every statement every IAM role of the stack allows, written the way the security page
writes them: one row per statement, with its actions, the resources it names and the
conditions it is granted under."""

from __future__ import annotations

import re
from typing import Any

from dropzone_local.template import resources_of_type

Row = dict[str, str]

_ARN_PREFIX = "arn:${AWS::Partition}:"
_REGION_ACCOUNT = ":${AWS::Region}:${AWS::AccountId}:"
_OPERATORS = {
    "StringEquals": "=",
    "StringLike": "like",
    "ArnEquals": "=",
    "ArnLike": "like",
    "ForAllValues:StringLike": "each like",
    "ForAllValues:StringEquals": "each =",
    "StringNotEquals": "≠",
    "Bool": "=",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _placeholders(text: str, parameters: set[str], names: dict[str, str]) -> str:
    def name(match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference in names:
            return names[reference]
        logical_id = reference.split(".")[0]
        return f"<{logical_id}>" if logical_id in parameters else logical_id

    return re.sub(r"\$\{([\w:.]+)\}", name, text)


def _parameter_in(value: Any) -> str:
    """The parameter a `Fn::Sub` variable is computed from (`Fn::Select` of `Fn::Split`)."""
    (parameter,) = set(re.findall(r"'Ref': '(\w+)'", str(value)))
    return parameter


def render_value(value: Any, parameters: set[str]) -> list[str]:
    """One resource or condition value in words: a logical id for a resource of the stack,
    `<Parameter>` for a parameter, an ARN without partition, region and account."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in render_value(item, parameters)]
    ((function, argument),) = value.items()
    if function == "Ref":
        if argument == "AWS::NoValue":
            return []
        return [f"<{argument}>" if argument in parameters else argument]
    if function == "Fn::GetAtt":
        logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        return [logical_id if attribute == "Arn" else f"{logical_id} {attribute}"]
    if function == "Fn::If":
        return render_value(argument[1], parameters)
    if function == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        names = {name: f"<{_parameter_in(value)} entry>" for name, value in variables.items()}
        text = text.removeprefix(_ARN_PREFIX).replace(_REGION_ACCOUNT, ":")
        text = text.removeprefix("s3:::")
        return [_placeholders(text, parameters, names)]
    raise AssertionError(f"no rendering for {value!r}")


def _render_condition(condition: dict[str, Any], parameters: set[str]) -> list[str]:
    return [
        f"{key} {_OPERATORS[operator]} {', '.join(dict.fromkeys(render_value(value, parameters)))}"
        for operator, pairs in condition.items()
        for key, value in pairs.items()
    ]


def _policies(role: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """A role's inline policies, each with the template condition it exists under."""
    found = []
    for policy in role["Properties"].get("Policies", []):
        if "Fn::If" in policy:
            condition, policy, absent = policy["Fn::If"]
            assert absent == {"Ref": "AWS::NoValue"}, absent
            found.append((condition, policy))
        else:
            found.append((None, policy))
    return found


def role_rows(template: dict[str, Any], document: dict[str, Any]) -> list[Row]:
    """One row per Allow statement of every role one template file defines: role, statement
    (its Sid), actions, on (the resources) and only when (the conditions of the role, of its
    policy and of the statement). `template` is the whole stack folded into one (so that a
    nested stack's parameters read as the core's resources they stand for); `document`
    is the file as written, which says which roles are its own and their own conditions
    (not the workflow switch its nesting adds)."""
    parameters = set(template.get("Parameters", {}))
    found: list[Row] = []
    for role_name, written in resources_of_type(document, "AWS::IAM::Role").items():
        role = template["Resources"][role_name]
        for policy_condition, policy in _policies(role):
            for statement in policy["PolicyDocument"]["Statement"]:
                conditions = [written["Condition"]] if "Condition" in written else []
                conditions += [policy_condition] if policy_condition else []
                if "Fn::If" in statement:  # a statement that exists only under a condition
                    condition, statement, absent = statement["Fn::If"]
                    assert absent == {"Ref": "AWS::NoValue"}, absent
                    conditions.append(condition)
                assert statement["Effect"] == "Allow", (role_name, statement)
                when = list(conditions)
                when += _render_condition(statement.get("Condition", {}), parameters)
                resources = list(dict.fromkeys(render_value(statement["Resource"], parameters)))
                found.append(
                    {
                        "role": role_name,
                        "statement": statement["Sid"],
                        "actions": ", ".join(sorted(_as_list(statement["Action"]))),
                        "on": ", ".join(resources),
                        "only when": "; ".join(when),
                    }
                )
    return found


def markdown(row: Row) -> str:
    """The row as the security page writes it."""

    def code(text: str) -> str:
        return ", ".join(f"`{part}`" for part in text.split(", ")) if text else ""

    when = (
        "; ".join(f"`{part}`" for part in row["only when"].split("; ")) if row["only when"] else ""
    )
    return (
        f"| `{row['role']}` | {row['statement']} | {code(row['actions'])} | {code(row['on'])} "
        f"| {when} |"
    )


def work_policies(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """What a function's role grants beyond the runtime (logs, traces, its event source and
    failure destination): each policy as `{"Statement": [...]}`, a conditional one as
    `{"Fn::If": [condition, {"Statement": [...]}, {"Ref": "AWS::NoValue"}]}`."""
    role = template["Resources"][
        template["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    ]
    found: list[dict[str, Any]] = []
    for policy in role["Properties"]["Policies"]:
        if "Fn::If" in policy:
            condition, inner, absent = policy["Fn::If"]
            found.append(
                {"Fn::If": [condition, {"Statement": inner["PolicyDocument"]["Statement"]}, absent]}
            )
        elif policy["PolicyName"] != "Runtime":
            found.append({"Statement": policy["PolicyDocument"]["Statement"]})
    return found
