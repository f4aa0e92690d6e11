"""botocore's service model of the Edge Manager dataplane (`sagemaker-edge`), the one
authority on what its requests may hold: read once per container, on first use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from botocore.model import Shape
from botocore.validate import ParamValidator

from dropzone import aws
from dropzone.errors import InvalidInput, Problem

SERVICE = "sagemaker-edge"


@cache
def input_shape(operation: str) -> Shape:
    shape = aws.service_model(SERVICE).operation_model(operation).input_shape
    assert shape is not None
    return shape


_MISSING_PARAMETER = re.compile(r'input: "([^"]+)"')
_INVALID_PARAMETER = re.compile(r"parameter ([^\s,:]+)")


def check_against_model(operation: str, params: Mapping[str, Any], prefix: str) -> None:
    """botocore's own checks of an operation's input (required members, types, lengths);
    each problem names its parameter under `prefix`."""
    report = ParamValidator().validate(dict(params), input_shape(operation))
    if report.has_errors():
        lines = [line.strip() for line in report.generate_report().splitlines()]
        raise InvalidInput([_problem_from(line, prefix) for line in lines if line][:20])


def _problem_from(line: str, prefix: str) -> Problem:
    found = _MISSING_PARAMETER.search(line) or _INVALID_PARAMETER.search(line)
    return Problem(f"{prefix}.{found.group(1)}" if found else prefix, line[:300])
