#!/usr/bin/env bash
# The distribution packages the tests need beyond Python: Chromium, which renders the
# offline dashboard in tests/local/test_dashboard_html.py. Quiet when it is already there.
# Installs with apt-get as root; anywhere else it says what is missing, and fails under CI
# (CI=true), where the test must run rather than be skipped.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing chromium from the distribution's packages (the dashboard test needs it)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  exit 0
fi
echo "chromium is absent and not installable here (needs apt-get as root):" \
  "install your distribution's chromium package; until then the dashboard test is skipped" >&2
if [ "${CI:-}" = true ]; then exit 1; fi
