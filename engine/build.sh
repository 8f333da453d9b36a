#!/usr/bin/env bash
# npm run engine:build — the Pulumi engine from Go modules (the Go module proxy), cached
# outside the repo and keyed by version and by the glue modules here, so a second run takes
# seconds. Builds the CLI and the nodejs language host; checks whether the proxy serves the
# command and docker provider modules the lab's npm packages need, and says so.
#
# C1M_ENGINE_CACHED_ONLY=1: print the cached bin directory, or exit 3 when nothing is built.
# Output: $C1M_ENGINE_CACHE/<key>/bin/{pulumi,pulumi-language-nodejs} (default cache
# ~/.cache/c1m-lab/engine); the last line printed is that bin directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

CLI_VERSION=v3.248.0
# The language host's own module (sdk/nodejs/cmd/pulumi-language-nodejs/v3) is not served by
# the proxy; sdk/v3 v3.68.0 is the newest release that ships it inside the sdk module.
LANGUAGE_HOST_VERSION=v3.68.0
# What the lab's providers would be built from (tags v1.2.1 and v5.0.0 of their repositories).
COMMAND_PROVIDER=github.com/pulumi/pulumi-command/provider@v0.0.0-20260303235922-7f3eb6f3b77c
DOCKER_PROVIDER=github.com/pulumi/pulumi-docker/provider/v5@v5.0.0-20260421125334-c2baf6a4997f

log() { printf 'engine: %s\n' "$*" >&2; }
# Go's own installer puts it in /usr/local/go, which not every shell has on PATH.
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { log "go not found: install Go ≥ 1.24 (https://go.dev/dl) or put a pulumi CLI on PATH"; exit 1; }

# The SDK the lockfile resolves must be the CLI we build: a newer SDK may use engine features
# an older CLI lacks.
sdk_version="v$(node -p "require('$root/package-lock.json').packages['node_modules/@pulumi/pulumi'].version")"
if [ "$sdk_version" != "$CLI_VERSION" ]; then
  log "package-lock.json resolves @pulumi/pulumi $sdk_version but engine/build.sh builds the CLI $CLI_VERSION: update CLI_VERSION and engine/pulumi/go.mod together"
  exit 1
fi

glue_hash="$(cat "$here"/pulumi/go.{mod,sum} "$here"/language-nodejs/go.{mod,sum} | sha256sum | cut -c1-12)"
cache="${C1M_ENGINE_CACHE:-$HOME/.cache/c1m-lab/engine}"
out="$cache/pulumi-$CLI_VERSION-nodejs-$LANGUAGE_HOST_VERSION-$glue_hash"
bin="$out/bin"

build() { # name module-dir package version output
  local name=$1 dir=$2 pkg=$3 version=$4 dest=$5 started=$SECONDS
  if [ -x "$dest" ]; then
    log "$name $version: cached ($dest)"
    return
  fi
  [ -z "${C1M_ENGINE_CACHED_ONLY:-}" ] || exit 3
  log "$name $version: building $pkg (cold: many minutes on 2 cores)"
  # Official builds: static, trimmed paths, no cgo user lookups, no grpc tracing.
  (cd "$here/$dir" && CGO_ENABLED=0 go build -mod=readonly -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
    -o "$dest.partial" "$pkg")
  mv "$dest.partial" "$dest"
  log "$name $version: built in $((SECONDS - started)) s"
}

mkdir -p "$bin"
build "pulumi CLI" pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$CLI_VERSION" "$bin/pulumi"
build "nodejs language host" language-nodejs github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs \
  "$LANGUAGE_HOST_VERSION" "$bin/pulumi-language-nodejs"
"$bin/pulumi" version >/dev/null
if [ -n "${C1M_ENGINE_CACHED_ONLY:-}" ]; then echo "$bin"; exit 0; fi

# The providers: report what the proxy says, word for word, so the gap is plain.
missing=0
for module in "$COMMAND_PROVIDER" "$DOCKER_PROVIDER"; do
  if err="$(cd "$here/pulumi" && go mod download -json "$module" 2>&1 | sed -n 's/.*"Error": "\(.*\)",*$/\1/p')" && [ -z "$err" ]; then
    log "provider module $module: served (its build is not scripted yet)"
  else
    log "provider module $module: not served by the Go module proxy: ${err:-unknown error}"
    missing=1
  fi
done
if [ "$missing" = 1 ]; then
  log "the lab's pulumi up needs the command and docker provider plugins: npm run engine:providers builds them"
  log "  from their sources (clones where github.com is reachable, or --source NAME=DIR; see the README)"
fi
echo "$bin"
