// One poll of a lab with several client hosts: the server's /stats, and on each host its client
// containers (its Docker API: this machine's socket, or over ssh) and its conntrack. The
// observation's `clients` is every host's containers (each tagged with its host) only when every
// host answered: a partial view would make a lost host look like half-open connections. The
// readers never throw; a host that does not answer is an error string naming it.
import { readFileSync } from "node:fs";
import { dockerClient, observeClients } from "./dockerClients.js";
import { fetchStats, readLocalConntrack, statsUrl, type ConntrackResult } from "./observe.js";
import { serverPerHost, type ClientHostTarget, type HostShare, type HostView } from "./hosts.js";
import { openSshHost } from "./sshHost.js";
import type { SshAuth } from "./sshTunnel.js";
import { signalHosts } from "./findLimit/signal.js";
import type { ClientObservation, Observation } from "./types.js";
import type Docker from "dockerode";

export interface HostsObserverOptions {
  metricsUrl: string;
  clientsLabel: string;
  hosts: ClientHostTarget[];
  shares: HostShare[];
  /** Read this machine's conntrack for the local host. */
  conntrack: "local" | "none";
  /** The ssh-agent for hosts without an identity file. */
  agent?: string;
  fetchTimeoutMs?: number;
  dockerTimeoutMs?: number;
  /** Reads a login key (default: the file). */
  readKey?: (file: string) => string;
}

interface HostReader {
  name: string;
  /** Why this host cannot be read at all (its login key is unreadable). */
  broken?: string;
  docker: Docker;
  conntrack: () => Promise<ConntrackResult | null>;
  close: () => void;
}

function reader(h: ClientHostTarget, o: HostsObserverOptions): HostReader {
  if (h.docker === "local") {
    return {
      name: h.name,
      docker: dockerClient(o.dockerTimeoutMs),
      conntrack: () => (o.conntrack === "local" ? readLocalConntrack() : Promise.resolve(null)),
      close: () => undefined,
    };
  }
  let auth: SshAuth = o.agent ? { agent: o.agent } : {};
  if ("identityFile" in h && h.identityFile) {
    try {
      auth = { privateKey: (o.readKey ?? ((f) => readFileSync(f, "utf8")))(h.identityFile) };
    } catch (err) {
      const why = `cannot read its login key ${h.identityFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      return {
        name: h.name,
        broken: why,
        docker: dockerClient(),
        conntrack: () => Promise.resolve(null),
        close: () => undefined,
      };
    }
  }
  const ssh = openSshHost(h.docker, auth, o.dockerTimeoutMs !== undefined ? { timeoutMs: o.dockerTimeoutMs } : {});
  return { name: h.name, docker: ssh.docker, conntrack: () => ssh.conntrack(), close: ssh.close };
}

export interface HostsObserver {
  poll: () => Promise<Omit<Observation, "t">>;
  /** find-limit's next step: the step signal to every host's client containers, over the same Docker connections. */
  nextStep: () => Promise<string | null>;
  close: () => void;
}

/** Opens no connection yet (the first poll does); a host whose login key cannot be read fails each poll, named. */
export function createHostsObserver(o: HostsObserverOptions): HostsObserver {
  const url = statsUrl(o.metricsUrl);
  const readers = o.hosts.map((h) => reader(h, o));
  const look = async (r: HostReader) => {
    if (r.broken) return { r, clients: { ok: false as const, error: r.broken }, ct: null };
    const [clients, ct] = await Promise.all([observeClients(o.clientsLabel, { docker: r.docker }), r.conntrack()]);
    return { r, clients, ct };
  };
  const poll = async (): Promise<Omit<Observation, "t">> => {
    const [stats, looks] = await Promise.all([fetchStats(url, o.fetchTimeoutMs), Promise.all(readers.map(look))]);
    const server = stats.ok ? stats.stats : null;
    const perHost = serverPerHost(server, o.shares);
    const hosts: HostView[] = looks.map(({ r, clients, ct }) => ({
      name: r.name,
      server: perHost[r.name] ?? null,
      clients: clients.ok
        ? {
            running: clients.clients.filter((c) => c.state === "running").length,
            count: clients.clients.length,
            established: clients.clients.reduce((s, c) => s + (c.status?.established ?? 0), 0),
          }
        : null,
      error: clients.ok ? null : `client host ${r.name}: ${clients.error}`,
      conntrack: ct?.ok ? ct.reading : null,
      conntrackError: ct && !ct.ok ? ct.error : null,
    }));
    const failed = hosts.filter((h) => h.error !== null);
    const all: ClientObservation[] = looks.flatMap(({ r, clients }) =>
      clients.ok ? clients.clients.map((c) => ({ ...c, host: r.name })) : [],
    );
    const local = looks.find(({ r }) => o.hosts.find((h) => h.name === r.name)?.docker === "local")?.ct ?? null;
    return {
      server,
      serverError: stats.ok ? null : stats.error,
      clients: failed.length === 0 ? all : null,
      clientsError: failed.length === 0 ? null : failed.map((h) => h.error).join("; "),
      conntrack: local?.ok ? local.reading : null,
      conntrackError: local && !local.ok ? local.error : null,
      hosts,
    };
  };
  return {
    poll,
    nextStep: () => signalHosts(o.clientsLabel, readers),
    close: () => readers.forEach((r) => r.close()),
  };
}
