"""moto's routing of requests and writing of answers, at a lower cost and with the same
outcome, for as long as the local cloud runs (`requests_at_lower_cost`).

- Answers. moto writes each answer by walking the operation's output shape in botocore's
  service model and, for every member of every structure, asking six alias providers
  under which names the member might be found on the Python object (its own name, the
  shape's, the name without the shape's or the class's prefix, the wire name, each also
  in snake case). A DynamoDB item is a dict of AttributeValue structures of ten members,
  so a GetItem, or an UpdateItem that returns the item, asks those questions for every
  member of every attribute. For a plain dict the names depend only on the member's name,
  its shape and the shape's parent in the model (a dict has no `Meta`, and its class name
  is fixed), so they are worked out once for each, in moto's order. Once they are, a
  member of a plain dict is looked up under them directly, as moto would (the first name
  the dict holds), without the context object and path moto builds for each member's
  lookup. Any other object, a picker with response transformers or another class, a name
  with a dot (a path), or a question whose working out fails, takes moto's own path.
- Items. DynamoDB's items, maps of AttributeValue structures, are written directly
  (`moto_attribute_values`).
- S3 routing. To route an S3 request moto reloads `moto.s3.urls` twice, recompiling it,
  because its URL patterns include custom endpoints read from the environment
  (`MOTO_S3_CUSTOM_ENDPOINTS`). It is reloaded here only when that setting changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from dropzone_local.moto_attribute_values import attribute_values_written_directly

_NOT_YET = object()


@contextmanager
def requests_at_lower_cost() -> Iterator[None]:
    with ExitStack() as patches:
        patches.enter_context(_attribute_names_worked_out_once())
        patches.enter_context(_s3_urls_reloaded_on_change())
        patches.enter_context(attribute_values_written_directly())
        yield


@contextmanager
def _attribute_names_worked_out_once() -> Iterator[None]:
    picker = importlib.import_module("moto.core.serialize").XFormedAttributePicker
    original = vars(picker)["get_possible_keys"]
    names: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def get_possible_keys(self: Any, context: Any) -> Iterable[str]:
        if type(context.obj) is not dict:
            return original(self, context)  # type: ignore[no-any-return]
        shape = context.shape
        parent = getattr(shape, "parent", _NOT_YET)
        key = (type(self), tuple(self.alias_providers), shape, parent, context.key)
        found = names.get(key)
        if found is None:
            try:
                found = tuple(original(self, context))
            except Exception:  # moto's own path raises it again, when it gets there
                return original(self, context)  # type: ignore[no-any-return]
            names[key] = found
        return found

    serializer = importlib.import_module("moto.core.serialize").ResponseSerializer
    original_value = vars(serializer)["get_value"]

    def get_value(self: Any, value: Any, key: str, shape: Any) -> Any:
        chooser = self._value_picker
        if type(value) is not dict or type(chooser) is not picker:
            return original_value(self, value, key, shape)
        parent = getattr(shape, "parent", _NOT_YET)
        found = names.get((picker, tuple(chooser.alias_providers), shape, parent, key))
        if found is None or chooser.response_transformers or any("." in n for n in found):
            return original_value(self, value, key, shape)  # and the names worked out
        for name in found:  # moto's lookup in a dict: the first name present
            member = value.get(name, _NOT_YET)
            if member is not _NOT_YET:
                return member
        return None

    picker.get_possible_keys = get_possible_keys
    serializer.get_value = get_value
    try:
        yield
    finally:
        picker.get_possible_keys = original
        serializer.get_value = original_value


@contextmanager
def _s3_urls_reloaded_on_change() -> Iterator[None]:
    backend = importlib.import_module("moto.s3.models").S3Backend
    settings = importlib.import_module("moto.settings")
    original = vars(backend)["_url_module"]
    loaded: list[Any] = [_NOT_YET]  # the custom endpoints the module was last loaded with

    def url_module(self: Any) -> Any:
        endpoints = settings.get_s3_custom_endpoints()
        if endpoints != loaded[0]:
            module = original.fget(self)  # moto's reload
            loaded[0] = endpoints
            return module
        return importlib.import_module("moto.s3.urls")

    backend._url_module = property(url_module)
    try:
        yield
    finally:
        backend._url_module = original
