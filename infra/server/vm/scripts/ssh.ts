// How the lab reaches a server VM: the local wait until ssh lets us in, the `timeout … bash -c`
// wrapper every remote step runs in, and the staging directory in the ssh user's home (where
// remote.CopyToRemote uploads, since it cannot write /etc or /opt as a non-root user). Pure.
import { FAIL, ScriptInputError, q, script } from "../../../shell.js";
import { checkHost, checkInt, checkPath, checkUser } from "./checks.js";
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

export interface WaitForSshOptions {
  host: string;
  port: number;
  user: string;
  timeoutSeconds: number;
  /** Path of the private key file. */
  keyPath?: string;
  /** Name of an environment variable holding the private key text (written to a 0600 temp file, never printed). */
  keyEnv?: string;
  /** Expected host key ("ssh-ed25519 AAAA..."); unset = accept whatever the host presents (the tests' own VMs only). */
  hostKey?: string;
}

/**
 * Polls `ssh ... true` until the host accepts the key, or fails after timeoutSeconds with ssh's
 * last error. With `hostKey`, a host that presents another key fails at once (never retried).
 */
export function waitForSshScript(opts: WaitForSshOptions): string {
  const where = "waitForSshScript";
  const host = checkHost(opts.host, "host", where);
  const port = checkInt(opts.port, "port", where, 1, 65535);
  const user = checkUser(opts.user, where);
  const timeout = checkInt(opts.timeoutSeconds, "timeoutSeconds", where, 1, 86_400);
  if (opts.keyPath !== undefined) checkPath(opts.keyPath, "keyPath", where);
  if (opts.keyEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(opts.keyEnv)) {
    throw new ScriptInputError(
      `${where}: keyEnv ${JSON.stringify(opts.keyEnv)} is not valid: use an environment variable name like C1M_SSH_KEY`,
    );
  }
  if (opts.hostKey !== undefined && !/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+$/.test(opts.hostKey)) {
    throw new ScriptInputError(
      `${where}: hostKey ${JSON.stringify(opts.hostKey)} is not valid: use a host key like 'ssh-ed25519 AAAA...'`,
    );
  }
  const body = [
    ...FAIL,
    `host=${q(host)}`,
    `port=${q(port)}`,
    `user=${q(user)}`,
    "tmpd=$(mktemp -d)",
    "trap 'rm -rf -- \"$tmpd\"' EXIT",
    'opts=(-o BatchMode=yes -o ConnectTimeout=5 -o ServerAliveInterval=5 -o ServerAliveCountMax=1 -o LogLevel=ERROR -p "$port")',
  ];
  if (opts.keyPath !== undefined) {
    body.push(
      `keyfile=${q(opts.keyPath)}`,
      '[ -r "$keyfile" ] || fail "the ssh key file $keyfile is not readable"',
      'opts+=(-i "$keyfile" -o IdentitiesOnly=yes)',
    );
  }
  if (opts.keyEnv !== undefined) {
    body.push(
      `keyenv=${q(opts.keyEnv)}`,
      '[ -n "${!keyenv:-}" ] || fail "environment variable $keyenv (the ssh private key) is empty or unset"',
      `(umask 077; printf '%s\\n' "\${!keyenv}" > "$tmpd/key")`,
      'opts+=(-i "$tmpd/key" -o IdentitiesOnly=yes)',
    );
  }
  if (opts.hostKey !== undefined) {
    body.push(
      `hostkey=${q(opts.hostKey)}`,
      `if [ "$port" = 22 ]; then printf '%s %s\\n' "$host" "$hostkey"; else printf '[%s]:%s %s\\n' "$host" "$port" "$hostkey"; fi > "$tmpd/known_hosts"`,
      'opts+=(-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$tmpd/known_hosts")',
    );
  } else {
    body.push("opts+=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null)");
  }
  body.push(
    `deadline=$((SECONDS + ${timeout}))`,
    "attempt=0",
    "while :; do",
    "  attempt=$((attempt + 1))",
    '  left=$((deadline - SECONDS)); [ "$left" -lt 5 ] && left=5; [ "$left" -gt 20 ] && left=20',
    '  if err=$(timeout "$left" ssh "${opts[@]}" -- "$user@$host" true 2>&1 </dev/null); then',
    '    echo "c1m-lab: ssh $user@$host:$port is up (attempt $attempt, ${SECONDS}s)"',
    "    exit 0",
    "  fi",
    ...(opts.hostKey !== undefined
      ? [
          '  case "$err" in',
          '    *"Host key verification failed"*|*"no matching host key type"*)',
          `      fail "ssh $user@$host:$port does not present the pinned host key $hostkey: refused, not retried (another machine at that address, or the host's key changed); ssh said: $(printf '%s' "$err" | tr -d '\\r' | tail -n 3 | tr '\\n' ' ')" ;;`,
          "  esac",
        ]
      : []),
    '  if [ "$SECONDS" -ge "$deadline" ]; then',
    `    fail "ssh $user@$host:$port did not let us in within ${timeout}s ($attempt attempts); last error: $(printf '%s' "$err" | tr -d '\\r' | tail -n 3 | tr '\\n' ' ')"`,
    "  fi",
    "  sleep 2",
    "done",
  );
  return script("wait for ssh", body);
}
