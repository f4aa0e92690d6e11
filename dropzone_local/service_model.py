"""Check requests and responses against botocore's service models, and raise the model's
own errors, for the fakes of services moto lacks.

Two layers of checking, as with a real service:
- `validate_request`: what botocore's client refuses before sending (types, required
  members, minimums) raises botocore's ParamValidationError.
- `constraint_violations` / `check_constraints`: what only the service refuses (maximums,
  patterns, enums, map sizes) becomes the service's ValidationException, in the service's
  "Value ... at ... failed to satisfy constraint" wording.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from functools import cache
from typing import Any, cast

import botocore.session
from botocore.errorfactory import ClientExceptionsFactory
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import OperationModel, ServiceModel, Shape
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


def validate_response(
    service_name: str,
    operation_name: str,
    response: dict[str, Any],
    *,
    constraints: bool = False,
    lenient_shapes: Collection[str] = (),
) -> None:
    """Fail loudly when a fake answers in a shape the real service never would.

    With `constraints`, maximums, patterns and enums are checked too, except on shapes named
    in `lenient_shapes` (for a model whose documented pattern real answers do not follow).
    """
    shape = operation(service_name, operation_name).output_shape
    if shape is None:
        return
    report = ParamValidator().validate(response, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    if constraints:
        problems.extend(constraint_violations(shape, response, lenient_shapes=lenient_shapes))
    if problems:
        raise AssertionError(
            f"{service_name}.{operation_name} fake response does not match the service "
            f"model: {'; '.join(problems)}"
        )


# -- what the service checks beyond the client ------------------------------------------------


def check_constraints(service_name: str, operation_name: str, params: dict[str, Any]) -> str | None:
    """The service's ValidationException message for `params`, or None when they pass."""
    shape = operation(service_name, operation_name).input_shape
    problems = list(constraint_violations(shape, params)) if shape is not None else []
    if not problems:
        return None
    count = len(problems)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems)


def constraint_violations(
    shape: Shape, value: Any, path: str = "", *, lenient_shapes: Collection[str] = ()
) -> Iterator[str]:
    """What the service refuses beyond the client's checks: maximums, patterns, enums and
    the size of maps. Messages follow the service's "Value ... at ... failed to satisfy
    constraint" form."""
    meta = shape.metadata
    if shape.name in lenient_shapes:
        return
    if shape.type_name == "structure" and isinstance(value, dict):
        members: dict[str, Shape] = getattr(shape, "members", {})
        for name, member in members.items():
            if name in value:
                yield from constraint_violations(
                    member,
                    value[name],
                    f"{path}.{name}" if path else name,
                    lenient_shapes=lenient_shapes,
                )
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            yield _violation(
                path, value, f"Member must have length less than or equal to {meta['max']}"
            )
        member_shape: Shape = getattr(shape, "member")  # noqa: B009 - ListShape only
        for index, item in enumerate(value, start=1):
            yield from constraint_violations(
                member_shape, item, f"{path}.{index}.member", lenient_shapes=lenient_shapes
            )
    elif shape.type_name == "map" and isinstance(value, dict):
        yield from _map_violations(shape, value, path, lenient_shapes)
    elif shape.type_name == "string" and isinstance(value, str):
        yield from _string_violations(meta, value, path)
    elif (
        shape.type_name in ("integer", "long", "double", "float")
        and isinstance(value, int | float)
        and "max" in meta
        and value > meta["max"]
    ):
        yield _violation(path, value, f"Member must have value less than or equal to {meta['max']}")


def _map_violations(
    shape: Shape, value: dict[Any, Any], path: str, lenient_shapes: Collection[str]
) -> Iterator[str]:
    meta = shape.metadata
    if "max" in meta and len(value) > meta["max"]:
        yield _violation(
            path, value, f"Member must have length less than or equal to {meta['max']}"
        )
    if "min" in meta and len(value) < meta["min"]:
        yield _violation(
            path, value, f"Member must have length greater than or equal to {meta['min']}"
        )
    key_shape: Shape = getattr(shape, "key")  # noqa: B009 - MapShape only
    value_shape: Shape = getattr(shape, "value")  # noqa: B009 - MapShape only
    for key, item in value.items():
        yield from constraint_violations(
            key_shape, key, f"{path}.key", lenient_shapes=lenient_shapes
        )
        yield from constraint_violations(
            value_shape, item, f"{path}.{key}", lenient_shapes=lenient_shapes
        )


def _string_violations(meta: dict[str, Any], value: str, path: str) -> Iterator[str]:
    if "max" in meta and len(value) > meta["max"]:
        yield _violation(
            path, value, f"Member must have length less than or equal to {meta['max']}"
        )
    if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
        yield _violation(
            path, value, f"Member must satisfy regular expression pattern: {meta['pattern']}"
        )
    if "enum" in meta and value not in meta["enum"]:
        yield _violation(path, value, f"Member must satisfy enum value set: {meta['enum']}")


@cache
def _pattern(expression: str) -> re.Pattern[str]:
    return re.compile(_JAVA_CLASSES.sub(lambda m: _UNICODE_CLASSES[m.group(1)], expression))


# The models write Java patterns; `re` has no `\p{..}` classes. Each becomes an `re` class
# that holds it (and a little more: `\w` also holds digits and `_`), so the check never
# refuses what the service accepts, and works inside `[...]` as well as outside.
_UNICODE_CLASSES = {"L": r"\w", "N": r"\w", "Z": r"\s"}
_JAVA_CLASSES = re.compile(r"\\p\{([LNZ])\}")


def _violation(path: str, value: Any, constraint: str) -> str:
    return f"Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"


# -- the model's errors -----------------------------------------------------------------------


@cache
def client_exceptions(service_name: str) -> Any:
    """The exception classes a real client of this service has (`client.exceptions`), one
    set per service so `isinstance` checks hold across fakes. Any: the stubs type them
    as None."""
    return ClientExceptionsFactory().create_client_exceptions(service_model(service_name))


def error_codes(service_name: str, operation_name: str) -> frozenset[str]:
    return frozenset(shape.name for shape in operation(service_name, operation_name).error_shapes)


def known_errors(service_name: str, operation_name: str, codes: Iterable[str]) -> tuple[str, ...]:
    """`codes`, after checking the operation can raise every one of them."""
    codes = tuple(codes)
    known = error_codes(service_name, operation_name)
    unknown = set(codes) - known
    if unknown:
        raise ValueError(
            f"{operation_name} never raises {sorted(unknown)}; it raises {sorted(known)}"
        )
    return codes


def error_status(service_name: str, operation_name: str, code: str) -> int:
    """The HTTP status the model gives the error (400 for one it does not model)."""
    for shape in operation(service_name, operation_name).error_shapes:
        if shape.name == code:
            return int(shape.metadata["error"]["httpStatusCode"])
    return 400


def client_error(
    service_name: str, operation_name: str, code: str, message: str, /, **members: Any
) -> ClientError:
    """The error a real client raises: the modeled class (`client.exceptions.<code>`), the
    model's HTTP status, and the error's modeled members at the top of the response, where
    botocore's parser puts them."""
    error_class = cast("type[ClientError]", client_exceptions(service_name).from_code(code))
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": error_status(service_name, operation_name, code)},
        **members,
    }
    return error_class(
        response,  # type: ignore[arg-type]
        operation_name,
    )


def with_metadata(response: dict[str, Any], status: int = 200) -> dict[str, Any]:
    """A fake's answer as a client returns it: the parsed members plus ResponseMetadata."""
    return {**response, "ResponseMetadata": {"HTTPStatusCode": status}}
