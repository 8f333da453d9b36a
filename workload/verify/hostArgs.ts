// verify's client-host flags → the hosts to observe (validated; UsageError names the flag):
//   --client-host NAME=local | NAME=ssh://USER@HOST[:PORT]   (repeated, one per host)
//   --client-host-key NAME=TYPE BASE64                        (each ssh host: its pinned host key)
//   --client-host-identity NAME=FILE                          (an ssh host's login key file; else the agent)
// Only file names and public keys pass on the command line; a login key never does.
import { UsageError } from "../cliArgs.js";
import type { ClientHostTarget } from "./hosts.js";
import type { SshTarget } from "./sshTunnel.js";

const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

export const CLIENT_HOST_OPTIONS = {
  "client-host": { type: "string", multiple: true },
  "client-host-key": { type: "string", multiple: true },
  "client-host-identity": { type: "string", multiple: true },
} as const;

export const CLIENT_HOST_USAGE = `  --client-host NAME=local|NAME=ssh://USER@HOST[:PORT]
                           a client host to observe (repeat per host): its containers with
                           --clients-label through its Docker API, and its conntrack (local:
                           with --conntrack local; ssh: that host's own, over ssh). Per-host
                           totals come from the server's per-client-IP counts (the plan's hosts)
  --client-host-key NAME=KEY
                           an ssh host's public host key, 'ssh-ed25519 AAAA...' (required for each)
  --client-host-identity NAME=FILE
                           an ssh host's login key file (else the ssh-agent at $SSH_AUTH_SOCK)
`;

/** "NAME=VALUE" → [name, value], the name checked. */
function pair(flag: string, raw: string): [string, string] {
  const i = raw.indexOf("=");
  const name = i > 0 ? raw.slice(0, i) : "";
  if (!NAME.test(name)) throw new UsageError(`--${flag}: expected NAME=VALUE with a host name like b or rack-2, got "${raw}"`);
  return [name, raw.slice(i + 1)];
}

function byName(flag: string, raws: string[] | undefined, names: Set<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of raws ?? []) {
    const [name, value] = pair(flag, raw);
    if (!names.has(name)) throw new UsageError(`--${flag}: no --client-host named ${name}`);
    if (out.has(name)) throw new UsageError(`--${flag}: host ${name} given twice`);
    out.set(name, value);
  }
  return out;
}

/** "user@host[:port]" and its pinned key → the ssh target (the URL's user a Unix name, host a name or address). */
function sshTarget(name: string, where: string, hostKey: string): SshTarget {
  const m = /^([a-z_][a-z0-9_-]{0,31})@([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(\d{1,5}))?$/.exec(where);
  const port = m?.[3] === undefined ? 22 : Number(m[3]);
  if (!m || port < 1 || port > 65535) {
    throw new UsageError(
      `--client-host: host ${name}: expected ssh://USER@HOST[:PORT] like ssh://root@10.203.9.2:22, got "ssh://${where}"`,
    );
  }
  if (!/^[a-z0-9@.-]{1,64} [A-Za-z0-9+/]+={0,2}$/.test(hostKey)) {
    throw new UsageError(
      `--client-host-key: host ${name}: expected a public key like 'ssh-ed25519 AAAA...' (type and key, no comment), got "${hostKey}"`,
    );
  }
  return { user: m[1]!, host: m[2]!, port, hostKey };
}

export function parseClientHosts(values: {
  "client-host"?: string[] | undefined;
  "client-host-key"?: string[] | undefined;
  "client-host-identity"?: string[] | undefined;
}): ClientHostTarget[] {
  const hosts = values["client-host"] ?? [];
  const docker = new Map<string, string>();
  for (const raw of hosts) {
    const [name, value] = pair("client-host", raw);
    if (docker.has(name)) throw new UsageError(`--client-host: host ${name} given twice`);
    docker.set(name, value);
  }
  const names = new Set(docker.keys());
  const keys = byName("client-host-key", values["client-host-key"], names);
  const identities = byName("client-host-identity", values["client-host-identity"], names);
  return [...docker].map(([name, value]): ClientHostTarget => {
    if (value === "local") {
      if (keys.has(name) || identities.has(name)) {
        throw new UsageError(`--client-host-key/--client-host-identity: host ${name} is local; they are for ssh hosts`);
      }
      return { name, docker: "local" };
    }
    const m = /^ssh:\/\/(.+)$/.exec(value);
    if (!m) throw new UsageError(`--client-host: host ${name}: expected local or ssh://USER@HOST[:PORT], got "${value}"`);
    const key = keys.get(name);
    if (key === undefined) throw new UsageError(`--client-host-key: required for host ${name} (reached over ssh)`);
    const target = sshTarget(name, m[1]!, key);
    const identity = identities.get(name);
    if (identity === "") throw new UsageError(`--client-host-identity: host ${name}: expected a file path`);
    return { name, docker: target, ...(identity ? { identityFile: identity } : {}) };
  });
}
