"""Converse records are checked against bedrock-runtime's Converse request shape, without
`modelId`: the line-by-line check words the reason, and the fast path accepts exactly what
it accepts."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
import textwrap
from typing import Any

import botocore.model
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import ValidationError

from dropzone.workflows.bedrock import model_inputs
from dropzone.workflows.bedrock.converse_shape import ConverseShape
from dropzone.workflows.bedrock.model_inputs import check_model_input, model_input_schema
from dropzone.workflows.bedrock.records import BadRecord, check_record, fast_validator

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
BYTES = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR").decode()
USER = {"role": "user", "content": [{"text": "Summarize the following call transcript: ..."}]}
TOOL = {
    "toolSpec": {
        "name": "top_song",
        "description": "Get the most popular song played on a radio station.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"sign": {"type": "string"}},
                "required": ["sign"],
            }
        },
    }
}


def _user(*content: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": list(content)}]}


VALID: list[Any] = [
    pytest.param({"messages": [USER]}, id="text"),
    pytest.param(
        {
            "messages": [USER],
            "system": [{"text": "You are an app that creates playlists for a radio station."}],
            "inferenceConfig": {"maxTokens": 512, "temperature": 0, "topP": 1, "stopSequences": []},
            "additionalModelRequestFields": {"top_k": 200},
            "additionalModelResponseFieldPaths": ["/stop_sequence"],
        },
        id="inference-parameters",
    ),
    pytest.param(
        _user(
            {"text": "What is in this image?"},
            {"image": {"format": "png", "source": {"bytes": BYTES}}},
        ),
        id="image-bytes",
    ),
    pytest.param(
        _user(
            {
                "video": {
                    "format": "mp4",
                    "source": {
                        "s3Location": {
                            "uri": "s3://amzn-s3-demo-bucket/videos/clip.mp4",
                            "bucketOwner": "123456789012",
                        }
                    },
                }
            },
            {"text": "Describe the video."},
        ),
        id="video-s3-location",
    ),
    pytest.param(
        _user(
            {"text": "Summarise the report."},
            {"document": {"format": "pdf", "name": "report", "source": {"bytes": BYTES}}},
        ),
        id="document",
    ),
    pytest.param(
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": [
                        {
                            "toolUse": {
                                "toolUseId": "t1",
                                "name": "top_song",
                                "input": {"sign": "WZPZ"},
                            }
                        }
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "toolResult": {
                                "toolUseId": "t1",
                                "content": [{"json": {"song": "Elemental Hotel"}}, {"text": "ok"}],
                                "status": "success",
                            }
                        }
                    ],
                },
            ],
            "toolConfig": {"tools": [TOOL], "toolChoice": {"auto": {}}},
        },
        id="tool-use",
    ),
    pytest.param(
        {
            "system": [{"text": "A long, reused prompt."}, {"cachePoint": {"type": "default"}}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "guardContent": {
                                "text": {"text": "Is it safe?", "qualifiers": ["query"]}
                            }
                        },
                        {"cachePoint": {"type": "default"}},
                    ],
                }
            ],
            "guardrailConfig": {
                "guardrailIdentifier": "gr1",
                "guardrailVersion": "1",
                "trace": "enabled",
            },
        },
        id="cache-points-and-guardrails",
    ),
    pytest.param(
        {
            "messages": [USER],
            "requestMetadata": {"team": "reviews"},
            "performanceConfig": {"latency": "optimized"},
        },
        id="request-metadata",
    ),
    pytest.param(
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": [
                        {"reasoningContent": {"redactedContent": BYTES}},
                        {"text": "Done."},
                    ],
                },
                {"role": "user", "content": [{"text": "Thanks."}]},
            ]
        },
        id="redacted-reasoning",
    ),
    pytest.param(
        {
            "messages": [USER],
            "additionalModelRequestFields": {
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "anything": [1, 2.5, None, True, "x", {"deeper": []}],
            },
        },
        id="documents-take-any-json",
    ),
]

BAD: list[Any] = [
    pytest.param(
        {"messages": [USER], "max_tokens": 100},
        "modelInput.max_tokens is not a member of a Converse request; did you mean "
        "inferenceConfig.maxTokens?",
        id="member-of-a-member",
    ),
    pytest.param(
        {"message": [USER]},
        "modelInput.message is not a member of a Converse request; did you mean messages?",
        id="close-name",
    ),
    pytest.param(
        {"messages": [USER], "top_k": 200},
        "modelInput.top_k is not a member of a Converse request; a model's own request fields "
        "go in additionalModelRequestFields",
        id="model-field",
    ),
    pytest.param(
        {"modelId": MODEL, "messages": [USER]},
        "modelInput.modelId is not a member of a Converse request; a batch record takes its "
        "model from the key",
        id="model-id",
    ),
    pytest.param(
        {"prompt": "hi"},
        "modelInput.prompt is not a member of a Converse request; it belongs to an InvokeModel "
        "body for Meta Llama: upload such records with invocation-type InvokeModel",
        id="invoke-model-field",
    ),
    pytest.param(
        {"messages": [USER], "inferenceConfig": {"max_tokens": 100}},
        "modelInput.inferenceConfig.max_tokens is not a member of InferenceConfiguration; did "
        "you mean maxTokens?",
        id="nested-unknown-member",
    ),
    pytest.param(
        {"messages": [USER], "system": [{}]},
        "modelInput.system[0] sets no member; SystemContentBlock takes exactly one of text, "
        "guardContent or cachePoint",
        id="union-empty",
    ),
    pytest.param(
        {
            "messages": [USER],
            "toolConfig": {"tools": [TOOL], "toolChoice": {"auto": {}, "any": {}}},
        },
        "modelInput.toolConfig.toolChoice sets auto and any; ToolChoice takes exactly one member",
        id="union-two",
    ),
    pytest.param(
        {"messages": [USER], "guardrailConfig": {"trace": True}},
        'modelInput.guardrailConfig.trace must be one of "enabled", "disabled" or '
        '"enabled_full", got a boolean',
        id="enum-not-a-string",
    ),
    pytest.param(
        {"messages": [{"content": []}]},
        'modelInput.messages[0].role is missing; Converse needs "user" or "assistant"',
        id="role-missing",
    ),
    pytest.param(
        {"messages": [USER], "toolConfig": {"tools": [{"toolSpec": {"name": "top_song"}}]}},
        "modelInput.toolConfig.tools[0].toolSpec.inputSchema is missing; Converse needs an object",
        id="nested-required",
    ),
    pytest.param(
        {"messages": [USER], "inferenceConfig": {"maxTokens": "256"}},
        "modelInput.inferenceConfig.maxTokens must be a positive integer, got a string",
        id="integer-as-string",
    ),
    pytest.param(
        {"messages": [USER], "inferenceConfig": {"maxTokens": 1.5}},
        "modelInput.inferenceConfig.maxTokens must be a positive integer, got 1.5",
        id="integer-with-a-fraction",
    ),
    pytest.param(
        {"messages": [USER], "inferenceConfig": {"maxTokens": True}},
        "modelInput.inferenceConfig.maxTokens must be a positive integer, got a boolean",
        id="integer-as-boolean",
    ),
    pytest.param(
        {"messages": [USER], "inferenceConfig": {"temperature": -0.5}},
        "modelInput.inferenceConfig.temperature must be a non-negative number, got -0.5",
        id="number-under-the-minimum",
    ),
    pytest.param(
        {"messages": [USER], "inferenceConfig": {"topP": "1"}},
        "modelInput.inferenceConfig.topP must be a non-negative number, got a string",
        id="number-as-string",
    ),
    pytest.param(
        _user(
            {
                "document": {
                    "format": "pdf",
                    "name": "report",
                    "source": {"bytes": BYTES},
                    "citations": {"enabled": "yes"},
                }
            }
        ),
        "modelInput.messages[0].content[0].document.citations.enabled must be a boolean, got a "
        "string",
        id="boolean-as-string",
    ),
    pytest.param(
        {"messages": [USER], "system": [{"text": ""}]},
        "modelInput.system[0].text must be a non-empty string, got an empty string",
        id="string-under-the-minimum",
    ),
    pytest.param(
        {"messages": [USER], "toolConfig": {"tools": []}},
        "modelInput.toolConfig.tools must be a non-empty array, got an empty array",
        id="list-under-the-minimum",
    ),
    pytest.param(
        {"messages": [USER], "inferenceConfig": {"stopSequences": "END"}},
        "modelInput.inferenceConfig.stopSequences must be an array, got a string",
        id="list-as-string",
    ),
    pytest.param(
        {"messages": [USER], "requestMetadata": {}},
        "modelInput.requestMetadata must be a non-empty object, got an empty object",
        id="map-under-the-minimum",
    ),
    pytest.param(
        {"messages": [USER], "requestMetadata": {"": "reviews"}},
        "modelInput.requestMetadata keys must be a non-empty string, got an empty string",
        id="map-key-under-the-minimum",
    ),
    pytest.param(
        {"messages": [USER], "requestMetadata": {"team": 7}},
        "modelInput.requestMetadata.team must be a string, got a number",
        id="map-value-of-the-wrong-type",
    ),
    pytest.param(
        _user({"image": {"format": "png", "source": {"bytes": ""}}}),
        "modelInput.messages[0].content[0].image.source.bytes must be a non-empty base64 "
        "string, got an empty string",
        id="bytes-empty",
    ),
    pytest.param(
        _user({"image": {"format": "png", "source": {"bytes": [137, 80]}}}),
        "modelInput.messages[0].content[0].image.source.bytes must be a non-empty base64 "
        "string, got an array",
        id="bytes-as-array",
    ),
    pytest.param(
        _user({"image": {"format": "png", "source": {"bytes": BYTES.rstrip("=")}}}),
        "modelInput.messages[0].content[0].image.source.bytes must be a non-empty base64 "
        "string (A-Z, a-z, 0-9, + and /, padded with =)",
        id="bytes-unpadded",
    ),
    pytest.param(
        {"messages": [USER], "system": None},
        "modelInput.system must be an array, got null",
        id="null",
    ),
    pytest.param(
        {"messages": ["hi"]},
        "modelInput.messages[0] must be an object, got a string",
        id="message-not-an-object",
    ),
    pytest.param(
        {"messages": [USER], "toolConfig": []},
        "modelInput.toolConfig must be an object, got an empty array",
        id="structure-as-array",
    ),
]


def _line(model_input: Any) -> bytes:
    return json.dumps({"recordId": "r1", "modelInput": model_input}).encode()


def _fast_accepts(model_input: Any) -> bool:
    validate = fast_validator(MODEL, "Converse")
    assert validate is not None
    try:
        return validate(_line(model_input)) == "r1"
    except ValidationError:
        return False


@pytest.mark.parametrize("model_input", VALID)
def test_converse_requests_of_every_kind_are_accepted(model_input: dict[str, Any]) -> None:
    assert check_model_input(MODEL, "Converse", model_input) is None
    assert check_record(_line(model_input), MODEL, "Converse") == "r1"
    assert _fast_accepts(model_input)


@pytest.mark.parametrize(("model_input", "reason"), BAD)
def test_what_the_converse_shape_does_not_allow_is_refused_with_a_specific_reason(
    model_input: dict[str, Any], reason: str
) -> None:
    assert check_model_input(MODEL, "Converse", model_input) == reason
    with pytest.raises(BadRecord) as raised:
        check_record(_line(model_input), MODEL, "Converse")
    assert raised.value.reason == reason
    assert not _fast_accepts(model_input)


# Values to put anywhere in a valid request: some fit the shape somewhere, most do not.
_NAMES = ["text", "image", "format", "source", "bytes", "role", "content", "messages", "json"]
_NAMES += ["system", "inferenceConfig", "maxTokens", "temperature", "toolConfig", "tools"]
_NAMES += ["toolSpec", "name", "inputSchema", "cachePoint", "type", "requestMetadata", "x"]
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-2, 3)
    | st.floats(-1.5, 1.5, allow_nan=False)
    | st.sampled_from(["", "QQ==", "QQ", "user", "assistant", "png", "default", "a b"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_NAMES), inner, max_size=3)
    ),
    max_leaves=6,
)


def _containers(value: Any) -> list[Any]:
    found = [value] if isinstance(value, dict | list) else []
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    )
    for child in children:
        found += _containers(child)
    return found


def _mutate(model_input: dict[str, Any], data: st.DataObject) -> None:
    container = data.draw(st.sampled_from(_containers(model_input)))
    if isinstance(container, dict):
        name = data.draw(st.sampled_from([*_NAMES, *container]))
        if name in container and data.draw(st.booleans()):
            del container[name]
        else:
            container[name] = data.draw(_VALUES)
    elif container and data.draw(st.booleans()):
        del container[data.draw(st.integers(0, len(container) - 1))]
    else:
        container.append(data.draw(_VALUES))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_the_fast_path_accepts_exactly_what_the_check_accepts(data: st.DataObject) -> None:
    model_input = copy.deepcopy(data.draw(st.sampled_from([case.values[0] for case in VALID])))
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate(model_input, data)
    accepted = check_model_input(MODEL, "Converse", model_input) is None
    assert _fast_accepts(model_input) == accepted


def test_the_service_model_is_loaded_on_the_first_converse_record() -> None:
    script = f"""
        import sys
        from dropzone.workflows.bedrock import jsonl, model_inputs
        model_inputs.check_model_input("amazon.titan-text-express-v1", "InvokeModel", {{}})
        assert "dropzone.workflows.bedrock.converse_shape" not in sys.modules
        assert model_inputs._converse.cache_info().currsize == 0
        model_inputs.check_model_input("{MODEL}", "Converse", {json.dumps({"messages": [USER]})})
        assert model_inputs._converse.cache_info().currsize == 1
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=True)


def test_the_check_is_built_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[ConverseShape] = []
    load = ConverseShape.load

    def counted(hint: Any) -> ConverseShape:
        builds.append(load(hint))
        return builds[-1]

    monkeypatch.setattr(ConverseShape, "load", counted)
    model_inputs._converse.cache_clear()
    try:
        for _ in range(3):
            assert check_model_input(MODEL, "Converse", {"messages": [USER]}) is None
        assert model_input_schema(MODEL, "Converse") is not None
        assert len(builds) == 1
    finally:
        model_inputs._converse.cache_clear()


def test_a_shape_that_holds_itself_is_checked_without_a_fast_path() -> None:
    shapes = {
        "ConverseRequest": {"type": "structure", "members": {"messages": {"shape": "Messages"}}},
        "Messages": {"type": "list", "member": {"shape": "Message"}},
        "Message": {
            "type": "structure",
            "required": ["role"],
            "members": {"role": {"shape": "Role"}, "replies": {"shape": "Messages"}},
        },
        "Role": {"type": "string", "enum": ["user", "assistant"]},
    }
    request = botocore.model.ShapeResolver(shapes).get_shape_by_name("ConverseRequest")
    shape = ConverseShape(request)
    assert shape.schema() is None
    nested = {"messages": [{"role": "user", "replies": [{"role": "user", "replies": [{}]}]}]}
    assert shape.problem(nested) == (
        'modelInput.messages[0].replies[0].replies[0].role is missing; Converse needs "user" '
        'or "assistant"'
    )
