#!/usr/bin/env bash
# Fails when dist/ or server-template/dist/ differ from a fresh `npm run bundle`.
set -euo pipefail
npm run bundle >/dev/null
if ! git diff --quiet --exit-code -- dist server-template/dist || [ -n "$(git status --porcelain -- dist server-template/dist)" ]; then
  echo "::error::dist/ or server-template/dist/ is stale: run 'npm run bundle' and commit the result." >&2
  git status --porcelain -- dist server-template/dist | head -20 >&2
  git diff --stat -- dist server-template/dist | tail -5 >&2
  exit 1
fi
# The runtime layers' shipped diff_ids (the bundle step rewrote them from node_modules and the bundle).
if ! git diff --quiet --exit-code -- server-template/runtime-layers.json || [ -n "$(git status --porcelain -- server-template/runtime-layers.json)" ]; then
  echo "::error::server-template/runtime-layers.json is stale: run 'npm run bundle' and commit it with the bundles." >&2
  git diff -- server-template/runtime-layers.json >&2 || true
  exit 1
fi
echo "bundles are fresh"
