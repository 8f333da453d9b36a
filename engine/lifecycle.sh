#!/usr/bin/env bash
# npm run test:lifecycle: the engine lifecycle tests (npm run test:engine) where the command and
# docker provider plugins are installed. A fresh machine cannot get them from the Go module proxy
# (npm run engine:providers builds them from their sources). Either way, one line says which.
set -euo pipefail
cd "$(dirname "$0")/.."
# The check below reads the compiled engine module: a fresh checkout has none yet.
npm run -s build
if node --input-type=module -e 'import { findEngine, missingPlugins } from "./dist/infra/cli/engine.js";
  process.exit(missingPlugins(await findEngine(process.cwd()), process.cwd()).length ? 3 : 0);'; then
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  status=0
  npm run test:engine 2>&1 | tee "$log" || status=$?
  passed="$(sed -n 's/^# pass //p' "$log" | tail -n 1)"
  failed="$(sed -n 's/^# fail //p' "$log" | tail -n 1)"
  echo "engine lifecycle tests: ${passed:-0} passed, ${failed:-?} failed"
  exit "$status"
fi
echo "engine lifecycle tests: not run (command/docker plugins not installed: npm run engine:providers)"
