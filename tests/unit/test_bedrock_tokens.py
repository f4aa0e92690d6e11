"""A record's tokens are estimated by its family's documented method: its prompt text in
characters, its media by their documented figures (an image by the size in its header), and
its output by its own limit or the family's default. Every expected number below is worked
out by hand in its comment."""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropzone.workflows.bedrock import media_headers, token_rules
from dropzone.workflows.bedrock.media_headers import image_size
from dropzone.workflows.bedrock.token_rules import (
    CLAUDE,
    CLAUDE_HIGH,
    GENERIC,
    GENERIC_EMBEDDINGS,
    LLAMA,
    MISTRAL,
    MISTRAL_SMALL,
    NOVA,
    NOVA_V1,
    RULES,
    TITAN_EMBEDDINGS,
    TITAN_TEXT,
    RecordTokens,
    TokenRule,
    rule_for,
)
from dropzone.workflows.bedrock.tokens import record_tokens
from tests.support.docs import page, rows

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
OPUS_47 = "anthropic.claude-opus-4-7"
NOVA_LITE = "amazon.nova-lite-v1:0"
NOVA_PREMIER = "amazon.nova-premier-v1:0"
TITAN = "amazon.titan-text-express-v1"
LLAMA_3 = "meta.llama3-70b-instruct-v1:0"
MISTRAL_7B = "mistral.mistral-7b-instruct-v0:2"
MISTRAL_LARGE = "mistral.mistral-large-2407-v1:0"
# overheads: 8 a request, 4 a message, 530 for a request with tools


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0" * 64


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\0" * 64


def jpeg(width: int, height: int) -> bytes:
    """A JFIF header, a 40 KB EXIF segment (as a camera's thumbnail makes), then the frame."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + b"\1\1\0\0\1\0\1\0\0"
    exif = b"Exif\0\0" + b"\xab" * 40_000
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\1\x22\0" * 3
    return b"\xff\xd8" + app0 + b"\xff\xff" + app1 + sof0 + b"\xff\xda" + b"\0" * 64


def webp(chunk: bytes, payload: bytes) -> bytes:
    body = b"WEBP" + chunk + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_lossy(width: int, height: int) -> bytes:
    return webp(b"VP8 ", b"\0\0\0\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\0" * 16)


def webp_lossless(width: int, height: int) -> bytes:
    bits = (width - 1) | (height - 1) << 14
    return webp(b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\0" * 16)


def webp_extended(width: int, height: int) -> bytes:
    size = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return webp(b"VP8X", b"\0\0\0\0" + size + b"\0" * 16)


def claude_image(data: bytes) -> dict[str, Any]:
    source = {"type": "base64", "media_type": "image/png", "data": b64(data)}
    return {"type": "image", "source": source}


def claude(*content: dict[str, Any], **body: Any) -> dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": list(content)}],
        **body,
    }


def converse(*content: dict[str, Any], **body: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": list(content)}], **body}


def s3(uri: str = "s3://drop/bedrock-batch/m/b/cat.png") -> dict[str, Any]:
    return {"s3Location": {"uri": uri}}


# ------------------------------------------------------------------------- per family


def test_claude_counts_the_system_prompt_and_messages_text_only() -> None:
    model_input = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 256,
        "temperature": 0.2,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Summarize", "cache_control": {}}],
            },
        ],
    }
    # 9 + 11 + 2 + 9 = 31 characters / 3.5 = 8.86 → 9; 8 + 3 messages x 4 = 20
    assert record_tokens(model_input, HAIKU, "InvokeModel") == RecordTokens(29, 256)


def test_claude_counts_tool_definitions_as_json_text_and_the_tool_use_prompt() -> None:
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    text = json.dumps(tools, separators=(",", ":"))
    assert len(text) == 47
    model_input = claude(
        {"type": "text", "text": "Use f."}, tools=tools, tool_choice={"type": "any"}
    )
    # 6 + 47 = 53 characters / 3.5 = 15.1 → 16; 8 + 4 + 530
    assert record_tokens(model_input, HAIKU, "InvokeModel").input_tokens == 16 + 12 + 530


def test_claude_counts_tool_calls_and_results_but_not_their_ids() -> None:
    model_input = claude(
        {"type": "tool_use", "id": "toolu_01", "name": "f", "input": {"q": "x"}},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01",
            "content": [{"type": "text", "text": "42"}],
        },
    )
    # "f" 1 + {"q":"x"} 9 + "42" 2 = 12 / 3.5 = 3.4 → 4; 8 + 4
    assert record_tokens(model_input, HAIKU, "InvokeModel").input_tokens == 16


def test_claude_opus_4_7_and_later_counts_more_tokens_for_the_same_text() -> None:
    model_input = claude({"type": "text", "text": "x" * 35})
    # 35 / 3.5 = 10 before Opus 4.7; 35 / 2.6 = 13.5 → 14 from it on; 8 + 4
    assert record_tokens(model_input, HAIKU, "InvokeModel").input_tokens == 22
    assert record_tokens(model_input, OPUS_47, "InvokeModel").input_tokens == 26


def test_nova_invoke_model_counts_its_text_blocks_and_reads_max_new_tokens() -> None:
    model_input = {
        "schemaVersion": "messages-v1",
        "system": [{"text": "You are a poet."}],
        "messages": [{"role": "user", "content": [{"text": "Write a haiku."}]}],
        "inferenceConfig": {"max_new_tokens": 1000, "temperature": 0.7},
    }
    # 15 + 14 = 29 / 3.5 = 8.3 → 9; 8 + 4
    assert record_tokens(model_input, NOVA_LITE, "InvokeModel") == RecordTokens(21, 1000)


def test_converse_counts_system_messages_and_tool_config_for_any_model() -> None:
    tools = [{"toolSpec": {"name": "f", "inputSchema": {"json": {}}}}]
    assert len(json.dumps(tools, separators=(",", ":"))) == 53
    model_input = converse(
        {"text": "Hello"},
        system=[{"text": "Hi"}, {"cachePoint": {"type": "default"}}],
        toolConfig={"tools": tools},
        inferenceConfig={"maxTokens": 77},
    )
    # 5 + 2 + 53 = 60 / 3.5 = 17.1 → 18 on Llama; 8 + 4 + 530
    assert record_tokens(model_input, LLAMA_3, "Converse") == RecordTokens(560, 77)


def test_titan_text_counts_its_input_text_and_reads_max_token_count() -> None:
    model_input = {"inputText": "x" * 70, "textGenerationConfig": {"maxTokenCount": 400}}
    # 70 / 3.5 = 20; 8
    assert record_tokens(model_input, TITAN, "InvokeModel") == RecordTokens(28, 400)


def test_titan_embeddings_produce_no_output_and_price_an_image_per_image() -> None:
    assert record_tokens({"inputText": "x" * 7}, "amazon.titan-embed-text-v2:0", "InvokeModel") == (
        RecordTokens(10, 0)  # 7 / 3.5 = 2; 8
    )
    model_input = {"inputText": "cat", "inputImage": b64(png(800, 600))}
    # 3 / 3.5 → 1; 8; the image is counted, at no tokens
    assert record_tokens(model_input, "amazon.titan-embed-image-v1", "InvokeModel") == (
        RecordTokens(9, 0, images=1)
    )


def test_llama_counts_its_prompt_and_each_image_at_the_model_most() -> None:
    model_input = {"prompt": "x" * 14, "max_gen_len": 128, "images": [b64(png(10, 10))] * 2}
    # 14 / 3.5 = 4; 8; 2 images x 4 tiles x 1,601
    assert record_tokens(model_input, LLAMA_3, "InvokeModel") == (
        RecordTokens(4 + 8 + 2 * 6_404, 128, images=2)
    )


def test_mistral_counts_a_prompt_or_chat_messages_with_their_tool_calls() -> None:
    assert record_tokens({"prompt": "<s>[INST] Hi [/INST]"}, MISTRAL_7B, "InvokeModel") == (
        RecordTokens(14, 512)  # 20 / 3.5 = 5.7 → 6; 8
    )
    chat = {
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "a", "function": {}}]},
            {"role": "tool", "tool_call_id": "a", "content": "Sunny"},
        ],
        "max_tokens": 99,
    }
    # 8 + [{"id":"a","function":{}}] 26 + 5 = 39 / 3.5 = 11.1 → 12; 8 + 3 x 4
    assert len(json.dumps([{"id": "a", "function": {}}], separators=(",", ":"))) == 26
    assert record_tokens(chat, MISTRAL_LARGE, "InvokeModel") == RecordTokens(32, 99)


def test_an_unknown_model_gets_the_generic_rule_and_counts_json_text() -> None:
    model_input = {"prompt": "x" * 35, "max_tokens": 50}
    assert rule_for("cohere.command-r-v1:0") is GENERIC
    # {"prompt":"xxx…","max_tokens":50}: braces 2, comma 1, "prompt": 9, the string 37,
    # "max_tokens": 13, 50 2: 64 characters / 3.0 = 21.3 → 22; 8
    assert len(json.dumps(model_input, separators=(",", ":"))) == 64
    assert record_tokens(model_input, "cohere.command-r-v1:0", "InvokeModel") == RecordTokens(
        30, 50
    )
    # no usual output field: the generic most
    assert record_tokens(
        {"text": "x"}, "cohere.command-r-v1:0", "InvokeModel"
    ).max_output_tokens == (128_000)


def test_an_unknown_embeddings_model_produces_no_output() -> None:
    assert rule_for("cohere.embed-english-v3") is GENERIC_EMBEDDINGS
    assert rule_for("amazon.nova-2-multimodal-embeddings-v1:0") is GENERIC_EMBEDDINGS
    assert (
        record_tokens({"texts": ["a"]}, "cohere.embed-english-v3", "InvokeModel").max_output_tokens
        == 0
    )


# ---------------------------------------------------------------------------- model ids


@pytest.mark.parametrize(
    ("model_id", "rule"),
    [
        (HAIKU, CLAUDE),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", CLAUDE),
        ("anthropic.claude-sonnet-4-20250514-v1:0", CLAUDE),
        ("anthropic.claude-opus-4-1-20250805-v1:0", CLAUDE),
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", CLAUDE),
        ("anthropic.claude-opus-4-6-v1", CLAUDE),
        ("anthropic.claude-sonnet-4-6", CLAUDE),
        ("eu.anthropic.claude-opus-4-7", CLAUDE_HIGH),
        ("anthropic.claude-sonnet-5-20270101-v1:0", CLAUDE_HIGH),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0",
            NOVA_V1,
        ),
        ("apac.amazon.nova-micro-v1:0", NOVA_V1),
        (NOVA_PREMIER, NOVA),
        ("us.amazon.nova-2-lite-v1:0", NOVA),
        ("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-lite-v1", TITAN_TEXT),
        ("amazon.titan-embed-text-v2:0", TITAN_EMBEDDINGS),
        ("amazon.titan-embed-image-v1", TITAN_EMBEDDINGS),
        ("us.meta.llama3-2-90b-instruct-v1:0", LLAMA),
        (MISTRAL_7B, MISTRAL_SMALL),
        ("mistral.mixtral-8x7b-instruct-v0:1", MISTRAL_SMALL),
        (MISTRAL_LARGE, MISTRAL),
        ("amazon.nova-canvas-v1:0", GENERIC),
        ("deepseek.r1-v1:0", GENERIC),
    ],
)
def test_a_model_id_finds_its_family_rule_through_arns_and_inference_profiles(
    model_id: str, rule: TokenRule
) -> None:
    assert rule_for(model_id) is rule


# ------------------------------------------------------------------------ max output


@pytest.mark.parametrize(
    ("model_id", "invocation_type", "model_input", "expected"),
    [
        (HAIKU, "InvokeModel", {"max_tokens": 1024}, 1024),
        (HAIKU, "InvokeModel", {"prompt": "x", "max_tokens_to_sample": 40}, 40),
        (HAIKU, "Converse", {}, 128_000),
        (NOVA_LITE, "InvokeModel", {"inferenceConfig": {"maxTokens": 300}}, 300),
        (NOVA_LITE, "InvokeModel", {}, 5_000),
        (NOVA_PREMIER, "InvokeModel", {}, 65_536),
        (NOVA_LITE, "Converse", {"inferenceConfig": {"maxTokens": 12}}, 12),
        (NOVA_LITE, "Converse", {"inferenceConfig": {"max_new_tokens": 12}}, 5_000),
        (TITAN, "InvokeModel", {"inputText": "x"}, 512),
        (TITAN, "Converse", {}, 8_192),
        ("amazon.titan-embed-text-v2:0", "InvokeModel", {"inputText": "x"}, 0),
        (LLAMA_3, "InvokeModel", {"prompt": "x", "max_gen_len": 64}, 64),
        (LLAMA_3, "InvokeModel", {"prompt": "x"}, 512),
        (LLAMA_3, "Converse", {}, 8_192),
        (MISTRAL_7B, "InvokeModel", {"prompt": "x", "max_tokens": 64}, 64),
        (MISTRAL_7B, "InvokeModel", {"prompt": "x"}, 512),
        (MISTRAL_LARGE, "InvokeModel", {"prompt": "x"}, 8_192),
        (MISTRAL_LARGE, "Converse", {}, 32_768),
        ("ai21.jamba-1-5-large-v1:0", "InvokeModel", {"max_tokens": 70}, 70),
        ("openai.gpt-oss-120b-1:0", "InvokeModel", {"max_completion_tokens": 80}, 80),
        # not a positive integer: the default
        (LLAMA_3, "InvokeModel", {"prompt": "x", "max_gen_len": True}, 512),
        (LLAMA_3, "InvokeModel", {"prompt": "x", "max_gen_len": "64"}, 512),
    ],
)
def test_the_output_limit_is_the_record_own_or_its_family_default(
    model_id: str, invocation_type: str, model_input: dict[str, Any], expected: int
) -> None:
    assert record_tokens(model_input, model_id, invocation_type).max_output_tokens == expected


# ------------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(1000, 500), (1000, 500)),
        (gif(320, 200), (320, 200)),
        (jpeg(1920, 1080), (1920, 1080)),
        (webp_lossy(640, 480), (640, 480)),
        (webp_lossless(300, 9000), (300, 9000)),
        (webp_extended(4000, 3000), (4000, 3000)),
    ],
    ids=["png", "gif", "jpeg", "webp-lossy", "webp-lossless", "webp-extended"],
)
def test_an_image_size_is_read_from_its_header(data: bytes, size: tuple[int, int]) -> None:
    assert image_size(b64(data)) == size


@pytest.mark.parametrize(
    "data",
    [
        png(0, 10),  # no width
        png(100, 100)[:20],  # cut short
        b"\xff\xd8\xff\xda" + b"\0" * 40,  # JPEG data before any frame
        b"\xff\xd8\xff\xe0\x00\x01",  # a segment shorter than its own length field
        b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 40,  # no VP8 start code
        b"BM" + b"\0" * 60,  # a BMP: not a format Bedrock takes
    ],
)
def test_an_unreadable_header_gives_no_size(data: bytes) -> None:
    assert image_size(b64(data)) is None


def test_a_jpeg_size_is_read_without_decoding_what_comes_before_its_frame() -> None:
    data = b64(jpeg(1000, 800))
    reads: list[tuple[int, int]] = []

    class Spy(media_headers.Base64View):
        def read(self, start: int, size: int) -> bytes:
            reads.append((start, size))
            return super().read(start, size)

    assert media_headers._jpeg_size(Spy(data)) == (1000, 800)
    assert sum(size for _, size in reads) < 100  # the 40 KB EXIF segment is jumped over


def test_not_base64_gives_no_size() -> None:
    assert image_size("not base64 at all!") is None
    assert image_size("é" * 64) is None


@pytest.mark.parametrize(
    ("model_id", "data", "expected"),
    [
        # 200x200: 40,000 / 750 = 53.3 → 54; ⌈200/28⌉² = 8 x 8 = 64: the larger
        (HAIKU, png(200, 200), 64),
        # 1000x1000: 1,000,000 / 750 = 1333.3 → 1,334; 36 x 36 = 1,296
        (HAIKU, jpeg(1000, 1000), 1_334),
        # 3000x2000 scaled to 1568x1045: 2,184.7 → 2,185; past 1,600
        (HAIKU, gif(3000, 2000), 1_600),
        # Opus 4.7, 2000x1000: 2,666.7 → 2,667; 72 x 36 = 2,592
        (OPUS_47, png(2000, 1000), 2_667),
        # Opus 4.7, 5152x2576 scaled to 2576x1288: 3,317,888 / 750 = 4,423.9 → 4,424; 92 x 46
        (OPUS_47, webp_extended(5152, 2576), 4_424),
        # Nova: the largest documented figure, whatever the size
        (NOVA_LITE, png(200, 200), 2_600),
    ],
)
def test_an_image_is_charged_by_its_size_where_the_family_documents_a_formula(
    model_id: str, data: bytes, expected: int
) -> None:
    model_input = converse({"image": {"format": "png", "source": {"bytes": b64(data)}}})
    # no text; 8 + 4
    assert record_tokens(model_input, model_id, "Converse") == RecordTokens(
        expected + 12, 128_000 if "claude" in model_id else 5_000, images=1
    )


def test_a_claude_invoke_model_image_is_read_from_its_base64_source() -> None:
    model_input = claude(claude_image(png(1000, 500)), {"type": "text", "text": "Describe."})
    # 500,000 / 750 = 666.7 → 667 (36 x 18 = 648); "Describe." 9 / 3.5 → 3; 8 + 4
    assert record_tokens(model_input, HAIKU, "InvokeModel") == RecordTokens(682, 300, images=1)


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        (HAIKU, 1_600),
        (OPUS_47, 4_784),
        (NOVA_LITE, 2_600),
        (LLAMA_3, 6_404),
        (MISTRAL_LARGE, 4_160),
    ],
)
def test_an_image_of_unknown_size_or_by_s3_location_is_charged_the_family_most(
    model_id: str, expected: int
) -> None:
    by_location = converse({"image": {"format": "png", "source": s3()}})
    unreadable = converse({"image": {"format": "png", "source": {"bytes": b64(b"\0" * 300)}}})
    for model_input in (by_location, unreadable):
        assert record_tokens(model_input, model_id, "Converse").input_tokens == expected + 12


def test_a_claude_image_by_url_is_charged_the_most() -> None:
    model_input = claude({"type": "image", "source": {"type": "url", "url": "https://a/b.png"}})
    assert record_tokens(model_input, HAIKU, "InvokeModel").input_tokens == 1_600 + 12


def test_a_mistral_data_url_image_is_read_and_an_address_is_not() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(png(8, 8))}}
    by_address = {"type": "image_url", "image_url": "https://a/b.png"}
    model_input = {"messages": [{"role": "user", "content": [image, by_address]}]}
    # Mistral documents no formula: 2 x 4,160; 8 + 4
    assert record_tokens(model_input, MISTRAL_LARGE, "InvokeModel") == (
        RecordTokens(2 * 4_160 + 12, 8_192, images=2)
    )


def test_base64_media_never_count_as_text() -> None:
    small = converse({"image": {"format": "png", "source": {"bytes": b64(png(100, 100))}}})
    padded = converse(
        {"image": {"format": "png", "source": {"bytes": b64(png(100, 100) + b"\0" * 500_000)}}}
    )
    assert record_tokens(small, HAIKU, "Converse") == record_tokens(padded, HAIKU, "Converse")
    # and not in a body the rules do not know either: its JSON text, less the bytes
    unknown = {"input": {"image": {"format": "png", "source": {"bytes": b64(b"\0" * 90_000)}}}}
    # {"input":{"image": …}}: braces 2 + 2, "input": 8, "image": 8 = 20 / 3.0 → 7; the image
    # 6,404; 8
    assert record_tokens(unknown, "cohere.command-r-v1:0", "InvokeModel").input_tokens == 6_419


# ------------------------------------------------------------------------ videos, documents


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        (NOVA_LITE, 960 * 288),
        (NOVA_PREMIER, 3_200 * 288),
        ("us.amazon.nova-2-lite-v1:0", 3_200 * 288),
    ],
)
def test_a_video_is_charged_the_most_frames_its_model_samples(model_id: str, expected: int) -> None:
    model_input = converse(
        {"video": {"format": "mp4", "source": s3("s3://drop/bedrock-batch/m/b/clip.mp4")}},
        {"text": "x" * 7},
    )
    # 7 / 3.5 = 2; 8 + 4
    assert record_tokens(model_input, model_id, "InvokeModel") == RecordTokens(
        expected + 14, 5_000 if model_id == NOVA_LITE else 65_536, videos=1
    )


def pdf(pages: int) -> bytes:
    objects = b"".join(
        b"%d 0 obj << /Type /Page /Parent 2 0 R >> endobj\n" % n for n in range(pages)
    )
    return b"%PDF-1.4\n1 0 obj << /Type /Pages /Count 3 >> endobj\n" + objects + b"%%EOF"


def test_a_pdf_in_the_record_is_charged_per_page_it_names() -> None:
    document = {"format": "pdf", "name": "report", "source": {"bytes": b64(pdf(3))}}
    # "report" 6 / 3.5 → 2; 3 pages x 2,560; 8 + 4
    assert record_tokens(converse({"document": document}), NOVA_LITE, "Converse") == (
        RecordTokens(2 + 3 * 2_560 + 12, 5_000, documents=1)
    )


def test_a_claude_pdf_is_charged_its_page_text_and_the_page_as_an_image() -> None:
    source = {"type": "base64", "media_type": "application/pdf", "data": b64(pdf(2))}
    model_input = claude({"type": "document", "source": source})
    # 2 pages x (3,000 + 1,600); 8 + 4
    assert record_tokens(model_input, HAIKU, "InvokeModel") == (
        RecordTokens(2 * 4_600 + 12, 300, documents=1)
    )


def test_a_document_whose_pages_cannot_be_counted_is_assumed_ten_pages() -> None:
    by_location = {"format": "pdf", "name": "a", "source": s3("s3://drop/bedrock-batch/m/b/a.pdf")}
    compressed = {"format": "docx", "name": "a", "source": {"bytes": b64(b"PK\3\4" + b"\0" * 99)}}
    unnamed_pages = {"format": "pdf", "name": "a", "source": {"bytes": b64(b"%PDF-1.7 ...")}}
    for document in (by_location, compressed, unnamed_pages):
        # "a" → 1; 10 x 2,560; 8 + 4
        assert record_tokens(converse({"document": document}), NOVA_LITE, "Converse") == (
            RecordTokens(1 + 25_600 + 12, 5_000, documents=1)
        )


def test_a_text_document_counts_as_text() -> None:
    in_bytes = {"format": "txt", "name": "notes", "source": {"bytes": b64(b"x" * 30)}}
    as_text = {"format": "txt", "name": "notes", "source": {"text": "x" * 30}}
    claude_text = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "x" * 30},
    }
    # "notes" 5 + 30 = 35 / 3.5 = 10; 8 + 4
    for document in (in_bytes, as_text):
        assert record_tokens(converse({"document": document}), NOVA_LITE, "Converse") == (
            RecordTokens(22, 5_000, documents=1)
        )
    # 30 / 3.5 = 8.6 → 9; 8 + 4
    assert record_tokens(claude(claude_text), HAIKU, "InvokeModel") == RecordTokens(
        21, 300, documents=1
    )


# -------------------------------------------------------------------------- totality


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["text", "type", "source", "image", "document", "video", "bytes", "data",
                         "content", "messages", "system", "tools", "toolConfig", "input", "role",
                         "inferenceConfig", "prompt", "images", "image_url", "x"]),
        children,
        max_size=4,
    ),
    max_leaves=30,
)  # fmt: skip
MODELS = [HAIKU, OPUS_47, NOVA_LITE, TITAN, "amazon.titan-embed-image-v1", LLAMA_3, MISTRAL_7B,
          "cohere.command-r-v1:0"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    model_input=st.dictionaries(
        st.text(max_size=12) | st.sampled_from(["messages", "system"]), JSON
    ),
    model_id=st.sampled_from(MODELS),
    invocation_type=st.sampled_from(["InvokeModel", "Converse"]),
)
def test_any_model_input_is_counted_without_raising(
    model_input: dict[str, Any], model_id: str, invocation_type: str
) -> None:
    result = record_tokens(model_input, model_id, invocation_type)
    assert result.input_tokens >= token_rules.REQUEST_OVERHEAD_TOKENS
    assert result.max_output_tokens >= 0


def test_a_model_input_nested_past_the_walk_is_counted_flat() -> None:
    nested: Any = "x" * 30
    for _ in range(5_000):
        nested = [nested]
    # walked flat: {"input": …} 11, each list 3 (brackets and one item): 15,000, the string 32:
    # 15,043 / 3.0 = 5,014.3 → 5,015; 8
    assert record_tokens(
        {"input": nested}, "cohere.command-r-v1:0", "InvokeModel"
    ).input_tokens == (5_023)


def test_an_unknown_invocation_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown invocation type 'Invoke'"):
        record_tokens({}, HAIKU, "Invoke")


# ------------------------------------------------------------------------------ the docs


def _number(cell: str) -> int:
    """The last number of a cell, outside its parentheses and names."""
    plain = re.sub(r"\([^)]*\)|`[^`]*`", "", cell)
    return int(re.findall(r"\d[\d,]*", plain)[-1].replace(",", ""))


def test_the_docs_table_gives_every_rule_its_figures() -> None:
    table = {row["Family"]: row for row in rows(page("workflows/bedrock-cost.md"), "Family")}
    assert set(table) == {rule.family for rule in RULES}
    for rule in RULES:
        row = table[rule.family]
        assert float(row["Characters per token"]) == rule.chars_per_token, rule.family
        assert _number(row["Image"]) == rule.image.max_tokens, rule.family
        assert _number(row["Video"]) == rule.video_tokens, rule.family
        assert _number(row["Document page"]) == rule.document_page_tokens, rule.family
        assert _number(row["Default max output"]) == rule.default_max_output_tokens, rule.family
        assert _number(row["Converse max output"]) == rule.max_output_tokens, rule.family


def test_the_overheads_the_docs_state_are_the_code() -> None:
    text = " ".join(page("workflows/bedrock-cost.md").split())
    stated = (
        f"each request adds {token_rules.REQUEST_OVERHEAD_TOKENS} tokens, each message "
        f"{token_rules.MESSAGE_OVERHEAD_TOKENS}, and a request with tools "
        f"{token_rules.TOOL_USE_TOKENS}"
    )
    assert stated in text
    assert f"assumed to have {token_rules.ASSUMED_DOCUMENT_PAGES} pages" in text
    assert math.isclose(token_rules.CLAUDE_HIGH_CHARS_PER_TOKEN, 3.5 / 1.35, abs_tol=0.01)
