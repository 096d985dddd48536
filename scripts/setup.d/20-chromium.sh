#!/usr/bin/env bash
# Debian's Chromium, for the browser tests in test/browser/ (driven by playwright-core, which never
# downloads a browser here). Idempotent: exits at once when /usr/bin/chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "20-chromium: /usr/bin/chromium is missing; run as root (or: apt-get install chromium)" >&2
  exit 1
fi
echo "20-chromium: installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
# The launcher's sourced config may print a harmless shell warning; only the version matters.
/usr/bin/chromium --version 2>/dev/null || true
