#!/usr/bin/env bash
# Debian's redis-server, for the Redis store's tests (test/redis*.test.ts start their own on a free
# 127.0.0.1 port and stop it). Idempotent: exits at once when redis-server is already there.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "30-redis: redis-server is missing; run as root (or: apt-get install redis-server)" >&2
  exit 1
fi
echo "30-redis: installing Debian's redis-server"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# Debian's package may start a system instance on 6379; the tests never use it, so stop it.
if command -v systemctl >/dev/null 2>&1; then systemctl stop redis-server >/dev/null 2>&1 || true; fi
redis-server --version
