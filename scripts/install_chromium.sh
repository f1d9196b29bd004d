#!/usr/bin/env bash
# Installs Debian's chromium (for the report's headless-browser test) when it is missing.
# Needs root and apt; elsewhere it says so and exits 0 (the test then skips with this reason).
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium not installed (needs root and apt-get): the report's browser test will skip" >&2
fi
