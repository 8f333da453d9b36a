// Script builders for the glue of the VM lab that infra/scripts/vm.ts does not cover: the staging
// directory in the ssh user's home (where remote.CopyToRemote uploads, since it cannot write
// /etc or /opt as a non-root user), installing the uploaded server workload into /opt/c1m-lab,
// the local cloud-init file for multipass, and the `timeout … bash -c` wrapper every remote step
// runs in. Pure: each function returns text; every interpolated value goes through `q`.
import { parse, Document } from "yaml";
import { renderCloudInit, ScriptInputError } from "./scripts/vm.js";
import { SUDO_PRELUDE, q, script } from "./scripts/shell.js";

const FAIL = ['fail() { echo "c1m-lab: $*" >&2; exit 1; }'];
/** Root or passwordless sudo; sbin and the usual Node.js locations on PATH even for a plain user. */
const REMOTE = [...SUDO_PRELUDE, 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/snap/bin"'];

/**
 * How a remote step runs: bash (whatever the user's login shell is), bounded by `timeout` (KILL
 * 10 s after TERM). remote.Command runs it in the ssh user's home directory.
 */
export function remoteCommand(text: string, timeoutSeconds: number): string {
  if (!Number.isSafeInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 86_400) {
    throw new ScriptInputError(`remoteCommand: timeoutSeconds ${timeoutSeconds} is not valid: use 1 to 86400`);
  }
  return `timeout --kill-after=10 ${timeoutSeconds} bash -c ${q(text)}`;
}

/** Steps that must run one after the other in one remote.Command (both bounded). */
export function remoteSequence(...steps: [text: string, timeoutSeconds: number][]): string {
  return steps.map(([text, t]) => remoteCommand(text, t)).join(" && ");
}

/** A path relative to the ssh user's home: letters, digits and . _ - /, no "..", not absolute. */
function checkStagingDir(dir: string, where: string): string {
  if (
    typeof dir !== "string" ||
    !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(dir) ||
    dir.split("/").some((p) => p === "." || p === "..")
  ) {
    throw new ScriptInputError(
      `${where}: stagingDir ${JSON.stringify(dir)} is not valid: use a path relative to the home directory like .c1m-lab/lab`,
    );
  }
  return dir;
}

/** Creates the staging directory (0700) in the ssh user's home and prints its absolute path. */
export function stagingCreateScript(stagingDir: string): string {
  const dir = checkStagingDir(stagingDir, "stagingCreateScript");
  return script("staging directory create", [
    `dir=${q(dir)}`,
    'cd -- "$HOME"',
    "umask 077",
    'mkdir -p -- "$dir"',
    'chmod 0700 -- "$dir"',
    `printf '%s\\n' "$HOME/$dir"`,
  ]);
}

/** Removes the staging directory, and its parent when that is left empty; idempotent. */
export function stagingDeleteScript(stagingDir: string): string {
  const dir = checkStagingDir(stagingDir, "stagingDeleteScript");
  const parent = dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) : "";
  return script("staging directory delete", [
    `dir=${q(dir)}`,
    'cd -- "$HOME"',
    'rm -rf -- "$dir"',
    ...(parent ? [`rmdir -- ${q(parent)} 2>/dev/null || true`] : []),
    'echo "c1m-lab: removed $HOME/$dir"',
  ]);
}

export interface InstallWorkloadOptions {
  /** Where CopyToRemote put the bundle (relative to the ssh user's home, or absolute). */
  bundlePath: string;
  /** Its sha256: a partial upload fails here, not as a half-installed server. */
  sha256: string;
  /** Default /opt/c1m-lab; its last component must contain "c1m" (the destroy step deletes it). */
  workdir: string;
}

/**
 * Unpacks the workload bundle into `workdir` (root-owned, world-readable, replaced as a whole) and
 * writes `workdir/bin/node`, a wrapper around the host's Node.js ≥ 20 (the server unit's ExecStart
 * needs a fixed path; Node may live in /snap/bin, /usr/local/bin or /usr/bin).
 */
export function installWorkloadScript(opts: InstallWorkloadOptions): string {
  const where = "installWorkloadScript";
  if (typeof opts.bundlePath !== "string" || opts.bundlePath === "" || /[\0\n\r]/.test(opts.bundlePath)) {
    throw new ScriptInputError(`${where}: bundlePath ${JSON.stringify(opts.bundlePath)} is not valid: use a file path`);
  }
  if (typeof opts.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(opts.sha256)) {
    throw new ScriptInputError(`${where}: sha256 ${JSON.stringify(opts.sha256)} is not valid: use 64 lowercase hex digits`);
  }
  const parts = typeof opts.workdir === "string" ? opts.workdir.split("/").filter(Boolean) : [];
  if (
    typeof opts.workdir !== "string" ||
    !/^\/[A-Za-z0-9_.+@/-]*$/.test(opts.workdir) ||
    parts.includes("..") ||
    parts.length < 2 ||
    !parts[parts.length - 1]!.includes("c1m")
  ) {
    throw new ScriptInputError(
      `${where}: workdir ${JSON.stringify(opts.workdir)} is not valid: use a dedicated absolute directory at least two levels deep whose name contains "c1m", like /opt/c1m-lab`,
    );
  }
  return script("install server workload", [
    ...REMOTE,
    ...FAIL,
    `bundle=${q(opts.bundlePath)}`,
    `want=${q(opts.sha256)}`,
    `workdir=${q(opts.workdir)}`,
    '[ -f "$bundle" ] || fail "the staged workload $bundle is missing: upload it first"',
    "got=$(sha256sum -- \"$bundle\" | cut -d' ' -f1)",
    '[ "$got" = "$want" ] || fail "the staged workload $bundle has sha256 $got, expected $want (incomplete upload?)"',
    // Node.js ≥ 20: the first that qualifies of PATH's, the snap's, /usr/local's, the distribution's.
    "node=",
    'for c in "$(command -v node 2>/dev/null || true)" /snap/bin/node /usr/local/bin/node /usr/bin/node; do',
    '  [ -n "$c" ] && [ -x "$c" ] || continue',
    `  if "$c" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' >/dev/null 2>&1; then node=$c; break; fi`,
    "done",
    '[ -n "$node" ] || fail "Node.js 20 or newer was not found on $(hostname) (looked in PATH, /snap/bin, /usr/local/bin, /usr/bin): install it, e.g. sudo snap install node --classic --channel=20"',
    'case "$node" in /*) ;; *) node="$(pwd)/$node" ;; esac',
    'case "$node" in *[!A-Za-z0-9_./+@-]*) fail "the Node.js path $node has characters the wrapper does not quote" ;; esac',
    'version=$("$node" --version)',
    'parent=$(dirname -- "$workdir")',
    'as_root mkdir -p -- "$parent"',
    "new=",
    // On failure: drop the half-built copy and put the previous install back if it was moved aside.
    "cleanup() {",
    '  if [ -n "$new" ]; then as_root rm -rf -- "$new"; fi',
    '  if as_root test -e "$workdir.c1m-old" && ! as_root test -e "$workdir"; then as_root mv -- "$workdir.c1m-old" "$workdir"; fi',
    "}",
    "trap cleanup EXIT",
    'new=$(as_root mktemp -d -p "$parent" .c1m-lab-new.XXXXXX)',
    'as_root timeout 120 tar -xzf "$bundle" -C "$new" --no-same-owner --no-same-permissions',
    'as_root test -f "$new/dist/workload/server.js" || fail "the bundle $bundle has no dist/workload/server.js"',
    'as_root mkdir -p -- "$new/bin"',
    `printf '#!/bin/sh\\nexec %s "$@"\\n' "$node" | as_root tee -- "$new/bin/node" >/dev/null`,
    'as_root chown -R root:root -- "$new"',
    'as_root chmod -R u=rwX,go=rX -- "$new"',
    'as_root chmod 0755 -- "$new" "$new/bin/node"',
    'if as_root test -e "$workdir"; then as_root rm -rf -- "$workdir.c1m-old"; as_root mv -- "$workdir" "$workdir.c1m-old"; fi',
    'as_root mv -- "$new" "$workdir"',
    "new=",
    'as_root rm -rf -- "$workdir.c1m-old"',
    'echo "c1m-lab: workload installed in $workdir (node $version at $node)"',
  ]);
}

/** The multipass VM's cloud-init: renderCloudInit's user and key, and Node.js 20 from the snap store (Ubuntu's nodejs package is older). */
export function vmCloudInit(opts: { sshPublicKey: string; user: string }): string {
  const base = parse(renderCloudInit({ sshPublicKey: opts.sshPublicKey, user: opts.user, packages: [] })) as Record<
    string,
    unknown
  >;
  delete base.packages;
  delete base.package_update;
  base.runcmd = [
    ["snap", "wait", "system", "seed.loaded"],
    ["snap", "install", "node", "--classic", "--channel=20"],
  ];
  return `#cloud-config\n${new Document(base).toString({ lineWidth: 0 })}`;
}

function checkLocalPath(path: string, where: string): string {
  if (typeof path !== "string" || !/^\/[A-Za-z0-9_.+@/-]*[A-Za-z0-9_.+@-]$/.test(path) || path.split("/").includes("..")) {
    throw new ScriptInputError(`${where}: path ${JSON.stringify(path)} is not valid: use an absolute file path`);
  }
  return path;
}

/** Writes the cloud-init text (0600) for `multipass launch --cloud-init`. */
export function writeCloudInitScript(path: string, text: string): string {
  const file = checkLocalPath(path, "writeCloudInitScript");
  const lines = (text.endsWith("\n") ? text.slice(0, -1) : text).split("\n");
  return script("cloud-init file write", [
    `file=${q(file)}`,
    "umask 077",
    'mkdir -p -- "$(dirname -- "$file")"',
    `printf '%s\\n' ${lines.map(q).join(" ")} > "$file.tmp"`,
    'mv -f -- "$file.tmp" "$file"',
    'echo "c1m-lab: wrote $file"',
  ]);
}

/** Removes the cloud-init file (and its directory when empty); idempotent. */
export function removeCloudInitScript(path: string): string {
  const file = checkLocalPath(path, "removeCloudInitScript");
  return script("cloud-init file remove", [
    `file=${q(file)}`,
    'rm -f -- "$file" "$file.tmp"',
    'rmdir -- "$(dirname -- "$file")" 2>/dev/null || true',
  ]);
}
