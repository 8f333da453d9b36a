// Installs the connection server on a VM: the one-file bundle (../bundle.ts) that CopyToRemote
// staged in the ssh user's home goes into the workdir (/opt/c1m-lab), root-owned, next to a
// `bin/node` wrapper around the host's Node.js ≥ 20. Pure: returns a bash script; every
// interpolated value goes through `q`.
import { FAIL, ScriptInputError, q, script } from "../../../shell.js";
import { SERVER_BUNDLE_FILE } from "../../../install/bundle.js";
import { REMOTE } from "./checks.js";

export interface InstallWorkloadOptions {
  /** Where CopyToRemote put the bundle (relative to the ssh user's home, or absolute). */
  stagedPath: string;
  /** Its sha256: a partial upload fails here, not as a broken server. */
  sha256: string;
  /** Default /opt/c1m-lab; its last component must contain "c1m" (the destroy step deletes it). */
  workdir: string;
}

/** The installed server, the systemd unit's entry: `<workdir>/c1m-server.mjs`. */
export function installedServerPath(workdir: string): string {
  return `${workdir}/${SERVER_BUNDLE_FILE}`;
}

/**
 * Installs the staged bundle as `workdir/c1m-server.mjs` (root-owned, 0644) and writes
 * `workdir/bin/node`, a wrapper around the host's Node.js ≥ 20 (the server unit's ExecStart needs
 * a fixed path; Node may live in /snap/bin, /usr/local/bin or /usr/bin). The workdir is built
 * next to the old one and swapped in as a whole; on failure the previous install stays.
 */
export function installWorkloadScript(opts: InstallWorkloadOptions): string {
  const where = "installWorkloadScript";
  if (typeof opts.stagedPath !== "string" || opts.stagedPath === "" || /[\0\n\r]/.test(opts.stagedPath)) {
    throw new ScriptInputError(`${where}: stagedPath ${JSON.stringify(opts.stagedPath)} is not valid: use a file path`);
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
    `staged=${q(opts.stagedPath)}`,
    `want=${q(opts.sha256)}`,
    `workdir=${q(opts.workdir)}`,
    `file=${q(SERVER_BUNDLE_FILE)}`,
    '[ -f "$staged" ] || fail "the staged server $staged is missing: upload it first"',
    "got=$(sha256sum -- \"$staged\" | cut -d' ' -f1)",
    '[ "$got" = "$want" ] || fail "the staged server $staged has sha256 $got, expected $want (incomplete upload?)"',
    // Node.js ≥ 20: the first that qualifies of PATH's, the snap's, /usr/local's, the distribution's.
    "node=",
    'for c in "$(command -v node 2>/dev/null || true)" /snap/bin/node /usr/local/bin/node /usr/bin/node; do',
    '  [ -n "$c" ] && [ -x "$c" ] || continue',
    `  if "$c" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' >/dev/null 2>&1; then node=$c; break; fi`,
    "done",
    '[ -n "$node" ] || fail "Node.js 20 or newer was not found on $(hostname) (looked in PATH, /snap/bin, /usr/local/bin, /usr/bin): install it, e.g. sudo snap install node --classic --channel=20"',
    'case "$node" in /*) ;; *) node="$(pwd)/$node" ;; esac',
    // A snap's /snap/bin/node starts through snap-confine, which needs privileges the server's
    // hardened unit (an unprivileged user, NoNewPrivileges) does not have: run the snap's own
    // binary, by its /snap/<name>/current path (a refresh moves the revision, not that link).
    `real=$("$node" -e 'process.stdout.write(process.execPath)')`,
    'case "$real" in',
    "  /snap/*/*/*)",
    '    rest=${real#/snap/}; name=${rest%%/*}; rest=${rest#*/}; cur="/snap/$name/current/${rest#*/}"',
    '    if "$cur" --version >/dev/null 2>&1; then node=$cur; fi ;;',
    "esac",
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
    'as_root install -o root -g root -m 0644 -- "$staged" "$new/$file"',
    // The copy is what runs: check it too (a file changed between the check and the copy).
    "got=$(as_root sha256sum -- \"$new/$file\" | cut -d' ' -f1)",
    '[ "$got" = "$want" ] || fail "the installed copy of $staged has sha256 $got, expected $want"',
    'as_root mkdir -p -- "$new/bin"',
    `printf '#!/bin/sh\\nexec %s "$@"\\n' "$node" | as_root tee -- "$new/bin/node" >/dev/null`,
    'as_root chown -R root:root -- "$new"',
    'as_root chmod 0755 -- "$new" "$new/bin" "$new/bin/node"',
    'if as_root test -e "$workdir"; then as_root rm -rf -- "$workdir.c1m-old"; as_root mv -- "$workdir" "$workdir.c1m-old"; fi',
    'as_root mv -- "$new" "$workdir"',
    "new=",
    'as_root rm -rf -- "$workdir.c1m-old"',
    'echo "c1m-lab: server installed as $workdir/$file (node $version at $node)"',
  ]);
}
