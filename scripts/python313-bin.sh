#!/usr/bin/env bash
# Print the directory of a Python 3.13 interpreter for `sam build` (runtime python3.13).
# Looks at PATH first, then pyenv's installed versions, then uv-managed interpreters.
set -euo pipefail
if command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'import sys' >/dev/null 2>&1; then
  dirname "$(python3.13 -c 'import sys; print(sys.executable)')"
  exit 0
fi
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for candidate in "$root"/versions/3.13*/bin/python3.13; do
  if [ -x "$candidate" ]; then dirname "$candidate"; exit 0; fi
done
if command -v uv >/dev/null 2>&1 && found=$(uv python find --no-project '==3.13.*' 2>/dev/null); then
  dirname "$found"; exit 0
fi
echo "no Python 3.13 found: install one (pyenv install 3.13, uv python install 3.13," \
     "or your OS package) so that sam build can use it" >&2
exit 1
