"""Check requests and responses against botocore's service models."""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.model import OperationModel, ServiceModel
from botocore.validate import ParamValidator


@cache
def service_model(service_name: str) -> ServiceModel:
    session = botocore.session.get_session()
    return session.get_service_model(service_name)


def operation(service_name: str, operation_name: str) -> OperationModel:
    return service_model(service_name).operation_model(operation_name)


def validate_request(service_name: str, operation_name: str, params: dict[str, Any]) -> None:
    """Raise botocore's own ParamValidationError for a request the real client would refuse."""
    shape = operation(service_name, operation_name).input_shape
    if shape is None:
        if params:
            raise ParamValidationError(report=f"{operation_name} takes no parameters")
        return
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise ParamValidationError(report=report.generate_report())


def validate_response(service_name: str, operation_name: str, response: dict[str, Any]) -> None:
    """Fail loudly when a fake answers in a shape the real service never would."""
    shape = operation(service_name, operation_name).output_shape
    if shape is None:
        return
    report = ParamValidator().validate(response, shape)
    if report.has_errors():
        raise AssertionError(
            f"{service_name}.{operation_name} fake response does not match the service "
            f"model: {report.generate_report()}"
        )
