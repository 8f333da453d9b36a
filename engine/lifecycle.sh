#!/usr/bin/env bash
# npm run test:lifecycle: the slow half of the test command. First the VM tests (test/vm: real
# Debian VMs under qemu, TCG here, about 5 minutes; they need qemu and `npm run vm:image`, not the
# engine's plugins), then the engine lifecycle tests (npm run test:engine) where the command and
# docker provider plugins are installed. A fresh machine cannot get those from the Go module
# proxy (npm run engine:providers builds them from their sources). Either way, one line says which.
set -uo pipefail
cd "$(dirname "$0")/.."
# The check below reads the compiled engine module: a fresh checkout has none yet.
npm run -s build || exit 1
node --test --test-concurrency=1 dist/test/vm/*.test.js
vm_status=$?
if node --input-type=module -e 'import { findEngine, missingPlugins } from "./dist/infra/cli/engine.js";
  process.exit(missingPlugins(await findEngine(process.cwd()), process.cwd()).length ? 3 : 0);'; then
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  npm run test:engine 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  passed="$(sed -n 's/^# pass //p' "$log" | tail -n 1)"
  failed="$(sed -n 's/^# fail //p' "$log" | tail -n 1)"
  echo "engine lifecycle tests: ${passed:-0} passed, ${failed:-?} failed"
  [ "$vm_status" -eq 0 ] && [ "$status" -eq 0 ]
  exit
fi
echo "engine lifecycle tests: not run (command/docker plugins not installed: npm run engine:providers)"
exit "$vm_status"
