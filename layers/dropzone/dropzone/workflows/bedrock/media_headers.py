"""The size of an image, read from the first bytes of its base64 text: PNG, GIF, JPEG and
WebP headers, decoded only as far as they are read. Pure, no I/O."""

from __future__ import annotations

import binascii


class Base64View:
    """The bytes of a base64 string, decoded only where they are read."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def read(self, start: int, size: int) -> bytes:
        first = start // 3 * 4
        last = -(-(start + size) // 3) * 4
        try:
            decoded = binascii.a2b_base64(self.text[first:last])
        except (binascii.Error, ValueError):
            return b""
        skip = start - first // 4 * 3
        return decoded[skip : skip + size]


_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), 0xCD, 0xCE,
                       0xCF})  # fmt: skip
_JPEG_SEGMENTS = 512  # markers read at most before giving up on a JPEG's size


def image_size(data: str) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF, JPEG or WebP image from its base64, decoding only its
    header; None when that cannot be read."""
    image = Base64View(data)
    head = image.read(0, 32)
    size: tuple[int, int] | None = None
    if head.startswith(_PNG) and head[12:16] == b"IHDR" and len(head) >= 24:
        size = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    elif head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        size = int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        size = _webp_size(head)
    elif head[:2] == b"\xff\xd8":
        size = _jpeg_size(image)
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(head[26:28], "little") & 0x3FFF
        height = int.from_bytes(head[28:30], "little") & 0x3FFF
        return width, height
    if chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _jpeg_size(image: Base64View) -> tuple[int, int] | None:
    """The size in a JPEG's start-of-frame segment, jumping over the segments before it
    (an EXIF thumbnail can be tens of KB) without decoding them."""
    offset = 2
    for _ in range(_JPEG_SEGMENTS):
        segment = image.read(offset, 9)
        if len(segment) < 4 or segment[0] != 0xFF:
            return None
        marker = segment[1]
        if marker == 0xFF:  # fill byte
            offset += 1
        elif marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            offset += 2
        elif marker in (0xD9, 0xDA):  # the end, or the image data, before any frame
            return None
        elif marker in _JPEG_SOF:
            if len(segment) < 9:
                return None
            return int.from_bytes(segment[7:9], "big"), int.from_bytes(segment[5:7], "big")
        else:
            length = int.from_bytes(segment[2:4], "big")
            if length < 2:
                return None
            offset += 2 + length
    return None
