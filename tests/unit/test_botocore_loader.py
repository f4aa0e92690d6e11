"""dropzone.botocore_loader: the models botocore would load, without listing every service
and without an OrderedDict per JSON object.

Every comparison is against botocore's own Loader over the same search paths, key order
included."""

from __future__ import annotations

import gzip
import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from botocore.loaders import JSONFileLoader, Loader

from dropzone import aws, botocore_data
from dropzone.adapters import bedrock_runtime, pricing
from dropzone.botocore_loader import PlainJSONFileLoader, ServiceLoader, install

TYPES = ("service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2")
# Every service Dropzone makes a client for, plus one whose paginators carry SDK extras.
SERVICES = (
    "bedrock",
    "bedrock-runtime",
    "dynamodb",
    "events",
    "greengrassv2",
    "kms",
    "lambda",
    "lookoutvision",
    "pricing",
    "s3",
    "sagemaker-edge",
    "sagemaker-runtime",
    "sqs",
    "ssm",
    "accessanalyzer",
)


def botocore_loader() -> Loader:
    """botocore's loader as a session builds it from AWS_DATA_PATH (the layer's data
    folder included)."""
    botocore_data.register()
    return botocore.session.Session().get_component("data_loader")


def ordered(data: Any) -> Any:
    """`data` with every mapping as a list of its (key, value) pairs: equal only when the
    keys come in the same order (an OrderedDict equals a dict in any order)."""
    if isinstance(data, Mapping):
        return [(key, ordered(value)) for key, value in data.items()]
    if isinstance(data, list):
        return [ordered(item) for item in data]
    return data


def outcome(loader: Loader, *args: Any) -> Any:
    try:
        return ("model", ordered(loader.load_service_model(*args)))
    except (DataNotFoundError, UnknownServiceError) as error:
        return (type(error).__name__, str(error))


class NoListing(ServiceLoader):
    def list_available_services(self, type_name: str) -> list[str]:
        raise AssertionError(f"listed every service for {type_name}")


@pytest.mark.parametrize("type_name", TYPES)
@pytest.mark.parametrize("service", SERVICES)
def test_a_model_is_the_one_botocore_loads(service: str, type_name: str) -> None:
    reference = botocore_loader()
    ours = ServiceLoader.like(botocore_loader())
    assert outcome(ours, service, type_name) == outcome(reference, service, type_name)


@pytest.mark.parametrize("service", ["dynamodb", "s3", "lookoutvision"])
def test_a_model_at_each_api_version_is_the_one_botocore_loads(service: str) -> None:
    reference = botocore_loader()
    ours = ServiceLoader.like(botocore_loader())
    for version in reference.list_api_versions(service, "service-2"):
        assert outcome(ours, service, "service-2", version) == outcome(
            reference, service, "service-2", version
        )


@pytest.mark.parametrize("name", ["endpoints", "partitions", "sdk-default-configuration", "_retry"])
def test_the_data_every_client_reads_is_the_one_botocore_loads(name: str) -> None:
    reference = botocore_loader()
    ours = ServiceLoader.like(botocore_loader())
    assert ordered(ours.load_data(name)) == ordered(reference.load_data(name))


def test_objects_are_read_into_plain_dicts_where_botocore_builds_ordered_ones() -> None:
    reference = botocore_loader()
    ours = ServiceLoader.like(reference)
    assert type(reference.file_loader) is JSONFileLoader
    assert isinstance(ours.file_loader, PlainJSONFileLoader)
    theirs, mine = reference.load_data("endpoints"), ours.load_data("endpoints")
    assert type(theirs) is OrderedDict and type(theirs["partitions"][0]) is OrderedDict
    assert type(mine) is dict and type(mine["partitions"][0]) is dict


def test_a_gzipped_model_and_a_missing_file_are_read_as_botocore_reads_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "packed.json.gz").write_bytes(gzip.compress(rb'{"b": 1, "a": ["\u00e9"]}'))
    (tmp_path / "both.json").write_text('{"from": "json"}')
    (tmp_path / "both.json.gz").write_bytes(gzip.compress(b'{"from": "gz"}'))
    for name in ("packed", "both", "missing"):
        path = str(tmp_path / name)
        expected = JSONFileLoader().load_file(path)
        assert ordered(PlainJSONFileLoader().load_file(path)) == ordered(expected)
    assert PlainJSONFileLoader().load_file(str(tmp_path / "packed")) == {"b": 1, "a": ["é"]}
    assert PlainJSONFileLoader().load_file(str(tmp_path / "missing")) is None


def test_a_file_loader_other_than_botocore_own_is_kept() -> None:
    class Custom(JSONFileLoader):
        pass

    custom = Custom()
    reference = botocore_loader()
    reference.file_loader = custom
    assert ServiceLoader.like(reference).file_loader is custom


@pytest.mark.parametrize("type_name", TYPES)
def test_a_known_service_is_found_without_listing_them_all(type_name: str) -> None:
    reference = botocore_loader()
    ours = NoListing.like(botocore_loader())
    known = set(reference.list_available_services(type_name))
    assert known >= {"s3", "dynamodb"}
    for service in SERVICES:
        if service in known:
            assert ours.load_service_model(service, type_name)


def test_each_service_botocore_lists_is_the_one_found_and_no_other() -> None:
    reference = botocore_loader()
    ours = ServiceLoader.like(botocore_loader())
    for type_name in TYPES:
        known = set(reference.list_available_services(type_name))
        candidates = set(reference.list_available_services("service-2")) | {"no-such-service"}
        found = {service for service in candidates if ours._known(service, type_name)}
        assert found == known & candidates, type_name


@pytest.mark.parametrize(
    "service",
    [
        "no-such-service",
        "..",
        ".",
        "",
        "s3/../dynamodb",
        f"..{os.sep}botocore",
        "S3",  # another spelling: refused, as botocore refuses it, on any disk
        "__init__.py",  # files at the top of a search path (the layer's botocore_data)
        "endpoints.json",
        "_retry.json",
    ],
)
def test_an_unknown_service_gets_botocore_refusal_word_for_word(service: str) -> None:
    reference = botocore_loader()
    ours = ServiceLoader.like(botocore_loader())
    refused = outcome(ours, service, "service-2")
    assert refused[0] == "UnknownServiceError"
    assert refused == outcome(reference, service, "service-2")


def test_a_stray_file_in_a_data_path_folder_is_refused_as_botocore_refuses_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "README").write_text("not a service")
    (tmp_path / "notes.json").write_text("{}")
    reference = botocore_loader()
    reference.search_paths.insert(0, str(tmp_path))
    ours = ServiceLoader.like(botocore_loader())
    ours.search_paths.insert(0, str(tmp_path))
    for name in ("README", "notes.json"):
        refused = outcome(ours, name, "service-2")
        assert refused[0] == "UnknownServiceError"
        assert refused == outcome(reference, name, "service-2")


def test_the_copy_shares_the_search_paths_so_a_folder_added_later_reaches_both() -> None:
    original = botocore_loader()
    ours = ServiceLoader.like(original)
    assert ours.search_paths == original.search_paths
    assert ours.extras_types == original.extras_types == ["sdk"]
    original.search_paths.append("/added/later")
    assert ours.search_paths[-1] == "/added/later"


def test_install_replaces_the_session_loader_once() -> None:
    session = botocore.session.Session()
    first = install(session)
    assert session.get_component("data_loader") is first
    assert install(session) is first


@pytest.fixture
def fresh_default_session() -> Iterator[None]:
    saved = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = None
    aws.reset_clients()
    aws.service_model.cache_clear()
    try:
        yield
    finally:
        aws.reset_clients()
        aws.service_model.cache_clear()
        boto3.DEFAULT_SESSION = saved


@pytest.mark.usefixtures("fresh_default_session")
def test_the_runtime_clients_are_created_without_listing_every_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(
        Loader,
        "list_available_services",
        lambda self, type_name: pytest.fail(f"listed every service for {type_name}"),
    )
    for service in SERVICES[:-1]:
        assert aws.client(service).meta.service_model.service_name == service
    assert aws.service_model("sagemaker-edge").service_name == "sagemaker-edge"
    # The two clients made apart from aws.client: the Price List's, in its own region, and
    # the CountTokens client, with its own timeouts. Each may be the first client made.
    for made_apart in (pricing.price_list_client, bedrock_runtime.counting_client):
        made_apart.cache_clear()
        boto3.DEFAULT_SESSION = None
        try:
            assert made_apart().meta.service_model.service_name in ("pricing", "bedrock-runtime")
        finally:
            made_apart.cache_clear()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    assert isinstance(session._session.get_component("data_loader"), ServiceLoader)


def test_another_spelling_is_refused_even_on_a_disk_that_ignores_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a case-insensitive disk `S3/` opens `s3/`; botocore lists `s3` and refuses `S3`."""

    def folded(path: str) -> str:
        parts = path.split(os.sep)
        return os.sep.join("s3" if part == "S3" else part for part in parts)

    isdir, isfile, listdir = os.path.isdir, os.path.isfile, os.listdir
    monkeypatch.setattr(os.path, "isdir", lambda path: isdir(folded(path)))
    monkeypatch.setattr(os.path, "isfile", lambda path: isfile(folded(path)))
    monkeypatch.setattr(os, "listdir", lambda path=".": listdir(folded(path)))
    ours = ServiceLoader.like(botocore_loader())
    assert ours._known("s3", "service-2")
    assert not ours._known("S3", "service-2")
