#!/usr/bin/env bash
# Run uv: the one on PATH, or python3's uv module, or a private copy bootstrapped into
# .tools/ (works where the system Python refuses pip installs, PEP 668).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if command -v uv >/dev/null 2>&1; then exec uv "$@"; fi
if python3 -m uv --version >/dev/null 2>&1; then exec python3 -m uv "$@"; fi
if [ ! -x "$here/.tools/bin/uv" ]; then
  echo "uv not found: installing it into $here/.tools" >&2
  python3 -m venv "$here/.tools"
  "$here/.tools/bin/python" -m pip install --quiet --disable-pip-version-check uv
fi
exec "$here/.tools/bin/uv" "$@"
