#!/usr/bin/env bash
# promtool (Debian package "prometheus") checks the services' /metrics output in the tests.
# Installed here when missing and we can (root with apt-get); otherwise the test says why.
set -euo pipefail
command -v promtool >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
else
  echo "promtool not found: install Debian's 'prometheus' package for the metrics test" >&2
fi
