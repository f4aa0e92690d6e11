"""The parts of LocalCloud's cheaper dispatch in moto, each against moto's own: the
WSGI environ of a request written directly and the one werkzeug's builder writes, for
bodies, headers, paths and base URLs of every kind; an action looked up by name and the
list of a class's functions moto makes; random strings drawn in one call and moto's."""

from __future__ import annotations

import re
import string
import types
from typing import Any

import pytest

from dropzone_local.moto_dispatch import MethodNames
from dropzone_local.moto_environ import requests_built_directly
from dropzone_local.moto_strings import random_strings_in_one_call


def _unbounded(value: Any) -> Any:
    """The value without werkzeug's multipart boundary, which is drawn at random."""
    if isinstance(value, str):
        return re.sub(r"WerkzeugFormPart_[0-9.]+", "", value)
    if isinstance(value, bytes):
        return re.sub(rb"WerkzeugFormPart_[0-9.]+", b"", value)
    return value


def _from_values(**kwargs: Any) -> Any:
    """A request's environ and what moto reads from it, the body read back."""
    from moto.core.request import Request

    try:
        request = Request.from_values(**kwargs)
    except Exception as error:
        return ("error", type(error), str(error))
    environ = dict(request.environ)
    environ.pop("werkzeug.request")
    environ["wsgi.input"] = environ["wsgi.input"].read()
    request.environ["wsgi.input"].seek(0)
    environ = {key: _unbounded(value) for key, value in environ.items()}
    seen = (request.method, request.url, request.raw_url, request.path, list(request.headers))
    return list(environ.items()), seen, request.get_data(), request.form, request.args


_HEADERS = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "Dyn.GetItem")]
_REQUESTS: list[dict[str, Any]] = [
    {"headers": _HEADERS, "data": b'{"a": 1}'},
    {"headers": _HEADERS, "data": '{"ü": 1}'},
    {"headers": [], "data": b""},
    {"headers": [("content-type", "application/x-www-form-urlencoded")], "data": b""},
    {"headers": [("Content-Type", "application/x-www-form-urlencoded")], "data": b"A=1&B=2"},
    {"headers": [("Content-Length", "99"), ("content-length", "1")], "data": b"abc"},
    {"headers": [("X-Amz-Meta-My_Key", "a"), ("x-amz-meta-my-key", "b")], "data": b"x"},
    {"headers": [("Host", "other.example"), ("Accept", "a"), ("accept", "b")], "data": b""},
    {"headers": [("X-Bad", "a\r\nb")], "data": b""},
    {"headers": [("X-Number", 7)], "data": b""},
    {"headers": (("X-Tuple", "t"),), "data": b""},
    {"headers": _HEADERS, "data": {"form": "field"}},
    {"headers": _HEADERS, "data": None},
    {"path": "/key%2Fwith%20space/ü", "query_string": "versionId=1&x=%2F"},
    {"path": "//double/slash"},
    {"path": "/a?b"},
    {"path": "/p;params#frag"},
    {"base_url": "http://localhost:5000"},
    {"base_url": "https://host:notaport"},
    {"base_url": "https://bücket.s3.amazonaws.com/root/"},
    {"base_url": "https://s3.amazonaws.com/?q=1"},
    {"method": "HEAD", "base_url": "https://b.s3.amazonaws.com", "path": ""},
]


@pytest.mark.parametrize("changes", _REQUESTS)
def test_a_request_is_built_as_werkzeug_builds_it(changes: dict[str, Any]) -> None:
    call: dict[str, Any] = {
        "method": "POST",
        "base_url": "https://dynamodb.us-east-1.amazonaws.com",
        "path": "/",
        "query_string": "",
        "data": b"",
        "headers": [],
        **changes,
    }
    expected = _from_values(**call)
    with requests_built_directly():
        assert _from_values(**call) == expected
    assert _from_values(**call) == expected


class _Meta(type):
    def __dir__(cls) -> list[str]:
        return ["listed_only"]


class _Base:
    def inherited(self) -> None: ...

    @property
    def value(self) -> int:
        return 1

    @types.DynamicClassAttribute
    def dynamic(self) -> int:
        return 2


class _Odd(_Base):
    lambda_ = staticmethod(lambda: None)
    plain = 3
    number = len

    def own(self) -> None: ...

    @staticmethod
    def static() -> None: ...

    @classmethod
    def bound(cls) -> None: ...

    @property
    def missing(self) -> int:
        raise AttributeError("missing")


class _Listed(metaclass=_Meta):
    def listed_only(self) -> None: ...

    def hidden(self) -> None: ...


def _response_classes() -> list[type]:
    from moto.dynamodb.responses import DynamoHandler
    from moto.events.responses import EventsHandler
    from moto.s3.responses import S3Response
    from moto.sns.responses import SNSResponse
    from moto.sqs.responses import SQSResponse

    return [DynamoHandler, S3Response, SQSResponse, SNSResponse, EventsHandler, _Odd, _Listed]


@pytest.mark.parametrize("cls", _response_classes())
def test_an_action_is_a_method_exactly_when_moto_lists_it(cls: type) -> None:
    from moto.core.utils import method_names_from_class

    names = [*dir(cls), "listed_only", "missing_action", "", "Get_Item", "get_item_"]
    listed = method_names_from_class(cls)
    found = MethodNames(cls, method_names_from_class)
    assert [name in found for name in names] == [name in listed for name in names]
    assert list(found) == listed and len(found) == len(listed)
    assert any(name in found for name in names)
    assert 7 not in found


def test_a_method_added_later_is_found() -> None:
    from moto.core.utils import method_names_from_class

    class Later(_Odd):
        pass

    found = MethodNames(Later, method_names_from_class)
    assert "get_thing" not in found
    Later.get_thing = lambda self: None  # type: ignore[attr-defined]
    assert "get_thing" in found and "get_thing" in method_names_from_class(Later)
    del Later.get_thing  # type: ignore[attr-defined]
    assert "get_thing" not in found


def test_random_strings_have_moto_s_length_and_alphabet_and_follow_its_seed() -> None:
    from moto.moto_api._internal import mock_random
    from moto.sqs import models
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    moto_s = [models.generate_receipt_handle(), gen_amzn_requestid_long()]
    moto_s.append(mock_random.get_random_string(length=30, include_digits=False))
    moto_s.append(mock_random.get_random_string(lower_case=True))

    with random_strings_in_one_call():
        drawn = [models.generate_receipt_handle() for _ in range(50)]
        ids = [gen_amzn_requestid_long() for _ in range(50)]
        letters = mock_random.get_random_string(length=30, include_digits=False)
        lower = mock_random.get_random_string(lower_case=True)
        mock_random.seed(7)
        seeded = [models.generate_receipt_handle(), mock_random.get_random_string()]
        mock_random.seed(7)
        assert [models.generate_receipt_handle(), mock_random.get_random_string()] == seeded
        mock_random.seed()
    assert len(set(drawn)) == len(drawn) and len(set(ids)) == len(ids)
    assert {len(s) for s in drawn} == {len(moto_s[0])} == {185}
    assert set("".join(drawn)) == set(string.ascii_lowercase)
    assert {len(s) for s in ids} == {len(moto_s[1])} == {52}
    assert set("".join(ids)) == set(string.ascii_letters + string.digits)
    assert len(letters) == len(moto_s[2]) and set(letters) <= set(string.ascii_letters)
    assert len(lower) == len(moto_s[3]) == 20 and lower == lower.lower()
