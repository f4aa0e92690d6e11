"""A bare DynamoDB table on moto, keyed by job_id: what the moto-path tests call against."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any


def job_table(dynamodb: Any, name: str) -> None:
    """Creates table `name` (hash key job_id, a string; on demand) with `dynamodb`."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@contextmanager
def job_table_on_moto(
    name: str, paths: Callable[[], AbstractContextManager[Any]] | None = None
) -> Iterator[Any]:
    """A DynamoDB client on a fresh moto with table `name`, and with `paths()` (one of
    LocalCloud's patches) in place if given, for as long as the context lasts."""
    import boto3
    from moto import mock_aws

    with ExitStack() as stack:
        stack.enter_context(mock_aws())
        if paths is not None:
            stack.enter_context(paths())
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        job_table(dynamodb, name)
        yield dynamodb


def dynamodb_answer(call: Callable[[], Any]) -> tuple[Any, ...]:
    """One DynamoDB call's answer as the moto-path tests compare them: ("ok", the response
    without its metadata), or ("error", the error, the item a failed condition returned)."""
    from botocore.exceptions import ClientError

    try:
        response = call()
    except ClientError as error:
        return ("error", error.response["Error"], error.response.get("Item"))
    response.pop("ResponseMetadata")
    return ("ok", response)
