#!/usr/bin/env bash
# openssl makes the throwaway TLS certificate of test/node-http2.test.ts. Debian ships it in most
# images; install it where it is missing. Skips itself when it is there.
set -euo pipefail
command -v openssl >/dev/null && exit 0
echo "setup: installing openssl"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq openssl >/dev/null
