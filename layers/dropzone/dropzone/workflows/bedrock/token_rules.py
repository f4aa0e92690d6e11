"""The token rules of each model family: the figures a record's estimate is made of
(characters per token, what an image, a video or a document page costs, output limits), and
which rule a model gets.

Pure, no I/O. The rule of a family is chosen as in dropzone.workflows.bedrock.model_inputs
(ARN and cross-region inference profile prefix stripped); a model of no known family gets the
generic rule, which leans high. Every figure says where it comes from, or that it is an
assumption; docs/workflows/bedrock-cost.md says how far off the estimate can be.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from dropzone.workflows.bedrock.model_inputs import base_model_id, family_of

# --------------------------------------------------------------------------- the figures

# Assumption: framing tokens a request adds (start and role markers), and each message.
REQUEST_OVERHEAD_TOKENS = 8
MESSAGE_OVERHEAD_TOKENS = 4
# A request that defines tools also carries a tool-use system prompt. Anthropic documents
# 159 to 530 tokens for it, by model and tool choice; 530 is charged once, and assumed for
# the families that do not document theirs.
TOOL_USE_TOKENS = 530

# Anthropic: an image costs about width x height / 750 tokens; its newer docs count 28x28
# pixel patches, ⌈width / 28⌉ x ⌈height / 28⌉, which is more for small images: the larger of
# the two is charged. Up to Claude Opus 4.6 an image is scaled to at most 1568 px on its long
# edge and about 1,600 tokens; from Claude Opus 4.7, to 2576 px and 4,784 tokens.
CLAUDE_PIXELS_PER_TOKEN = 750
CLAUDE_PATCH_PIXELS = 28
CLAUDE_LONG_EDGE, CLAUDE_IMAGE_TOKENS = 1568, 1_600
CLAUDE_HIGH_LONG_EDGE, CLAUDE_HIGH_IMAGE_TOKENS = 2576, 4_784
# Anthropic: a PDF page costs 1,500 to 3,000 tokens of text, plus the page as an image.
CLAUDE_PAGE_TEXT_TOKENS = 3_000
# Anthropic: the tokenizer of Claude Opus 4.7 uses up to 1.35 times the tokens of earlier
# models for the same text. Earlier models: about 3.5 characters a token (Anthropic's figure
# for English; measured prose runs nearer 4, so 3.5 leans high).
CLAUDE_CHARS_PER_TOKEN = 3.5
CLAUDE_HIGH_CHARS_PER_TOKEN = 2.6  # 3.5 / 1.35
# Claude's largest output limit (Claude Opus 4.6 and 4.7: 128K): what a Converse request
# without maxTokens may use, whichever Claude it is.
CLAUDE_MAX_OUTPUT_TOKENS = 128_000

# Amazon Nova documents approximate image tokens by resolution: from ~800 (900x450) to
# ~2,600 (1300x1300) for Nova 1, lower for Nova 2 (515 to ~2,155). It documents no formula
# and no maximum, so every image is charged the largest documented figure.
NOVA_IMAGE_TOKENS = 2_600
# Nova samples a video at 1 frame a second, 288 tokens a frame (Amazon's table: 10 s, 2,880
# tokens), up to 960 frames for Nova Lite and Pro (276,480 tokens) and 3,200 frames for Nova
# Premier. The video is not decoded, so each is charged its model's maximum; Nova 2 and later
# models are charged Premier's 3,200 frames (Nova 2's own table reaches 2,700).
NOVA_FRAME_TOKENS = 288
NOVA_V1_VIDEO_FRAMES = 960
NOVA_VIDEO_FRAMES = 3_200
# Amazon's planning figure for a Nova document: 2,560 tokens a letter-size PDF page.
NOVA_PAGE_TOKENS = 2_560
# Nova 1 (Micro, Lite, Pro): maxTokens at most 5,000, "dynamic" when absent. Premier and
# Nova 2 allow longer outputs; 65,536 is an assumption above their documented limits.
NOVA_V1_MAX_OUTPUT_TOKENS = 5_000
NOVA_MAX_OUTPUT_TOKENS = 65_536

# Llama 3.2 Vision: an image is up to 4 tiles of 560 px, 1,601 tokens a tile (40x40 patches
# of 14 px and one more). How Bedrock bills Llama images is not documented: this is the
# most the model's own figures allow, and more than Llama 4's (17 tiles of 144 tokens).
LLAMA_IMAGE_TOKENS = 4 * 1_601
# Bedrock's Llama parameters: max_gen_len defaults to 512. Assumption: no Llama on Bedrock
# writes more than 8,192 tokens (a Converse request without maxTokens).
LLAMA_DEFAULT_OUTPUT_TOKENS = 512
LLAMA_MAX_OUTPUT_TOKENS = 8_192

# Bedrock's Mistral parameters: max_tokens defaults to 512 (Mistral 7B Instruct, Mixtral 8x7B
# Instruct) and 8,192 (Mistral Large). Assumption: newer Mistral models write at most 32,768.
MISTRAL_SMALL_DEFAULT_OUTPUT_TOKENS = 512
MISTRAL_DEFAULT_OUTPUT_TOKENS = 8_192
MISTRAL_MAX_OUTPUT_TOKENS = 32_768
# Assumption: a Pixtral image of at most 1024x1024 px in 16 px patches, 64x64 tokens and one
# more a row.
MISTRAL_IMAGE_TOKENS = 64 * 65

# Bedrock's Titan Text parameters: maxTokenCount defaults to 512; the most is 8,192 (Express).
TITAN_DEFAULT_OUTPUT_TOKENS = 512
TITAN_MAX_OUTPUT_TOKENS = 8_192

# Assumption: the characters a token of the families whose tokenizer is not published
# (Nova, Titan, Llama, Mistral); English on current tokenizers runs about 4.
CHARS_PER_TOKEN = 3.5
# The generic rule, for a model of no known family: fewer characters a token, and the
# largest media figures above.
GENERIC_CHARS_PER_TOKEN = 3.0
GENERIC_MAX_OUTPUT_TOKENS = 128_000
# Assumption: a document whose pages cannot be counted (a PDF by reference, a Word or Excel
# file) has 10 pages. Not a bound: the actual cost shows what it took.
ASSUMED_DOCUMENT_PAGES = 10

# Documents whose bytes are text: counted as text, a byte a character (never fewer).
TEXT_DOCUMENT_FORMATS = frozenset({"txt", "csv", "md", "html", "text/plain", "text/csv"})
# How a PDF names its page objects (`/Type /Pages` names the page tree, not a page).
PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")

# ----------------------------------------------------------------------------- the rules

Shape = Literal["anthropic", "messages", "titan", "llama", "mistral", "generic"]


@dataclass(frozen=True)
class RecordTokens:
    """One record's estimate, and the media it holds (some prices are per image)."""

    input_tokens: int  # estimated input tokens of one record's modelInput
    max_output_tokens: int  # the record's own output limit, or the family default
    images: int = 0
    videos: int = 0
    documents: int = 0


@dataclass(frozen=True)
class ImageRule:
    """What one image costs. With `pixels_per_token`, by its size (scaled to `long_edge` and
    padded to `patch`-pixel patches), at most `max_tokens`; otherwise, and whenever its
    size is unknown, `max_tokens`."""

    max_tokens: int
    pixels_per_token: int = 0
    patch: int = 0
    long_edge: int = 0

    def tokens(self, size: tuple[int, int] | None) -> int:
        if size is None or not self.pixels_per_token:
            return self.max_tokens
        width, height = size
        longest = max(width, height)
        if self.long_edge and longest > self.long_edge:
            scale = self.long_edge / longest
            width, height = max(1, round(width * scale)), max(1, round(height * scale))
        by_area = math.ceil(width * height / self.pixels_per_token)
        by_patch = (
            math.ceil(width / self.patch) * math.ceil(height / self.patch) if self.patch else 0
        )
        return min(self.max_tokens, max(by_area, by_patch))


@dataclass(frozen=True)
class TokenRule:
    """How a family's records are counted."""

    family: str
    chars_per_token: float
    default_max_output_tokens: int  # an InvokeModel body that sets no output limit
    max_output_tokens: int  # a Converse request without maxTokens: the model's most
    image: ImageRule
    video_tokens: int  # one video, at its model's longest
    document_page_tokens: int
    shape: Shape  # what its InvokeModel body looks like
    output_fields: tuple[tuple[str, ...], ...] = ()  # paths of its body's output limit
    writes: bool = True  # False: an embeddings model, which produces no output tokens

    def output_limit(self, model_input: dict[str, Any], invocation_type: str) -> int:
        if not self.writes:
            return 0
        if invocation_type == "Converse":
            return positive(value_at(model_input, ("inferenceConfig", "maxTokens"))) or (
                self.max_output_tokens
            )
        for path in self.output_fields or _GENERIC_OUTPUT_FIELDS:
            limit = positive(value_at(model_input, path))
            if limit:
                return limit
        return self.default_max_output_tokens


_GENERIC_OUTPUT_FIELDS: tuple[tuple[str, ...], ...] = tuple(
    (*where, name)
    for where in ((), ("inferenceConfig",), ("textGenerationConfig",), ("parameters",))
    for name in (
        "max_tokens",
        "max_new_tokens",
        "maxTokens",
        "max_gen_len",
        "maxTokenCount",
        "max_tokens_to_sample",
        "max_completion_tokens",
        "maxOutputTokens",
    )
)

_CLAUDE_IMAGE = ImageRule(
    CLAUDE_IMAGE_TOKENS, CLAUDE_PIXELS_PER_TOKEN, CLAUDE_PATCH_PIXELS, CLAUDE_LONG_EDGE
)
_CLAUDE_HIGH_IMAGE = ImageRule(
    CLAUDE_HIGH_IMAGE_TOKENS, CLAUDE_PIXELS_PER_TOKEN, CLAUDE_PATCH_PIXELS, CLAUDE_HIGH_LONG_EDGE
)
_CLAUDE_OUTPUT = (("max_tokens",), ("max_tokens_to_sample",))
_NOVA_OUTPUT = (("inferenceConfig", "max_new_tokens"), ("inferenceConfig", "maxTokens"))
_GENERIC_IMAGE_TOKENS = max(CLAUDE_HIGH_IMAGE_TOKENS, LLAMA_IMAGE_TOKENS, MISTRAL_IMAGE_TOKENS)

CLAUDE = TokenRule(
    family="Anthropic Claude",
    chars_per_token=CLAUDE_CHARS_PER_TOKEN,
    default_max_output_tokens=CLAUDE_MAX_OUTPUT_TOKENS,
    max_output_tokens=CLAUDE_MAX_OUTPUT_TOKENS,
    image=_CLAUDE_IMAGE,
    video_tokens=NOVA_VIDEO_FRAMES * NOVA_FRAME_TOKENS,  # Claude reads no video: the most
    document_page_tokens=CLAUDE_PAGE_TEXT_TOKENS + CLAUDE_IMAGE_TOKENS,
    shape="anthropic",
    output_fields=_CLAUDE_OUTPUT,
)
CLAUDE_HIGH = TokenRule(
    family="Anthropic Claude (Opus 4.7 and later)",
    chars_per_token=CLAUDE_HIGH_CHARS_PER_TOKEN,
    default_max_output_tokens=CLAUDE_MAX_OUTPUT_TOKENS,
    max_output_tokens=CLAUDE_MAX_OUTPUT_TOKENS,
    image=_CLAUDE_HIGH_IMAGE,
    video_tokens=NOVA_VIDEO_FRAMES * NOVA_FRAME_TOKENS,
    document_page_tokens=CLAUDE_PAGE_TEXT_TOKENS + CLAUDE_HIGH_IMAGE_TOKENS,
    shape="anthropic",
    output_fields=_CLAUDE_OUTPUT,
)
NOVA_V1 = TokenRule(
    family="Amazon Nova (Micro, Lite, Pro)",
    chars_per_token=CHARS_PER_TOKEN,
    default_max_output_tokens=NOVA_V1_MAX_OUTPUT_TOKENS,
    max_output_tokens=NOVA_V1_MAX_OUTPUT_TOKENS,
    image=ImageRule(NOVA_IMAGE_TOKENS),
    video_tokens=NOVA_V1_VIDEO_FRAMES * NOVA_FRAME_TOKENS,
    document_page_tokens=NOVA_PAGE_TOKENS,
    shape="messages",
    output_fields=_NOVA_OUTPUT,
)
NOVA = TokenRule(
    family="Amazon Nova (Premier, Nova 2 and later)",
    chars_per_token=CHARS_PER_TOKEN,
    default_max_output_tokens=NOVA_MAX_OUTPUT_TOKENS,
    max_output_tokens=NOVA_MAX_OUTPUT_TOKENS,
    image=ImageRule(NOVA_IMAGE_TOKENS),
    video_tokens=NOVA_VIDEO_FRAMES * NOVA_FRAME_TOKENS,
    document_page_tokens=NOVA_PAGE_TOKENS,
    shape="messages",
    output_fields=_NOVA_OUTPUT,
)
TITAN_TEXT = TokenRule(
    family="Amazon Titan Text",
    chars_per_token=CHARS_PER_TOKEN,
    default_max_output_tokens=TITAN_DEFAULT_OUTPUT_TOKENS,
    max_output_tokens=TITAN_MAX_OUTPUT_TOKENS,
    image=ImageRule(_GENERIC_IMAGE_TOKENS),  # Titan Text reads no images: the most
    video_tokens=NOVA_VIDEO_FRAMES * NOVA_FRAME_TOKENS,
    document_page_tokens=CLAUDE_PAGE_TEXT_TOKENS,
    shape="titan",
    output_fields=(("textGenerationConfig", "maxTokenCount"),),
)
TITAN_EMBEDDINGS = TokenRule(
    family="Amazon Titan Embeddings",
    chars_per_token=CHARS_PER_TOKEN,
    default_max_output_tokens=0,
    max_output_tokens=0,
    # Titan Multimodal Embeddings prices an image per image, not in tokens: it is counted
    # in `images`, at no tokens
    image=ImageRule(0),
    video_tokens=NOVA_VIDEO_FRAMES * NOVA_FRAME_TOKENS,
    document_page_tokens=CLAUDE_PAGE_TEXT_TOKENS,
    shape="titan",
    writes=False,
)
LLAMA = TokenRule(
    family="Meta Llama",
    chars_per_token=CHARS_PER_TOKEN,
    default_max_output_tokens=LLAMA_DEFAULT_OUTPUT_TOKENS,
    max_output_tokens=LLAMA_MAX_OUTPUT_TOKENS,
    image=ImageRule(LLAMA_IMAGE_TOKENS),
    video_tokens=NOVA_VIDEO_FRAMES * NOVA_FRAME_TOKENS,
    document_page_tokens=CLAUDE_PAGE_TEXT_TOKENS,
    shape="llama",
    output_fields=(("max_gen_len",),),
)
MISTRAL = TokenRule(
    family="Mistral",
    chars_per_token=CHARS_PER_TOKEN,
    default_max_output_tokens=MISTRAL_DEFAULT_OUTPUT_TOKENS,
    max_output_tokens=MISTRAL_MAX_OUTPUT_TOKENS,
    image=ImageRule(MISTRAL_IMAGE_TOKENS),
    video_tokens=NOVA_VIDEO_FRAMES * NOVA_FRAME_TOKENS,
    document_page_tokens=CLAUDE_PAGE_TEXT_TOKENS,
    shape="mistral",
    output_fields=(("max_tokens",),),
)
MISTRAL_SMALL = TokenRule(
    family="Mistral (7B Instruct, Mixtral 8x7B Instruct)",
    chars_per_token=CHARS_PER_TOKEN,
    default_max_output_tokens=MISTRAL_SMALL_DEFAULT_OUTPUT_TOKENS,
    max_output_tokens=MISTRAL_MAX_OUTPUT_TOKENS,
    image=ImageRule(MISTRAL_IMAGE_TOKENS),
    video_tokens=NOVA_VIDEO_FRAMES * NOVA_FRAME_TOKENS,
    document_page_tokens=CLAUDE_PAGE_TEXT_TOKENS,
    shape="mistral",
    output_fields=(("max_tokens",),),
)
GENERIC = TokenRule(
    family="Any other model",
    chars_per_token=GENERIC_CHARS_PER_TOKEN,
    default_max_output_tokens=GENERIC_MAX_OUTPUT_TOKENS,
    max_output_tokens=GENERIC_MAX_OUTPUT_TOKENS,
    image=ImageRule(_GENERIC_IMAGE_TOKENS),
    video_tokens=NOVA_VIDEO_FRAMES * NOVA_FRAME_TOKENS,
    document_page_tokens=CLAUDE_PAGE_TEXT_TOKENS + _GENERIC_IMAGE_TOKENS,
    shape="generic",
)
GENERIC_EMBEDDINGS = TokenRule(
    family="Any other embeddings model",
    chars_per_token=GENERIC_CHARS_PER_TOKEN,
    default_max_output_tokens=0,
    max_output_tokens=0,
    image=ImageRule(_GENERIC_IMAGE_TOKENS),
    video_tokens=NOVA_VIDEO_FRAMES * NOVA_FRAME_TOKENS,
    document_page_tokens=CLAUDE_PAGE_TEXT_TOKENS + _GENERIC_IMAGE_TOKENS,
    shape="generic",
    writes=False,
)
RULES = (
    CLAUDE,
    CLAUDE_HIGH,
    NOVA_V1,
    NOVA,
    TITAN_TEXT,
    TITAN_EMBEDDINGS,
    LLAMA,
    MISTRAL,
    MISTRAL_SMALL,
    GENERIC,
    GENERIC_EMBEDDINGS,
)

# Claude models before Opus 4.7: the earlier tokenizer and image limits. Any other Claude,
# including one not yet released, is counted as Opus 4.7 is (more tokens).
_EARLIER_CLAUDE = re.compile(
    r"^anthropic\.claude-(?:v2|instant|3|(?:opus|sonnet|haiku)-4(?:-[0-6])?(?:-\d{8}|-v\d|:|$))"
)
_NOVA_V1 = ("amazon.nova-micro-v1", "amazon.nova-lite-v1", "amazon.nova-pro-v1")
_MISTRAL_SMALL = ("mistral.mistral-7b", "mistral.mixtral-8x7b")
# Embeddings and rerank models produce no output tokens.
_EMBEDDINGS = re.compile(r"embed|rerank")


@cache
def rule_for(model_id: str) -> TokenRule:
    """The rule of a model's family; the generic rule for a model of no known family."""
    base = base_model_id(model_id)
    if _EMBEDDINGS.search(base):
        return TITAN_EMBEDDINGS if base.startswith("amazon.titan-") else GENERIC_EMBEDDINGS
    family = family_of(model_id)
    name = family.name if family else ""
    if name.startswith("Anthropic Claude"):
        return CLAUDE if _EARLIER_CLAUDE.match(base) else CLAUDE_HIGH
    if name == "Amazon Nova":
        return NOVA_V1 if base.startswith(_NOVA_V1) else NOVA
    if name.startswith("Amazon Titan"):
        return TITAN_TEXT
    if name == "Meta Llama":
        return LLAMA
    if name == "Mistral":
        return MISTRAL_SMALL if base.startswith(_MISTRAL_SMALL) else MISTRAL
    return GENERIC


def value_at(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def positive(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0
