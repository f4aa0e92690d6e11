"""moto's request objects built at a lower cost and with the same content, for as long as
the local cloud runs (`requests_built_directly`).

moto turns each request botocore sends into a werkzeug request (`Request.from_primitives`)
through `Request.from_values`, which builds a werkzeug `EnvironBuilder`: a `Headers`
object from the headers, a copy of it, a stream, properties read back and forth, and
finally the WSGI environ the request is made from. For the arguments moto passes (a
method, a base URL, a path, a query string, a body of bytes or text and a list of
string headers), the environ is written here directly, with werkzeug's own functions
for every conversion (`iri_to_uri`, `unquote`, the WSGI encoding) and in werkzeug's
order, which is the order the request's headers are read back in. Anything else (other
arguments, a body that is a stream or a form, a multipart content type with no body, a
header value with a line break, a query string or fragment in the base URL) takes
werkzeug's path, which answers or raises as it does.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from typing import Any
from urllib.parse import unquote, urlsplit

_ARGUMENTS = {"method", "base_url", "path", "query_string", "data", "headers"}
_LIMIT = 1024  # base URLs remembered; the cache starts again past that


@contextmanager
def requests_built_directly() -> Iterator[None]:
    request = importlib.import_module("moto.core.request").Request
    werkzeug_test = importlib.import_module("werkzeug.test")
    iri_to_uri = importlib.import_module("werkzeug.urls").iri_to_uri
    had_own = "from_values" in vars(request)
    original = vars(request).get("from_values")
    bases: dict[str, tuple[str, str, str] | None] = {}

    def base(base_url: str) -> tuple[str, str, str] | None:
        """The scheme, host and script root werkzeug reads from a base URL."""
        if base_url not in bases:
            if len(bases) >= _LIMIT:
                bases.clear()
            scheme, netloc, script_root, qs, anchor = urlsplit(iri_to_uri(base_url))
            bases[base_url] = None if qs or anchor else (scheme, netloc, script_root.rstrip("/"))
        return bases[base_url]

    def environ(kwargs: dict[str, Any]) -> dict[str, Any] | None:
        method, path, query = kwargs["method"], kwargs["path"], kwargs["query_string"]
        data, headers, base_url = kwargs["data"], kwargs["headers"], kwargs["base_url"]
        if not all(isinstance(v, str) for v in (method, path, query, base_url)):
            return None
        if "?" in path or not isinstance(data, bytes | str) or type(headers) is not list:
            return None
        if not all(type(h) is tuple and len(h) == 2 for h in headers):
            return None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers):
            return None
        if any("\n" in v or "\r" in v for _, v in headers):
            return None
        found = base(base_url)
        if found is None:
            return None
        scheme, host, script_root = found
        content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
        mimetype = content_type.partition(";")[0].strip() if content_type else None
        length: int | None = None
        if data:
            body = data.encode() if isinstance(data, str) else data
            stream, length = BytesIO(body), len(body)
        elif mimetype == "multipart/form-data":
            return None
        elif mimetype == "application/x-www-form-urlencoded":
            stream, length = BytesIO(b""), 0
        else:
            stream = BytesIO()
        dance = werkzeug_test._wsgi_encoding_dance
        builder = werkzeug_test.EnvironBuilder
        name, colon, port = host.partition(":")
        try:
            server_port = int(port) if colon else None
        except ValueError:
            server_port = None
        if server_port is None:
            server_port = 443 if scheme == "https" else 80
        raw_uri = dance(path)
        result: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": dance(unquote(script_root)),
            "PATH_INFO": dance(unquote(iri_to_uri(urlsplit(path).path))),
            "QUERY_STRING": dance(query),
            "REQUEST_URI": raw_uri,
            "RAW_URI": raw_uri,
            "SERVER_NAME": name,
            "SERVER_PORT": str(server_port),
            "HTTP_HOST": host,
            "SERVER_PROTOCOL": builder.server_protocol,
            "wsgi.version": builder.wsgi_version,
            "wsgi.url_scheme": scheme,
            "wsgi.input": stream,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if content_type is not None:
            result["CONTENT_TYPE"] = content_type
        if length is not None:
            result["CONTENT_LENGTH"] = str(length)
        combined: dict[str, list[str]] = {}
        for key, value in headers:
            if key.lower() not in ("content-type", "content-length"):
                combined.setdefault(f"HTTP_{key.upper().replace('-', '_')}", []).append(value)
        for key, values in combined.items():
            result[key] = ", ".join(values)
        return result

    def from_values(cls: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            built = None if args or set(kwargs) != _ARGUMENTS else environ(kwargs)
        except Exception:  # werkzeug's path raises it, or its own, as it does
            built = None
        if built is None:
            return werkzeug_from_values(cls, *args, **kwargs)
        return cls(built)

    werkzeug_from_values: Any = getattr(request.from_values, "__func__", None)
    if werkzeug_from_values is None:  # not a classmethod: leave it to moto
        yield
        return
    request.from_values = classmethod(from_values)
    try:
        yield
    finally:
        if had_own:
            request.from_values = original
        else:
            del request.from_values
