"""Service models in botocore's data-path layout (`<service>/<api-version>/service-2.json`).

botocore 1.40.76 and later no longer ship the Lookout for Vision model;
`scripts/extract_lookoutvision_model.py` extracts it, without its documentation, from the
last botocore wheel that did. `register()` puts this folder on botocore's data path, the same
mechanism as the `AWS_DATA_PATH` variable, so `boto3.client("lookoutvision")` works with
current boto3. Lambda also gets `AWS_DATA_PATH` from the template.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DATA_PATH = str(Path(__file__).resolve().parent)


def register() -> None:
    """Add this folder to AWS_DATA_PATH and to the loader of an existing default session."""
    current = os.environ.get("AWS_DATA_PATH", "")
    if DATA_PATH not in current.split(os.pathsep):
        os.environ["AWS_DATA_PATH"] = os.pathsep.join(p for p in (current, DATA_PATH) if p)
    boto3 = sys.modules.get("boto3")
    session = getattr(boto3, "DEFAULT_SESSION", None) if boto3 else None
    if session is not None:
        loader = session._session.get_component("data_loader")
        if DATA_PATH not in loader.search_paths:
            loader.search_paths.append(DATA_PATH)
            # The loader memoises its list of known services; let it look again.
            loader._cache.clear()
