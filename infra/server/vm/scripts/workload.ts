// Installing the uploaded server workload into /opt/c1m-lab on a VM. Pure: returns a bash script.
import { FAIL, ScriptInputError, q, script } from "../../../shell.js";
import { REMOTE } from "./checks.js";
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
