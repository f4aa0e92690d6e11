"""moto's dispatch of each request at a lower cost and with the same outcome, for as long
as the local cloud runs (`dispatch_at_lower_cost`).

- Services. To find the service a request is for, moto tries the URL against every
  service's pattern in `moto.backend_index` in turn (some 250), and takes the first that
  matches. Most patterns begin `https?://` followed by literal text (`dynamodb\\.`, `s3`),
  which the URL must then hold right after its scheme for the pattern to match at all.
  That text is read once from each pattern's parse, and a request is tried against the
  patterns, in moto's order, whose text its URL holds there, and against every pattern
  without such text: the patterns left out could not have matched.
- Routes. For the service's backend moto then rebuilds its table of URL patterns and
  handlers (`BaseBackend.urls`) from the backend's URL bases and its `urls` module, and
  looks each pattern up in `re`'s cache. The table depends only on the backend's class,
  its URL bases, the module's paths and the ISO-region setting, so it is built, and its
  patterns compiled, once for each; the bases, the module and the setting are still read
  on every request, as moto reads them. A class with its own `urls` takes moto's path.
- Actions. To check that an action is a method of the response class, moto lists every
  function of the class with `inspect.getmembers` on each request. Here the one name is
  looked up as `getmembers` would find it: among the names of the class and its bases,
  read with `getattr` (or from the class's dict, where `getattr` fails), and a function.
  A class with its own `__dir__` or a dynamic class attribute of that name takes moto's
  path. The one difference: moto reads every other member too, so a member whose reading
  raises something other than `AttributeError` would fail moto's lookup, not this one.
- Random strings: see `moto_strings`.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from dropzone_local.moto_environ import requests_built_directly
from dropzone_local.moto_strings import random_strings_in_one_call

_Route = tuple[re.Pattern[str], Callable[..., Any]]
_Candidate = tuple[str, str, re.Pattern[str]]  # the literal text, the service, the pattern


@contextmanager
def dispatch_at_lower_cost() -> Iterator[None]:
    with ExitStack() as patches:
        patches.enter_context(_routes_worked_out_once())
        patches.enter_context(requests_built_directly())
        patches.enter_context(_actions_looked_up_by_name())
        patches.enter_context(random_strings_in_one_call())
        yield


def literal_text(pattern: Any) -> str | None:
    """The text a URL must hold right after `http://` or `https://` for the pattern to
    match it, when the pattern begins `https?://` and then literal text; else None."""
    if not isinstance(pattern, re.Pattern) or pattern.flags & re.IGNORECASE:
        return None
    if not isinstance(pattern.pattern, str) or not pattern.pattern.startswith("https?://"):
        return None
    parser = importlib.import_module("re._parser")
    literal = parser.LITERAL
    items = list(parser.parse(pattern.pattern, pattern.flags))
    head = [(op, chr(av) if op is literal else None) for op, av in items[:8]]
    scheme = [(literal, c) for c in "http"] + [(parser.MAX_REPEAT, None)]
    if head != [*scheme, *((literal, c) for c in "://")]:
        return None
    text = ""
    for op, av in items[8:]:
        if op is not literal:
            break
        text += chr(av)
    return text


class ServiceIndex:
    """moto's service patterns, each with the literal text it requires, by first character."""

    def __init__(self) -> None:
        self._patterns: tuple[Any, ...] | None = None
        self._by_first: dict[str, list[_Candidate]] = {}
        self._unprefixed: list[_Candidate] = []  # with no literal text after `https?://`
        self._other: list[_Candidate] = []  # not beginning `https?://` and literal text

    def candidates(self, url: str) -> list[tuple[str, re.Pattern[str]]]:
        """The (service, pattern) pairs that may match the URL, in moto's order."""
        patterns = tuple(importlib.import_module("moto.backend_index").backend_url_patterns)
        if patterns != self._patterns:
            self._index(patterns)
        if url.startswith("https://"):
            rest = url[8:]
        elif url.startswith("http://"):
            rest = url[7:]
        else:  # only the patterns that do not begin `https?://` can match
            return [(s, p) for _, s, p in self._other]
        found = self._by_first.get(rest[:1], self._unprefixed)
        return [(s, p) for text, s, p in found if rest.startswith(text)]

    def _index(self, patterns: tuple[Any, ...]) -> None:
        entries: list[tuple[str | None, str, Any]] = [
            (literal_text(pattern), service, pattern) for service, pattern in patterns
        ]
        firsts = {text[0] for text, _, _ in entries if text}
        self._unprefixed = [("", s, p) for text, s, p in entries if not text]
        self._other = [("", s, p) for text, s, p in entries if text is None]
        self._by_first = {
            first: [(text or "", s, p) for text, s, p in entries if not text or text[0] == first]
            for first in firsts
        }
        self._patterns = patterns


class RouteTables:
    """Each backend's table of compiled URL patterns and handlers, built as moto builds
    `BaseBackend.urls`, once for each class, URL bases, module paths and ISO setting."""

    def __init__(self) -> None:
        self._base = importlib.import_module("moto.core.base_backend")
        self._moto_urls = vars(self._base.BaseBackend)["urls"]
        self._tables: dict[tuple[Any, ...], list[_Route]] = {}

    def routes(self, backend: Any) -> list[_Route]:
        if inspect.getattr_static(type(backend), "urls", None) is not self._moto_urls:
            return [(re.compile(url), handler) for url, handler in backend.urls.items()]
        bases, paths = backend.url_bases, backend._url_module.url_paths
        iso = self._base.enable_iso_regions()
        domains = tuple(self._base.ISO_REGION_DOMAINS.items()) if iso else ()
        key = (type(backend), tuple(bases), tuple(paths.items()), iso, domains)
        table = self._tables.get(key)
        if table is None:
            urls = self._moto_urls.fget(backend)
            table = [(re.compile(url), handler) for url, handler in urls.items()]
            self._tables[key] = table
        return table


@contextmanager
def _routes_worked_out_once() -> Iterator[None]:
    stubber = importlib.import_module("moto.core.botocore_stubber")
    backends = importlib.import_module("moto.backends")
    core = importlib.import_module("moto.core")
    exceptions = importlib.import_module("moto.core.exceptions")
    moto_api = importlib.import_module("moto.moto_api")
    original = vars(stubber.BotocoreStubber)["process_request"]
    services, tables = ServiceIndex(), RouteTables()

    def process_request(self: Any, request: Any) -> Any:  # moto's, with the lookups above
        parsed_url, _ = stubber.get_equivalent_url_in_aws_domain(request.url)
        clean_url = f"{parsed_url.scheme}://{parsed_url.netloc}{parsed_url.path}"
        if stubber.passthrough_url(clean_url):
            return None
        for service, pattern in services.candidates(clean_url):
            if not pattern.match(clean_url):
                continue
            if stubber.passthrough_service(service):
                return None
            if not stubber.service_whitelisted(service):
                raise stubber.ServiceNotWhitelisted(service)
            backend_dict = backends.get_backend(service)
            if isinstance(backend_dict, stubber.BackendDict):
                accounts = backend_dict[core.DEFAULT_ACCOUNT_ID]
                region = "us-east-1" if "us-east-1" in accounts else "aws"
                backend = backend_dict[core.DEFAULT_ACCOUNT_ID][region]
            else:
                backend = backend_dict["global"]
            for url_pattern, method_to_execute in tables.routes(backend):
                if url_pattern.match(clean_url):
                    normalized = stubber.normalize_request(request)
                    try:
                        moto_api.recorder._record_request(normalized)
                        status, headers, body = method_to_execute(
                            normalized, normalized.raw_url, normalized.headers
                        )
                    except exceptions.HTTPException as e:
                        status, headers, body = e.code, e.get_headers(), e.get_body()
                    return status, headers, body
        if re.compile(r"https?://.+\.amazonaws.com/.*").match(clean_url):
            return 404, {}, "Not yet implemented"
        return None

    stubber.BotocoreStubber.process_request = process_request
    try:
        yield
    finally:
        stubber.BotocoreStubber.process_request = original


class MethodNames(Sequence[str]):
    """The names of a class's functions as `method_names_from_class` lists them, where
    asking whether one name is among them looks up that name alone."""

    def __init__(self, cls: Any, listed: Callable[[Any], list[str]]) -> None:
        self._cls, self._listed = cls, listed

    def __contains__(self, name: object) -> bool:
        cls = self._cls
        if not isinstance(name, str) or not isinstance(cls, type):
            return name in self._listed(cls)
        if type(cls).__dir__ is not type.__dir__:
            return name in self._listed(cls)
        owners = [vars(c) for c in cls.__mro__ if name in vars(c)]
        if not owners:  # not among dir(cls)
            return False
        dynamic = types.DynamicClassAttribute
        if any(isinstance(vars(b).get(name), dynamic) for b in cls.__bases__):
            return name in self._listed(cls)
        try:
            value = getattr(cls, name)
        except AttributeError:
            value = owners[0][name]
        return inspect.isfunction(value)

    def __len__(self) -> int:
        return len(self._listed(self._cls))

    def __getitem__(self, index: Any) -> Any:
        return self._listed(self._cls)[index]


@contextmanager
def _actions_looked_up_by_name() -> Iterator[None]:
    responses: Any = importlib.import_module("moto.core.responses")
    original = responses.method_names_from_class

    def method_names_from_class(clazz: object) -> MethodNames:
        return MethodNames(clazz, original)

    responses.method_names_from_class = method_names_from_class
    try:
        yield
    finally:
        responses.method_names_from_class = original
