"""How many tokens a batch record will use, estimated from its `modelInput` alone.

Pure rules, no I/O. A record's text is counted in characters (the prompt's text only, never a
model setting or the base64 of its media) and divided by its family's characters per token;
images, videos and documents are charged by the figures their family documents, read from
an image's header where its bytes are in the record; and its output is at most its own
output limit, or its family's default when it sets none. The rule of a family is chosen as
in dropzone.workflows.bedrock.model_inputs (ARN and cross-region inference profile prefix
stripped); a model of no known family gets the generic rule, which leans high.

Every figure below says where it comes from, or that it is an assumption. The estimate is
an estimate: docs/workflows/bedrock-cost.md says how far off it can be.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Callable
from typing import Any

from dropzone.workflows.bedrock.media_headers import Base64View, image_size
from dropzone.workflows.bedrock.model_inputs import INVOCATION_TYPES
from dropzone.workflows.bedrock.token_rules import (
    ASSUMED_DOCUMENT_PAGES,
    MESSAGE_OVERHEAD_TOKENS,
    PDF_PAGE,
    REQUEST_OVERHEAD_TOKENS,
    TEXT_DOCUMENT_FORMATS,
    TOOL_USE_TOKENS,
    RecordTokens,
    Shape,
    TokenRule,
    rule_for,
)


def record_tokens(model_input: dict[str, Any], model_id: str, invocation_type: str) -> RecordTokens:
    """The estimated tokens of one record. Never raises for an odd modelInput: what it
    cannot read as a prompt it counts as JSON text."""
    if invocation_type not in INVOCATION_TYPES:
        raise ValueError(
            f"unknown invocation type {invocation_type!r}; expected {INVOCATION_TYPES}"
        )
    rule = rule_for(model_id)
    count = _Count(rule)
    try:
        if invocation_type == "Converse":
            count.messages_body(model_input, _CONVERSE_SETTINGS)
        else:
            _BODIES[rule.shape](count, model_input)
    except RecursionError:  # nested deeper than the walk goes: its JSON text, walked flat
        count = _Count(rule)
        count.chars = _flat_json_size(model_input)
    return count.result(rule.output_limit(model_input, invocation_type))


# ------------------------------------------------------------------------- the counting


# Members that are settings, not prompt, by body: they count nothing. A member neither
# read as prompt nor listed here counts as JSON text.
_ANTHROPIC_SETTINGS = frozenset(
    {
        "anthropic_version", "anthropic_beta", "max_tokens", "max_tokens_to_sample",
        "temperature", "top_p", "top_k", "stop_sequences", "metadata", "thinking",
        "tool_choice", "service_tier",
    }
)  # fmt: skip
_CONVERSE_SETTINGS = frozenset(
    {
        "inferenceConfig", "additionalModelRequestFields", "additionalModelResponseFieldPaths",
        "guardrailConfig", "requestMetadata", "performanceConfig", "serviceTier",
    }
)  # fmt: skip
_NOVA_SETTINGS = _CONVERSE_SETTINGS | {"schemaVersion"}
_TITAN_SETTINGS = frozenset(
    {"textGenerationConfig", "dimensions", "normalize", "embeddingTypes", "embeddingConfig"}
)
_LLAMA_SETTINGS = frozenset({"max_gen_len", "temperature", "top_p"})
_MISTRAL_SETTINGS = frozenset(
    {
        "max_tokens", "temperature", "top_p", "top_k", "stop", "tool_choice",
        "response_format", "random_seed", "safe_prompt",
    }
)  # fmt: skip
# Members of a block or message that name, mark or sign it: not prompt text.
_MARKS = frozenset(
    {
        "type", "role", "format", "media_type", "id", "toolUseId", "tool_use_id",
        "tool_call_id", "cache_control", "cachePoint", "signature", "status", "is_error",
        "citations", "qualifiers", "bucketOwner", "redactedContent",
    }
)  # fmt: skip
_MEDIA_KEYS = ("image", "video", "document", "audio")


class _Count:
    """The characters and media of one record, as they are met."""

    __slots__ = ("chars", "documents", "images", "media_tokens", "messages", "rule", "tools",
                 "videos")  # fmt: skip

    def __init__(self, rule: TokenRule) -> None:
        self.rule = rule
        self.chars = 0
        self.messages = 0
        self.media_tokens = 0
        self.images = 0
        self.videos = 0
        self.documents = 0
        self.tools = False

    def result(self, max_output_tokens: int) -> RecordTokens:
        text = math.ceil(self.chars / self.rule.chars_per_token)
        tokens = (
            text
            + REQUEST_OVERHEAD_TOKENS
            + MESSAGE_OVERHEAD_TOKENS * self.messages
            + (TOOL_USE_TOKENS if self.tools else 0)
            + self.media_tokens
        )
        return RecordTokens(tokens, max_output_tokens, self.images, self.videos, self.documents)

    # the bodies

    def anthropic_body(self, body: dict[str, Any]) -> None:
        for key, value in body.items():
            if key in ("system", "prompt"):
                self.content(value)
            elif key == "messages":
                self.message_list(value)
            elif key == "tools":
                self.tool_definitions(value)
            elif key not in _ANTHROPIC_SETTINGS:
                self.json(value)

    def messages_body(self, body: dict[str, Any], settings: frozenset[str]) -> None:
        """Converse, and Amazon Nova's InvokeModel body (the same blocks)."""
        for key, value in body.items():
            if key in ("system", "promptVariables"):
                self.content(value)
            elif key == "messages":
                self.message_list(value)
            elif key == "toolConfig" and isinstance(value, dict):
                for name, setting in value.items():
                    if name == "tools":
                        self.tool_definitions(setting)
                    else:
                        self.json(setting)
            elif key not in settings:
                self.json(value)

    def titan_body(self, body: dict[str, Any]) -> None:
        for key, value in body.items():
            if key == "inputText":
                self.content(value)
            elif key == "inputImage" and isinstance(value, str):
                self.image(value)
            elif key not in _TITAN_SETTINGS:
                self.json(value)

    def llama_body(self, body: dict[str, Any]) -> None:
        for key, value in body.items():
            if key == "prompt":
                self.content(value)
            elif key == "images" and isinstance(value, list):
                for image in value:
                    self.image(image if isinstance(image, str) else None)
            elif key not in _LLAMA_SETTINGS:
                self.json(value)

    def mistral_body(self, body: dict[str, Any]) -> None:
        for key, value in body.items():
            if key == "prompt":
                self.content(value)
            elif key == "messages":
                self.message_list(value)
            elif key == "tools":
                self.tool_definitions(value)
            elif key not in _MISTRAL_SETTINGS:
                self.json(value)

    def generic_body(self, body: dict[str, Any]) -> None:
        self.json(body)

    # the parts

    def message_list(self, messages: Any) -> None:
        if not isinstance(messages, list):
            self.json(messages)
            return
        for message in messages:
            self.messages += 1
            if not isinstance(message, dict):
                self.content(message)
                continue
            for key, value in message.items():
                if key == "tool_calls":  # Mistral: the calls as JSON
                    self.json(value)
                elif key not in _MARKS:
                    self.content(value)

    def tool_definitions(self, tools: Any) -> None:
        if tools:
            self.tools = True
            self.json(tools)

    def content(self, value: Any) -> None:
        """Prompt text: strings count, and so do the texts of blocks; marks do not."""
        if isinstance(value, str):
            self.chars += len(value)
        elif isinstance(value, list):
            for item in value:
                self.content(item)
        elif isinstance(value, dict):
            self.block(value)
        elif value is not None:
            self.json(value)

    def block(self, block: dict[str, Any]) -> None:
        kind = block.get("type")
        if kind in ("image", "document") and isinstance(block.get("source"), dict):
            self.anthropic_media(kind, block)
            return
        if kind == "image_url":  # Mistral: an image as a data URL
            url = block.get("image_url")
            if isinstance(url, dict):
                url = url.get("url")
            self.image(_data_url(url))
            return
        for key, value in block.items():
            if key in _MEDIA_KEYS and isinstance(value, dict):
                self.media(key, value)
            elif key in ("input", "json", "arguments"):  # tool calls and JSON blocks
                self.json(value)
            elif key == "bytes":  # media bytes outside a known block: never text
                continue
            elif key not in _MARKS:
                self.content(value)

    def json(self, value: Any) -> None:
        """The length of `value` as JSON text, near enough; media inside are charged as
        media, never as text."""
        if isinstance(value, str):
            self.chars += len(value) + 2
        elif isinstance(value, dict):
            kind = value.get("type")
            if kind in ("image", "document") and isinstance(value.get("source"), dict):
                self.anthropic_media(kind, value)
                return
            self.chars += 2 + max(0, len(value) - 1)
            for key, item in value.items():
                self.chars += len(key) + 3
                if key in _MEDIA_KEYS and isinstance(item, dict) and "source" in item:
                    self.media(key, item)
                elif key == "bytes" or (key == "data" and kind == "base64"):
                    continue
                else:
                    self.json(item)
        elif isinstance(value, list):
            self.chars += 2 + max(0, len(value) - 1)
            for item in value:
                self.json(item)
        elif isinstance(value, bool) or value is None:
            self.chars += 5
        else:
            self.chars += len(repr(value))

    # the media

    def media(self, key: str, block: dict[str, Any]) -> None:
        """A Converse or Nova block: `{"format", "source": {"bytes" | "s3Location" | …}}`."""
        source = block.get("source")
        data = source.get("bytes") if isinstance(source, dict) else None
        data = data if isinstance(data, str) else None
        if key == "image":
            self.image(data)
        elif key == "document":
            for name in ("name", "context"):
                if isinstance(block.get(name), str):
                    self.chars += len(block[name])
            text = source.get("text") if isinstance(source, dict) else None
            content = source.get("content") if isinstance(source, dict) else None
            self.document(data, _format(block.get("format"), data), text, content)
        else:  # a video, or audio, which no rule prices: charged as the longest video
            self.videos += key == "video"
            self.media_tokens += self.rule.video_tokens

    def anthropic_media(self, kind: str, block: dict[str, Any]) -> None:
        """An Anthropic block: `{"type": "image" | "document", "source": {"type", …}}`."""
        source: dict[str, Any] = block["source"]
        encoded = source.get("type") == "base64" and isinstance(source.get("data"), str)
        data = source["data"] if encoded else None
        if kind == "image":
            self.image(data)
            return
        for name in ("title", "context"):
            if isinstance(block.get(name), str):
                self.chars += len(block[name])
        text = source.get("data") if source.get("type") == "text" else None
        content = source.get("content") if source.get("type") == "content" else None
        self.document(data, _format(source.get("media_type"), data), text, content)

    def image(self, data: str | None) -> None:
        self.images += 1
        self.media_tokens += self.rule.image.tokens(image_size(data) if data else None)

    def document(self, data: str | None, kind: str, text: Any, content: Any) -> None:
        self.documents += 1
        if isinstance(text, str):
            self.chars += len(text)
        elif content is not None:
            self.content(content)
        elif data is not None and kind in TEXT_DOCUMENT_FORMATS:
            self.chars += _decoded_size(data)
        else:
            pages = _pdf_pages(data) if data is not None and kind == "pdf" else 0
            self.media_tokens += (pages or ASSUMED_DOCUMENT_PAGES) * self.rule.document_page_tokens


def _nova_body(count: _Count, body: dict[str, Any]) -> None:
    count.messages_body(body, _NOVA_SETTINGS)


def _flat_json_size(value: Any) -> int:
    """The length of `value` as JSON text, near enough, without recursion."""
    size = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            size += 2 + len(item) + sum(len(key) + 3 for key in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            size += 2 + len(item)
            stack.extend(item)
        elif isinstance(item, str):
            size += len(item) + 2
        else:
            size += 5 if isinstance(item, bool) or item is None else len(repr(item))
    return size


_BODIES: dict[Shape, Callable[[_Count, dict[str, Any]], None]] = {
    "anthropic": _Count.anthropic_body,
    "messages": _nova_body,
    "titan": _Count.titan_body,
    "llama": _Count.llama_body,
    "mistral": _Count.mistral_body,
    "generic": _Count.generic_body,
}


def _format(declared: Any, data: str | None) -> str:
    """A document's format: as declared (`pdf`, `application/pdf`, `text/plain`…), or a
    PDF's by its first bytes."""
    if isinstance(declared, str) and declared:
        name = declared.lower()
        return "pdf" if name == "application/pdf" else name
    if data is not None and Base64View(data).read(0, 5) == b"%PDF-":
        return "pdf"
    return ""


def _data_url(url: Any) -> str | None:
    """The base64 of a `data:…;base64,…` URL, or None (an image by address)."""
    if isinstance(url, str) and url.startswith("data:") and ";base64," in url[:100]:
        return url.partition(";base64,")[2]
    return None


def _decoded_size(data: str) -> int:
    return len(data) * 3 // 4 - len(data[-2:]) + len(data[-2:].rstrip("="))


def _pdf_pages(data: str) -> int:
    """The page objects a PDF names in the clear (0 where they are compressed away)."""
    try:
        return len(PDF_PAGE.findall(binascii.a2b_base64(data)))
    except (binascii.Error, ValueError):
        return 0
