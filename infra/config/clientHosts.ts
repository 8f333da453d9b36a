// Client hosts (clients.hosts): the ssh URL of a Docker engine, the checks across hosts, and the
// resolved list every other module reads. Without clients.hosts the list is one implicit host,
// this machine's Docker, with the clients settings as they always were. Pure.
import { addressOf, parseCidr, prefixLengthOf } from "../plan/net.js";

export interface SshEndpoint {
  user: string;
  host: string;
  port: number;
}

const SSH_URL = /^ssh:\/\/([a-z_][a-z0-9_-]{0,31})@([A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(\d{1,5}))?$/;

/** "ssh://user@host[:port]" → its parts; null when it is not one (user a Unix name, host a name or IPv4, port 1-65535). */
export function parseSshUrl(url: string): SshEndpoint | null {
  const m = SSH_URL.exec(url);
  if (!m) return null;
  const port = m[4] === undefined ? 22 : Number(m[4]);
  if (port < 1 || port > 65535) return null;
  return { user: m[1]!, host: m[2]!, port };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
export const isIpv4 = (s: string) => IPV4.test(s);

/** The settings a host may override, as the schema gives them (structural: this module never imports the schema). */
export interface HostSettings<SourceIps, Range> {
  containers: number;
  connectionsPerContainer: number;
  sourceIps: SourceIps;
  natPortRange?: Range | undefined;
  subnet: string;
}

interface HostInput<SourceIps, Range> extends Partial<HostSettings<SourceIps, Range>> {
  name: string;
  docker: string;
  hostKey?: string | undefined;
  sshAgent: boolean;
  netns?: { hostAddress: string } | undefined;
}

interface ClientsInput<SourceIps, Range> extends HostSettings<SourceIps, Range> {
  hosts?: HostInput<SourceIps, Range>[] | undefined;
}

/** A host the lab makes on this machine: a namespace with its own dockerd and sshd. */
export interface NetnsHost {
  namespace: string;
  /** This machine's side of the veth, with its address (CIDR). */
  hostInterface: string;
  hostAddress: string;
  /** The namespace's side, with the host's address (CIDR): the ssh URL's host. */
  interface: string;
  address: string;
}

export interface ClientHost<SourceIps = unknown, Range = unknown> extends HostSettings<SourceIps, Range> {
  name: string;
  docker: { kind: "local" } | ({ kind: "ssh" } & SshEndpoint);
  hostKey?: string;
  sshAgent: boolean;
  netns?: NetnsHost;
  /** True when clients.hosts is unset: the one host of every stack before it (its resources keep their names). */
  implicit: boolean;
}

/** The implicit host's name (clients.hosts unset). */
export const LOCAL_HOST = "local";

/** The resolved client hosts: clients.hosts with the clients defaults filled in, or the one implicit local host. */
export function clientHosts<S, R>(clients: ClientsInput<S, R>, stack = "lab"): ClientHost<S, R>[] {
  const defaults: HostSettings<S, R> = {
    containers: clients.containers,
    connectionsPerContainer: clients.connectionsPerContainer,
    sourceIps: clients.sourceIps,
    natPortRange: clients.natPortRange,
    subnet: clients.subnet,
  };
  if (!clients.hosts) return [{ name: LOCAL_HOST, docker: { kind: "local" }, sshAgent: false, implicit: true, ...defaults }];
  return clients.hosts.map((h) => {
    const ssh = h.docker === "local" ? null : parseSshUrl(h.docker);
    const settings: HostSettings<S, R> = {
      containers: h.containers ?? defaults.containers,
      connectionsPerContainer: h.connectionsPerContainer ?? defaults.connectionsPerContainer,
      sourceIps: h.sourceIps ?? defaults.sourceIps,
      natPortRange: h.natPortRange ?? defaults.natPortRange,
      subnet: h.subnet ?? defaults.subnet,
    };
    return {
      name: h.name,
      docker: ssh ? { kind: "ssh" as const, ...ssh } : { kind: "local" as const },
      ...(h.hostKey ? { hostKey: h.hostKey } : {}),
      sshAgent: h.sshAgent,
      ...(h.netns && ssh ? { netns: netnsHost(stack, h.name, h.netns.hostAddress, ssh.host) } : {}),
      implicit: false,
      ...settings,
    };
  });
}

function netnsHost(stack: string, name: string, hostAddress: string, address: string): NetnsHost {
  return {
    // Namespace names allow 32 characters: the stack's own may be long, so it is cut.
    namespace: `c1m-${stack.slice(0, 18)}-${name}`,
    hostInterface: `c1m-${name}-h`,
    hostAddress,
    interface: `c1m-${name}-c`,
    address: `${address}/${prefixLengthOf(hostAddress)}`,
  };
}

export interface HostIssue {
  path: (string | number)[];
  /** The value at path, as given: the error output quotes it before the message. */
  input: unknown;
  /** A predicate about input ("is used twice ..."). */
  message: string;
}

/**
 * What is wrong across clients.hosts: duplicate names, two local hosts, an ssh host without its
 * host key, a lab-made host whose address is not beside its veth, settings an ssh host cannot
 * take yet. Each issue names its path, the value and what would be valid.
 */
export function clientHostIssues<S extends { strategy: string }, R>(
  clients: ClientsInput<S, R>,
  server: { provider: string; hostAddress?: string },
): HostIssue[] {
  const hosts = clients.hosts;
  if (!hosts) return [];
  const issues: HostIssue[] = [];
  const issue = (i: number, key: string, input: unknown, message: string) =>
    issues.push({ path: ["clients", "hosts", i, ...key.split(".")], input, message });
  const seen = new Map<string, number>();
  let local = -1;
  const netnsSubnets = new Map<string, number>();
  if (server.provider === "netns" && server.hostAddress) netnsSubnets.set(subnetKey(server.hostAddress), -1);
  for (const [i, h] of hosts.entries()) {
    if (seen.has(h.name))
      issue(i, "name", h.name, `is used twice (hosts[${seen.get(h.name)}] and hosts[${i}]); give each host its own name`);
    seen.set(h.name, i);
    if (h.docker === "local") {
      if (local >= 0)
        issue(
          i,
          "docker",
          h.docker,
          `is hosts[${local}]'s too: one client host per Docker engine (raise its containers instead)`,
        );
      local = i;
      for (const key of ["hostKey", "netns"] as const) {
        if (h[key] !== undefined) issue(i, key, h[key], `is for a host reached over ssh, and host ${h.name} is local; remove it`);
      }
      continue;
    }
    const ssh = parseSshUrl(h.docker);
    if (!ssh) continue; // the schema has already said why
    const strategy = (h.sourceIps ?? clients.sourceIps).strategy;
    if (strategy !== "masquerade") {
      issue(
        i,
        "sourceIps.strategy",
        strategy,
        `is not supported on host ${h.name} (reached over ssh) yet: its clients use masquerade (the host's own address)`,
      );
    }
    if (!h.netns) {
      if (h.hostKey === undefined) {
        issue(
          i,
          "docker",
          h.docker,
          `needs hostKey beside it (ssh then talks to that host and no other): the key \`ssh-keyscan -t ed25519 ${ssh.host}\` prints after the host name`,
        );
      }
      continue;
    }
    const made = `host ${h.name} is made by the lab (netns)`;
    if (h.hostKey !== undefined)
      issue(i, "hostKey", h.hostKey, `is not for ${made}: its host key is made with it; remove hostKey`);
    if (ssh.user !== "root")
      issue(
        i,
        "docker",
        h.docker,
        `has user ${ssh.user}: ${made} and its sshd lets in root only; use ssh://root@${ssh.host}:${ssh.port}`,
      );
    if (!isIpv4(ssh.host)) {
      issue(
        i,
        "docker",
        h.docker,
        `has host ${ssh.host}: ${made}, so its host is the namespace's IPv4 address, in the subnet of netns.hostAddress ${h.netns.hostAddress}`,
      );
      continue;
    }
    const side = parseCidr(h.netns.hostAddress);
    if (parseCidr(`${ssh.host}/${side.prefix}`).network !== side.network) {
      issue(
        i,
        "docker",
        h.docker,
        `has host ${ssh.host}, outside the subnet of netns.hostAddress ${h.netns.hostAddress}; use an address in that subnet`,
      );
    } else if (ssh.host === side.address) {
      issue(
        i,
        "docker",
        h.docker,
        `has host ${ssh.host}, netns.hostAddress itself (this machine's side); pick another address in ${subnetKey(h.netns.hostAddress)}`,
      );
    }
    const key = subnetKey(h.netns.hostAddress);
    const other = netnsSubnets.get(key);
    if (other !== undefined) {
      const whose = other < 0 ? "the server's veth subnet (server.hostAddress)" : `host ${hosts[other]!.name}'s subnet`;
      issue(i, "netns.hostAddress", h.netns.hostAddress, `is in ${key}, already ${whose}; give each namespace its own subnet`);
    }
    netnsSubnets.set(key, i);
  }
  return issues;
}

const subnetKey = (cidr: string) => {
  const p = parseCidr(cidr);
  return `${p.network}/${p.prefix}`;
};

/** The host's source address as the server sees it after its NAT: its own address when known, else its name. */
export function hostSource(host: ClientHost, localSource: string): string {
  if (host.docker.kind === "local") return localSource;
  if (host.netns) return addressOf(host.netns.address);
  return isIpv4(host.docker.host) ? host.docker.host : `host ${host.name}`;
}
