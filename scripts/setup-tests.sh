#!/usr/bin/env bash
# Installs what the tests need beyond npm devDependencies (other Node versions, Chromium, ...).
# Each step is a script in scripts/setup.d/, run in name order; each skips itself when its tool is
# already present, so a second `npm test` costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
for step in scripts/setup.d/*.sh; do
  [ -e "$step" ] || continue
  bash "$step"
done
