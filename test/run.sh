#!/usr/bin/env bash
# npm test (after the build): the unit tests two files at a time (pure, each file its own
# process, about half their time is waiting), then the rest one file at a time (they share the
# machine's Docker, namespaces, iptables and conntrack). Both run even if the first fails.
set -uo pipefail
cd "$(dirname "$0")/.."
mapfile -t unit < <(find dist/test/unit -name '*.test.js' | sort)
# test/vm (VMs under qemu, ~5 minutes) runs in npm run test:lifecycle, the command's last part.
mapfile -t rest < <(find dist/test -name '*.test.js' -not -path 'dist/test/unit/*' -not -path 'dist/test/vm/*' | sort)
node --test --test-concurrency=2 "${unit[@]}"
unit_status=$?
node --test --test-concurrency=1 "${rest[@]}"
rest_status=$?
[ "$unit_status" -eq 0 ] && [ "$rest_status" -eq 0 ]
