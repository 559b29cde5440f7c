#!/usr/bin/env bash
# Chromium (Debian package "chromium") runs the dashboard's browser tests, driven by Playwright
# for Python (which never downloads a browser of its own here). Installed when missing and we
# can (root with apt-get); otherwise the browser tests fail and say how to get it.
set -euo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
else
  echo "chromium not found: install Debian's 'chromium' package (or set CHROMIUM_PATH) for the browser tests" >&2
fi
