"""Extract the Lookout for Vision service model from the last botocore wheel that ships it.

botocore removed `lookoutvision` after 1.40.60. This script takes that wheel (downloaded from
PyPI, or a local copy given with --wheel; either must have the pinned SHA-256), strips
every documentation string, and writes the model under
layers/dropzone/dropzone/botocore_data/, a folder in botocore's data-path layout. Importing
`dropzone.aws` adds that folder to botocore's search path, so `boto3.client("lookoutvision")`
works with current boto3.

    python scripts/extract_lookoutvision_model.py            # download and extract
    python scripts/extract_lookoutvision_model.py --check    # fail if the committed copy differs
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import sys
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

WHEEL = "botocore-1.40.60-py3-none-any.whl"
WHEEL_SHA256 = "385336791e37c200020a8991fbefcf1afd6836f27966d007b6e4c8bc96a4173d"
INDEX_URL = "https://pypi.org/simple/botocore/"
SERVICE = "lookoutvision"
API_VERSION = "2020-11-20"
# The models the client needs; examples-1.json is documentation only.
FILES = ("service-2.json", "endpoint-rule-set-1.json", "paginators-1.json")
PROSE_KEYS = frozenset({"documentation", "documentationUrl", "deprecatedMessage"})
ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "layers" / "dropzone" / "dropzone" / "botocore_data" / SERVICE / API_VERSION


def strip_prose(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_prose(v) for k, v in value.items() if k not in PROSE_KEYS}
    if isinstance(value, list):
        return [strip_prose(v) for v in value]
    return value


def read_member(wheel: zipfile.ZipFile, name: str) -> Any:
    base = f"botocore/data/{SERVICE}/{API_VERSION}/{name}"
    members = set(wheel.namelist())
    if base in members:
        return json.loads(wheel.read(base))
    if f"{base}.gz" in members:
        return json.loads(gzip.decompress(wheel.read(f"{base}.gz")))
    raise SystemExit(f"{WHEEL} has no {base}")


def render(wheel_bytes: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
        return {
            name: json.dumps(strip_prose(read_member(wheel, name)), indent=1, sort_keys=True) + "\n"
            for name in FILES
        }


def download() -> bytes:
    """The wheel from PyPI's simple index, refused unless it has the pinned SHA-256."""
    with urllib.request.urlopen(INDEX_URL, timeout=60) as response:
        index = response.read().decode()
    match = re.search(rf'href="([^"#]*/{re.escape(WHEEL)})(#[^"]*)?"', index)
    if match is None:
        raise SystemExit(f"{INDEX_URL} does not list {WHEEL}")
    url = match.group(1)
    if not url.startswith("https://"):
        raise SystemExit(f"refusing to download {WHEEL} from {url}")
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (https only)
        data: bytes = response.read()
    return data


def verified(data: bytes) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != WHEEL_SHA256:
        raise SystemExit(f"{WHEEL}: sha256 {actual} is not the pinned {WHEEL_SHA256}")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a local {WHEEL} instead of downloading")
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed model; write nothing"
    )
    args = parser.parse_args(argv)
    data = verified(args.wheel.read_bytes() if args.wheel else download())
    rendered = render(data)
    if args.check:
        stale = [n for n, text in rendered.items() if _read(TARGET / n) != text]
        if stale:
            print(f"out of date: {', '.join(stale)}", file=sys.stderr)
            return 1
        print(f"{TARGET.relative_to(ROOT)} matches {WHEEL}")
        return 0
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (TARGET / name).write_text(text)
    print(f"wrote {', '.join(rendered)} to {TARGET.relative_to(ROOT)}")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


if __name__ == "__main__":
    raise SystemExit(main())
