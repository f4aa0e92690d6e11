"""The base of every Dropzone pydantic model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A pydantic model whose validator is built the first time it is used, not when its
    class is defined (pydantic's defer_build): a cold start pays only for the models its
    first event validates or dumps. Errors and messages are pydantic's, unchanged."""

    model_config = ConfigDict(defer_build=True)
