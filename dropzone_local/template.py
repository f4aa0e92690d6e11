"""Read template.yaml, the single source of truth for resources, patterns and functions,
with its nested applications (stacks/<workflow>.yaml) folded in.

`load_template()` answers with the whole stack as one template: the root's resources and
every local nested application's resources, each nested resource carrying its
application's Condition (so a switched-off workflow's resources are left out wherever
conditions are honoured), parameters passed to a nested template put in place of its
references to them, `!GetAtt <App>.Outputs.<Name>` put in place by the output's value, and
each template's function Globals applied to its own functions.
"""

from __future__ import annotations

import copy
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
APPLICATION = "AWS::Serverless::Application"
FUNCTION = "AWS::Serverless::Function"
_SUB_VARIABLE = re.compile(r"\$\{([^}!.]+)\}")


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns short-form intrinsics (!Ref, !Sub, ...) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    # !Ref and !Condition are the long forms Ref and Condition; the others are Fn::<Name>.
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{tag_suffix}")
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@cache
def _read(path: str, mtime: float) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader
    if not isinstance(document, dict) or "Resources" not in document:
        raise ValueError(f"{path} is not a CloudFormation template")
    return document


def read_document(path: Path) -> dict[str, Any]:
    """One template file as written, without folding anything in."""
    return _read(str(path), path.stat().st_mtime)


def nested_applications(template: dict[str, Any], template_path: Path) -> dict[str, Path]:
    """The root's nested applications with a local Location: logical id → template file."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        location = resource.get("Properties", {}).get("Location")
        if resource.get("Type") == APPLICATION and isinstance(location, str):
            found[logical_id] = (template_path.parent / location).resolve()
    return found


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The whole stack as one template (see the module's docstring). Shared: do not mutate."""
    root = read_document(path)
    stamps = tuple(
        (str(child), child.stat().st_mtime) for child in nested_applications(root, path).values()
    )
    return _folded(str(path), path.stat().st_mtime, stamps)


@cache
def _folded(path: str, mtime: float, stamps: tuple[tuple[str, float], ...]) -> dict[str, Any]:
    root_path = Path(path)
    root = copy.deepcopy(_read(path, mtime))
    children = nested_applications(root, root_path)
    resources: dict[str, Any] = {}
    conditions: dict[str, Any] = dict(root.get("Conditions", {}))
    mappings: dict[str, Any] = dict(root.get("Mappings", {}))
    outputs_of: dict[str, dict[str, Any]] = {}
    for logical_id, resource in root["Resources"].items():
        if logical_id not in children:
            resources[logical_id] = _with_globals(resource, root)
            continue
        child_path = children[logical_id]
        child = copy.deepcopy(read_document(child_path))
        passed = resource.get("Properties", {}).get("Parameters", {})
        values = {
            name: copy.deepcopy(passed[name]) if name in passed else spec.get("Default", "")
            for name, spec in child.get("Parameters", {}).items()
        }
        child = _substitute(child, values)
        for name, mapping in child.get("Mappings", {}).items():
            if mappings.setdefault(name, mapping) != mapping:
                raise ValueError(f"{child_path}: mapping {name} differs from the root's")
        for name, condition in child.get("Conditions", {}).items():
            _add(conditions, name, condition, child_path, "condition")
        application_condition = resource.get("Condition")
        for child_id, child_resource in child["Resources"].items():
            child_resource = _with_globals(child_resource, child)
            _rebase(child_resource, child_path.parent, root_path.parent)
            if application_condition:
                own = child_resource.get("Condition")
                child_resource["Condition"] = application_condition
                if own:
                    both = f"{application_condition}And{own}"
                    conditions[both] = {
                        "Fn::And": [{"Condition": application_condition}, {"Condition": own}]
                    }
                    child_resource["Condition"] = both
            _add(resources, child_id, child_resource, child_path, "resource")
        outputs_of[logical_id] = {
            name: output["Value"] for name, output in child.get("Outputs", {}).items()
        }
    folded = {
        **root,
        "Resources": resources,
        "Conditions": conditions,
        "Mappings": mappings,
        "Globals": {},
    }
    return _outputs_in_place(folded, outputs_of)  # type: ignore[no-any-return]


def _add(into: dict[str, Any], name: str, value: Any, source: Path, what: str) -> None:
    if name in into:
        raise ValueError(f"{source}: {what} {name} is declared twice in the stack")
    into[name] = value


def _with_globals(resource: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    """A function's properties with its template's function Globals under them, as SAM
    applies them: the function's own values win, maps merge, lists join globals first."""
    if resource.get("Type") != FUNCTION:
        return resource
    defaults = template.get("Globals", {}).get("Function", {})
    return {**resource, "Properties": _merged(defaults, resource.get("Properties", {}))}


def _merged(defaults: Any, own: Any) -> Any:
    if isinstance(defaults, dict) and isinstance(own, dict) and not _is_intrinsic(own):
        keys = [*defaults, *(key for key in own if key not in defaults)]
        return {
            key: _merged(defaults[key], own[key])
            if key in defaults and key in own
            else copy.deepcopy(own[key] if key in own else defaults[key])
            for key in keys
        }
    if isinstance(defaults, list) and isinstance(own, list):
        return [*copy.deepcopy(defaults), *own]
    return own


def _is_intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::", "Condition"))


def _rebase(resource: dict[str, Any], child_dir: Path, root_dir: Path) -> None:
    """Code paths of a nested template, relative to the root template's folder."""
    properties = resource.get("Properties", {})
    for key in ("CodeUri", "ContentUri"):
        value = properties.get(key)
        if isinstance(value, str) and "://" not in value:
            rebased = Path(_relative((child_dir / value).resolve(), root_dir.resolve()))
            properties[key] = f"{rebased.as_posix()}/" if value.endswith("/") else str(rebased)


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


def _substitute(value: Any, parameters: dict[str, Any]) -> Any:
    """Put each parameter's passed value in place of the references to it."""
    if isinstance(value, list):
        return [_substitute(item, parameters) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and value["Ref"] in parameters:
        return copy.deepcopy(parameters[value["Ref"]])
    if set(value) == {"Fn::Sub"}:
        return {"Fn::Sub": _substitute_sub(value["Fn::Sub"], parameters)}
    return {
        key: (
            _substitute(item, parameters)
            if key != "Parameters" or not isinstance(item, dict)
            else item
        )
        for key, item in value.items()
    }


def _substitute_sub(argument: Any, parameters: dict[str, Any]) -> Any:
    text, variables = (argument, {}) if isinstance(argument, str) else argument
    variables = {name: _substitute(item, parameters) for name, item in variables.items()}
    for name in set(_SUB_VARIABLE.findall(text)):
        if name in parameters and name not in variables:
            passed = parameters[name]
            if isinstance(passed, dict) and set(passed) == {"Ref"}:
                text = text.replace(f"${{{name}}}", f"${{{passed['Ref']}}}")
            elif isinstance(passed, dict) and set(passed) == {"Fn::GetAtt"}:
                logical, attribute = passed["Fn::GetAtt"]
                text = text.replace(f"${{{name}}}", f"${{{logical}.{attribute}}}")
            else:
                variables[name] = copy.deepcopy(passed)
    return [text, variables] if variables else text


def _outputs_in_place(value: Any, outputs_of: dict[str, dict[str, Any]]) -> Any:
    if isinstance(value, list):
        return [_outputs_in_place(item, outputs_of) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::GetAtt"}:
        logical, attribute = value["Fn::GetAtt"]
        if logical in outputs_of and attribute.startswith("Outputs."):
            return _outputs_in_place(
                copy.deepcopy(outputs_of[logical][attribute.removeprefix("Outputs.")]), outputs_of
            )
    return {key: _outputs_in_place(item, outputs_of) for key, item in value.items()}


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource.get("Type") == resource_type
    }
