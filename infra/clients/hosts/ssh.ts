// How this machine reaches a client host over ssh, as plain data and scripts: the ssh options
// (pinned host key, the login key's file or the agent), the step that makes the local access
// directory and waits until ssh lets us in, and a `docker` that runs on the host (for the base
// image, which is made from this machine's node and piped there). Pure.
import { FAIL, cmd, q, script } from "../../shell.js";
import { sshKnownHostsName } from "../netnsHost/scripts.js";

export interface SshAccess {
  /** Host name, for messages. */
  name: string;
  user: string;
  host: string;
  port: number;
  /** known_hosts holding the host's key alone. */
  knownHosts: string;
  /** The login key's file; unset: the ssh-agent at SSH_AUTH_SOCK. */
  identityFile?: string;
}

/** ssh's options for this host: strict host key checking against its known_hosts, no prompts. */
export function sshOptions(a: SshAccess): string[] {
  return [
    ...(a.identityFile ? ["-i", a.identityFile, "-o", "IdentitiesOnly=yes"] : []),
    "-o",
    `UserKnownHostsFile=${a.knownHosts}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=10",
    "-p",
    String(a.port),
  ];
}

export const dockerUrl = (a: Pick<SshAccess, "user" | "host" | "port">) => `ssh://${a.user}@${a.host}:${a.port}`;

/** The environment variable the access step reads a secret login key from (never on a command line). */
export const KEY_ENV = "C1M_CLIENT_HOST_KEY";

/**
 * Makes the access directory (root-only): known_hosts with the pinned key, the login key from
 * KEY_ENV when given; then waits up to `waitSeconds` for ssh and a working `docker version` there,
 * failing with the host's name.
 */
export function sshAccessCreateScript(a: SshAccess & { dir: string; hostKey: string; waitSeconds: number }): string {
  return script(`client host ${a.name}: ssh access`, [
    ...FAIL,
    `umask 077; mkdir -p ${q(a.dir)}`,
    // A failed create is in no state: its directory (and the key in it) goes with it.
    `trap 'rc=$?; [ "$rc" = 0 ] || rm -rf ${q(a.dir).replace(/'/g, `'\\''`)}' EXIT`,
    `printf '%s %s\\n' ${q(sshKnownHostsName(a.host, a.port))} ${q(a.hostKey)} > ${q(a.knownHosts)}`,
    ...(a.identityFile ? [`if [ -n "\${${KEY_ENV}:-}" ]; then printf '%s\\n' "$${KEY_ENV}" > ${q(a.identityFile)}; fi`] : []),
    `for i in $(seq 1 ${Math.max(1, Math.ceil(a.waitSeconds / 2))}); do`,
    `  if out=$(ssh ${cmd(...sshOptions(a))} ${q(`${a.user}@${a.host}`)} docker version --format '{{.Server.Version}}' 2>&1); then exit 0; fi`,
    `  case "$out" in *"Host key verification failed"*|*"HOST IDENTIFICATION HAS CHANGED"*) fail ${q(`client host ${a.name} (${dockerUrl(a)}) presents another host key than the one pinned`)};; esac`,
    `  sleep 2`,
    `done`,
    `fail ${q(`client host ${a.name} (${dockerUrl(a)}) is unreachable: no ssh with a working docker within ${a.waitSeconds} s`)}": $(printf '%s' "$out" | tail -n 2)"`,
  ]);
}

export function sshAccessDeleteScript(dir: string): string {
  return script("client host ssh access remove", [`rm -rf ${q(dir)}`]);
}

/**
 * Runs `inner` (a script of ours calling `docker`) with `docker` running on the host: an exported
 * function, each argument quoted for the remote shell.
 */
export function withRemoteDocker(a: SshAccess, inner: string): string {
  return script(`client host ${a.name}: docker over ssh`, [
    `docker() { ssh ${cmd(...sshOptions(a))} ${q(`${a.user}@${a.host}`)} "docker $(printf '%q ' "$@")"; }`,
    "export -f docker",
    `bash -c ${q(inner)}`,
  ]);
}
