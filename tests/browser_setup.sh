#!/usr/bin/env bash
# Installs what tests/test_browser.py needs beyond the Python dev dependencies: Debian's
# Chromium (Playwright's own browser downloads are not used). Idempotent: does nothing when
# /usr/bin/chromium exists. Needs root (or sudo) the first time; CI runs it before the tests.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser_setup.sh: no apt-get here; install Chromium as /usr/bin/chromium by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version
