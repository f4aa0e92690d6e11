"""botocore's data loader, minus one listing per cold start.

To load one service's model, botocore's loader first lists every service on its data path,
to refuse an unknown one: about 450 service folders, each listed and its model file looked
for (about 1,350 `stat` calls), once for the API model and once for the endpoint rules, some
20 ms of CPU before a function's first client exists. `ServiceLoader` lists only the search
paths themselves (once each) and looks only in the folders of the service it is asked for.
What it finds there is what botocore would load: the same search paths in the same order,
the same latest version, the same extras. A name that is not such a folder (a file, another
spelling on a case-insensitive disk) goes down botocore's own path, so the refusal and its
message are botocore's.

`PlainJSONFileLoader` reads botocore's JSON data files into plain dicts, where botocore's
own reader builds an OrderedDict for every object. Dicts keep the file's key order, so
every model, shape and member comes out the same, in the same order: decoding
endpoints.json (1.25 MB) takes about half the CPU time.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import IO, Any

from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader, instance_cache
from botocore.session import Session

logger = logging.getLogger("botocore.loaders")


class PlainJSONFileLoader(JSONFileLoader):
    """botocore's JSON file loader (the same files, tried in the same order), decoding
    objects into dicts rather than OrderedDicts."""

    def _load_file(self, full_path: str, open_method: Callable[..., IO[bytes]]) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as file:
            payload = file.read().decode("utf-8")
        logger.debug("Loading JSON file: %s", full_path)  # as botocore's reader logs it
        return json.loads(payload)


class ServiceLoader(Loader):
    @classmethod
    def like(cls, loader: Loader) -> ServiceLoader:
        """A ServiceLoader reading the same search paths, extras and files as `loader`
        (the search-path list is shared, so a path added to either reaches both). botocore's
        own JSON file loader becomes a PlainJSONFileLoader; any other is kept."""
        file_loader = loader.file_loader
        if type(file_loader) is JSONFileLoader:
            file_loader = PlainJSONFileLoader()
        copy = cls(
            extra_search_paths=loader.search_paths,
            file_loader=file_loader,
            include_default_search_paths=False,
            include_default_extras=False,
        )
        copy.extras_types.extend(loader.extras_types)
        return copy

    @instance_cache
    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        if not self._known(service_name, type_name):
            return super().load_service_model(service_name, type_name, api_version)
        if api_version is None:
            api_version = self.determine_latest_version(service_name, type_name)
        model = self.load_data(os.path.join(service_name, api_version, type_name))
        # The extras as botocore merges them into a model it loads (members its stubs omit).
        extras = self._find_extras(  # type: ignore[attr-defined]
            service_name, type_name, api_version
        )
        self._extras_processor.process(model, extras)  # type: ignore[attr-defined]
        return model

    def _known(self, service_name: str, type_name: str) -> bool:
        """Whether some search path has a folder of this name, spelled exactly so, with a
        version holding this model type: botocore's own test for each service it lists.
        (A listing holds no "", ".", ".." nor a name with a separator in it.)"""
        if not any(
            service_name in self._entries(path) and os.path.isdir(os.path.join(path, service_name))
            for path in self.search_paths
        ):
            return False
        try:
            return bool(self.list_api_versions(service_name, type_name))
        except (DataNotFoundError, OSError):
            return False

    @instance_cache
    def _entries(self, path: str) -> frozenset[str]:
        """The names in one search path (none where it is missing or unreadable)."""
        try:
            return frozenset(os.listdir(path))
        except OSError:
            return frozenset()


def install(session: Session) -> ServiceLoader:
    """Give a botocore session a ServiceLoader like its own data loader, once."""
    loader = session.get_component("data_loader")
    if isinstance(loader, ServiceLoader):
        return loader
    replacement = ServiceLoader.like(loader)
    session.register_component("data_loader", replacement)
    return replacement
