#!/usr/bin/env bash
# npm run engine:providers — the `command` and `docker` provider plugins, built from their source
# repositories (the Go module proxy does not serve them, and a machine without github.com cannot
# download them) and installed into the Pulumi CLI's plugin directory, so `pulumi up` runs offline.
#
#   bash engine/providers.sh [--source NAME=DIR]...
#
# DIR: a clone, checkout or bare mirror of the repository NAME stands for: command
# (pulumi/pulumi-command), docker (pulumi/pulumi-docker), docker-upstream
# (kreuzwerker/terraform-provider-docker, pulumi-docker's `upstream` submodule, holding the commit
# the docker tag pins) and terraform-bridge (pulumi/pulumi-terraform-bridge, only read when the Go
# module proxy does not serve the bridge version the docker provider requires). Without --source:
# $C1M_PROVIDER_SOURCES/<owner>+<repo>/repo when set, else a clone from github.com into the cache;
# when neither works it says what to pass.
#
# Versions: C1M_{COMMAND,DOCKER}_PROVIDER_VERSION, else package.json's dependency when it is an
# exact x.y.z, else node_modules/@pulumi/<name>; version X is built from the repository's tag vX.
# Binaries are cached in $C1M_PROVIDER_CACHE/<name>-<version>/ (default
# ~/.cache/c1m-lab/providers); a plugin `pulumi plugin ls` already lists at that version is skipped.
# A built binary must report (in its schema) the version it is installed as.
# The CLI: $PULUMI_BIN, else a `pulumi` on PATH, else the one `npm run engine:build` built.
# shellcheck disable=SC2016 # the node -e programs are single-quoted on purpose
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
started=$SECONDS

log() { printf 'providers: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
usage() { awk 'NR > 1 && /^# shellcheck/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2; }

declare -A source=()
while [ $# -gt 0 ]; do
  case "$1" in
    --source) [ $# -ge 2 ] || die "--source needs NAME=DIR"; arg=$2; shift 2 ;;
    --source=*) arg=${1#--source=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
  esac
  name=${arg%%=*} dir=${arg#*=}
  case "$name" in command | docker | docker-upstream | terraform-bridge) ;;
    *) die "--source $arg: NAME is command, docker, docker-upstream or terraform-bridge" ;;
  esac
  if [ "$name" = "$arg" ] || [ -z "$dir" ]; then die "--source $arg: expected NAME=DIR"; fi
  git -C "$dir" rev-parse --git-dir >/dev/null 2>&1 || die "--source $name=$dir: not a git repository (a clone, checkout or mirror)"
  source[$name]="$(cd "$dir" && pwd)"
done

declare -A repo=([command]=pulumi/pulumi-command [docker]=pulumi/pulumi-docker
  [docker-upstream]=kreuzwerker/terraform-provider-docker [terraform-bridge]=pulumi/pulumi-terraform-bridge)
# Go modules the proxy may not serve (it lacks recent pulumi-terraform-bridge releases), and the
# source that replaces them: module path prefix → source name.
declare -A module_source=([github.com/pulumi/pulumi-terraform-bridge]=terraform-bridge)
cache="${C1M_PROVIDER_CACHE:-$HOME/.cache/c1m-lab/providers}"
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "go not found: install Go ≥ 1.25 (https://go.dev/dl)"
export GIT_TERMINAL_PROMPT=0

# The CLI, found as infra/cli/engine.ts finds it.
pulumi="${PULUMI_BIN:-}"
if [ -z "$pulumi" ]; then
  pulumi="$(command -v pulumi || true)"
  case "$pulumi" in *node_modules*) pulumi= ;; esac # npm's launcher downloads the CLI: not an engine
fi
if [ -z "$pulumi" ] && bin="$(C1M_ENGINE_CACHED_ONLY=1 bash "$here/build.sh" 2>/dev/null | tail -n1)" && [ -x "$bin/pulumi" ]; then
  pulumi="$bin/pulumi"
fi
[ -n "$pulumi" ] || die "no Pulumi CLI: run npm run engine:build first (or set PULUMI_BIN)"
export PULUMI_SKIP_UPDATE_CHECK=true
log "pulumi CLI: $pulumi ($("$pulumi" version))"

installed() { # name version: is that exact resource plugin installed?
  "$pulumi" plugin ls --json | node -e '
    const [name, version] = process.argv.slice(1);
    const ls = JSON.parse(require("fs").readFileSync(0, "utf8") || "[]") ?? [];
    process.exit(ls.some((p) => p.kind === "resource" && p.name === name && p.version === version) ? 0 : 1);
  ' "$1" "$2"
}

version_of() { # name: the version to build, and where it came from
  local name=$1 env
  env="C1M_$(echo "$1" | tr '[:lower:]' '[:upper:]')_PROVIDER_VERSION"
  if [ -n "${!env:-}" ]; then echo "${!env} \$$env"; return; fi
  node -e '
    const [root, name] = process.argv.slice(1);
    const spec = require(`${root}/package.json`).dependencies?.[`@pulumi/${name}`] ?? "";
    if (/^\d+\.\d+\.\d+$/.test(spec)) console.log(`${spec} package.json`);
    else console.log(`${require(`${root}/node_modules/@pulumi/${name}/package.json`).version} node_modules`);
  ' "$root" "$name" 2>/dev/null || die "$name: no version: set $env, or npm ci so node_modules/@pulumi/$name exists"
}

source_of() { # name [commit]: a git directory holding that source (and commit)
  local name=$1 want=${2:-} url="https://github.com/${repo[$1]}.git" dir
  local hint="pass --source $name=DIR, DIR a clone or mirror of $url${want:+ holding $want}"
  if [ -n "${source[$name]:-}" ]; then echo "${source[$name]}"; return; fi
  local owner_repo="${repo[$name]/\//+}"
  if [ -n "${C1M_PROVIDER_SOURCES:-}" ]; then
    for dir in "$C1M_PROVIDER_SOURCES/$owner_repo/repo" "$C1M_PROVIDER_SOURCES/$owner_repo"; do
      if git -C "$dir" rev-parse --git-dir >/dev/null 2>&1; then echo "$dir"; return; fi
    done
  fi
  # pulumi-docker's own checkout may have its upstream submodule initialised.
  if [ "$name" = docker-upstream ] && [ -n "$want" ]; then
    local docker_git
    docker_git="$(git -C "$(source_of docker)" rev-parse --path-format=absolute --git-common-dir)"
    for dir in "$docker_git/modules/upstream" "$(dirname "$docker_git")/upstream"; do
      if git -C "$dir" cat-file -e "$want^{commit}" 2>/dev/null; then echo "$dir"; return; fi
    done
  fi
  dir="$cache/src/$owner_repo.git"
  if [ -d "$dir" ]; then
    log "$name: fetching $url into $dir"
    git -C "$dir" fetch -q --tags origin >&2 || log "$name: fetch failed; using what $dir has"
  else
    log "$name: cloning $url into $dir"
    mkdir -p "$cache/src"
    git clone -q --bare "$url" "$dir.partial" >&2 || { rm -rf "$dir.partial"; die "$name: cannot clone $url: $hint"; }
    mv "$dir.partial" "$dir"
  fi
  echo "$dir"
}

export_tree() { # git-dir rev dest [subdir]: the files of rev (under subdir) in dest
  local git=$1 tree=$2${4:+:$4} dest=$3 missing err path
  rm -rf "$dest" && mkdir -p "$dest"
  # A mirror may lack a few blobs (big test fixtures): leave those files out, and say so.
  missing="$(git -C "$git" ls-tree -r "$tree" | awk '$2 == "blob" { print $3 }' |
    git -C "$git" cat-file --batch-check --buffer | awk '$2 == "missing" { print $1 }')"
  local -a skip=() paths=()
  if [ -n "$missing" ]; then
    while IFS= read -r path; do paths+=("$path") skip+=(":(exclude,literal)$path"); done < <(
      git -C "$git" ls-tree -r "$tree" | grep -F -f <(echo "$missing") | cut -f2-)
    log "  $tree of $git lacks ${#paths[@]} blob(s), left out: ${paths[*]}"
  fi
  err="$(mktemp)"
  if ! git -C "$git" archive --format=tar "$tree" -- . "${skip[@]}" 2>"$err" | tar -x -C "$dest"; then
    cat "$err" >&2; rm -f "$err"; die "cannot export $tree from $git"
  fi
  rm -f "$err"
}

replace_unserved() { # name version module-dir: modules the proxy lacks → their tagged source
  local name=$1 version=$2 dir=$3 path ver prefix src sub tag t=$SECONDS
  local unserved
  unserved="$(cd "$dir" && { go mod download -json all 2>/dev/null || true; } | node -e '
    const out = require("fs").readFileSync(0, "utf8").split(/\n(?=\{)/).filter((s) => s.trim());
    for (const m of out.map((s) => JSON.parse(s))) if (m.Error) console.log(m.Path, m.Version);
  ')"
  log "$name $version: module dependencies downloaded ($((SECONDS - t)) s)"
  while read -r path ver; do
    [ -n "$path" ] || continue
    src=
    for prefix in "${!module_source[@]}"; do
      case "$path" in "$prefix" | "$prefix"/*) src=${module_source[$prefix]} ;; esac
      [ -z "$src" ] || break
    done
    [ -n "$src" ] || die "$name $version: the Go module proxy does not serve $path@$ver, and there is no source for it here"
    # Module path → directory and tag in its repository (a /vN suffix is no directory).
    sub="$(echo "${path#"$prefix"}" | sed -E 's#^/##; s#(^|/)v[0-9]+$##')"
    tag="${sub:+$sub/}$ver"
    local git
    git="$(source_of "$src" "$tag")"
    git -C "$git" rev-parse -q --verify "refs/tags/$tag^{commit}" >/dev/null ||
      die "$name $version: the Go module proxy does not serve $path@$ver and $git has no tag $tag: pass --source $src=DIR, DIR a clone or mirror of https://github.com/${repo[$src]}.git"
    t=$SECONDS
    export_tree "$git" "$tag" "$dir/../deps/$path" "$sub"
    (cd "$dir" && go mod edit -replace "$path=../deps/$path")
    log "$name $version: $path@$ver is not served by the Go module proxy: built from tag $tag of $git ($((SECONDS - t)) s)"
  done <<<"$unserved"
}

go_build() { # name version module-dir: build cmd/pulumi-resource-<name> to $dest, the version linked in
  local name=$1 version=$2 dir=$3 module
  module="$(sed -n 's/^module //p' "$dir/go.mod")"
  [ -f "$dir/pkg/version/version.go" ] || die "$name $version: no pkg/version in $dir: the version ldflag would not stick"
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X $module/pkg/version.Version=$version" \
    -o "$dest.partial" "$module/cmd/pulumi-resource-$name")
  mv "$dest.partial" "$dest"
}

build() { # name version: $dest, from tag v<version>
  local name=$1 version=$2 src work t
  src="$(source_of "$name")"
  git -C "$src" rev-parse -q --verify "refs/tags/v$version^{commit}" >/dev/null ||
    die "$name $version: $src has no tag v$version (the plugin is built from tag vX for SDK version X; pass --source $name=DIR holding that tag, or pin an @pulumi/$name version that has one)"
  work="$cache/$name-$version/src"
  t=$SECONDS
  export_tree "$src" "v$version" "$work"
  log "$name $version: tag v$version of $src exported ($((SECONDS - t)) s)"
  if [ "$name" = docker ]; then
    # What the Makefile's `upstream` target does (scripts/upstream.sh init): the submodule at
    # its pinned commit, with patches/*.patch applied in order.
    local commit up
    commit="$(git -C "$src" ls-tree "v$version" upstream | awk '$2 == "commit" { print $3 }')"
    [ -n "$commit" ] || die "$name $version: tag v$version has no upstream submodule"
    up="$(source_of docker-upstream "$commit")"
    git -C "$up" cat-file -e "$commit^{commit}" 2>/dev/null ||
      die "$name $version: $up lacks commit $commit (pulumi-docker's upstream submodule): pass --source docker-upstream=DIR, DIR a clone or mirror of https://github.com/${repo[docker-upstream]}.git holding it"
    t=$SECONDS
    export_tree "$up" "$commit" "$work/upstream"
    (cd "$work/upstream" && git init -q && for patch in ../patches/*.patch; do
      git apply "$patch" || die "$name $version: $(basename "$patch") does not apply to upstream $commit"
    done)
    log "$name $version: upstream ${commit:0:12} from $up, $(find "$work/patches" -name '*.patch' | wc -l) patches applied ($((SECONDS - t)) s)"
    replace_unserved "$name" "$version" "$work/provider"
    # The Makefile's schema step: tfgen writes schema.json (committed at the tag, so used as is),
    # then `go generate` stamps the version into schema-embed.json, which main.go embeds.
    t=$SECONDS
    (cd "$work/provider" && VERSION=$version CGO_ENABLED=0 go generate cmd/pulumi-resource-docker/main.go)
    log "$name $version: schema-embed.json generated ($((SECONDS - t)) s)"
  fi
  t=$SECONDS
  log "$name $version: go build (cold: minutes, the docker provider 10+ on 2 cores)"
  go_build "$name" "$version" "$work/provider"
  log "$name $version: built $dest ($(du -h "$dest" | cut -f1), $((SECONDS - t)) s)"
  rm -rf "$work"
}

check_version() { # name version: the binary's schema must carry the version it is installed as
  local reported t=$SECONDS
  reported="$("$pulumi" package get-schema "$dest" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).version ?? "none")')" ||
    die "$1 $2: $dest does not serve its schema"
  [ "$reported" = "$2" ] || die "$1 $2: $dest reports version $reported"
  log "$1 $2: the binary reports version $reported ($((SECONDS - t)) s)"
}

for name in command docker; do
  found="$(version_of "$name")"
  read -r version from <<<"$found"
  [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$ ]] || die "$name: version '$version' ($from) is not x.y.z"
  sdk="$(node -p "require('$root/node_modules/@pulumi/$name/package.json').version" 2>/dev/null || true)"
  if [ -n "$sdk" ] && [ "$sdk" != "$version" ]; then
    log "$name: warning: node_modules has @pulumi/$name $sdk, whose programs ask for plugin $sdk, not $version"
  fi
  if installed "$name" "$version"; then
    log "$name $version ($from): installed already"
    continue
  fi
  dest="$cache/$name-$version/pulumi-resource-$name"
  if [ -x "$dest" ]; then
    log "$name $version ($from): cached ($dest)"
  else
    log "$name $version ($from): building from tag v$version"
    mkdir -p "$(dirname "$dest")"
    build "$name" "$version"
  fi
  check_version "$name" "$version"
  t=$SECONDS
  # --exact: by default a newer installed version counts as "already installed".
  "$pulumi" plugin install resource "$name" "$version" --exact --reinstall --file "$dest" 2>&1 | sed 's/^/  /' >&2
  log "$name $version: installed ($((SECONDS - t)) s)"
done

ls="$("$pulumi" plugin ls)"
for name in command docker; do
  found="$(version_of "$name")"
  read -r version _ <<<"$found"
  installed "$name" "$version" || die "pulumi plugin ls does not list resource $name $version:"$'\n'"$ls"
done
grep -E '^(NAME|command|docker) ' <<<"$ls" | sed 's/^/  /' >&2
log "done in $((SECONDS - started)) s"
