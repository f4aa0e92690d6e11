"""Expand SAM templates into plain CloudFormation with AWS SAM's own translator.

Run with the Python of the pinned SAM CLI's tool environment (which carries the translator;
the project's own environment does not): it reads a JSON list of templates on standard
input and writes the JSON list of their expansions. Code locations are replaced by S3
placeholders first, as `sam package` would replace them. Used by the workflow switch tests
(tests/infrastructure/test_workflow_switches.py) and by scripts/check_policies.py.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform


class _NoManagedPolicies(ManagedPolicyLoader):
    """Dropzone names no AWS managed policy by name: nothing to look up."""

    def __init__(self) -> None:
        pass

    def load(self) -> dict[str, str]:
        return {}


def _packaged(template: dict[str, Any]) -> dict[str, Any]:
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = "s3://dropzone-placeholder/code.zip"
        if resource.get("Type") == "AWS::Serverless::Application":
            properties["Location"] = "https://s3.amazonaws.com/dropzone-placeholder/app.yaml"
    return template


def main() -> None:
    templates = json.load(sys.stdin)
    expanded = [transform(_packaged(template), {}, _NoManagedPolicies()) for template in templates]
    json.dump(expanded, sys.stdout)


if __name__ == "__main__":
    main()
