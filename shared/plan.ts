// The capacity plan's shape: infra computes it (infra/plan/capacity.ts), the connection test
// (workload/verify) compares its measurement with it. Types and constants only.

/** A port range, both ends included. */
export interface PortRange {
  from: number;
  to: number;
  size: number;
}

/** How the clients get their source IPs (clients.sourceIps.strategy). */
export type SourceIpStrategy = "masquerade" | "host-ips" | "routed" | "both";

/** MASQUERADE picks NAT source ports from 1024–65535 whatever ip_local_port_range says. */
export const MASQUERADE_POOL: PortRange = { from: 1024, to: 65535, size: 64_512 };
/** A Docker container's ip_local_port_range unless it sets the sysctl. */
export const DOCKER_DEFAULT_PORT_RANGE: PortRange = { from: 32768, to: 60999, size: 28_232 };
export type LimitName = "target" | "nat-pool" | "container-port-range" | "conntrack" | "client-fd-limit" | "server-fd-limit";

/** One (client source IP after NAT, server IP, server port): the unit the 4-tuple math counts in. */
export interface PathPlan {
  source: string;
  server: string;
  port: number;
  /** Source ports usable on this path: the NAT pool, or without NAT the sender's port range. */
  capacity: number;
  /** Connections the config sends down this path (after per-container caps). */
  load: number;
  /** Connections expected to succeed: min(load, capacity). */
  expected: number;
  /** `nat` when the NAT pool is the pool; `local` when the container's own range is. */
  kind: "nat" | "local";
  /** The client host whose NAT this path goes through (only with clients.hosts). */
  host?: string;
}

export interface ContainerPlan {
  index: number;
  connections: number;
  /** Client processes it runs: its connections over what one process's fds hold. */
  processes: number;
  /** "ip:port" targets, round-robin. */
  targets: string[];
  /** Which client network (and so which source IP after NAT) it sits on. */
  network: number;
  /** Its source IP as the server sees it (a container IP under `routed`, known only at run time). */
  source: string;
  /** Connections it can establish, after its own port-range cap per destination. */
  expected: number;
  /** The client host it runs on (only with clients.hosts). */
  host?: string;
}

/** One client host's share (clients.hosts): its own NAT, conntrack and containers. */
export interface HostPlan {
  name: string;
  /** "local", or "ssh://user@host:port". */
  docker: string;
  /** Its source IPs as the server sees them (a name when not known before the run). */
  sources: string[];
  containers: number;
  target: number;
  predicted: number;
  ceiling: number;
  bindingLimit: LimitName;
  natPool: PortRange | null;
  /** Its capacity in words: "1 source IP × 1 server IP × 1,000 ports". */
  capacity: string;
}

export interface CapacityPlan {
  strategy: SourceIpStrategy;
  target: number;
  predicted: number;
  /** The most this topology holds if every path were filled. */
  ceiling: number;
  bindingLimit: LimitName;
  /** Connections lost to each limit (only those that cut). */
  losses: Partial<Record<LimitName, number>>;
  serverAddresses: string[];
  serverPort: number;
  serverWorkers: number;
  /** The server's --listen-groups: address i is served by workers w ≡ i (mod groups) only. */
  serverListenGroups: number;
  perWorker: number;
  clientSources: string[];
  natPool: PortRange | null;
  containerPortRange: PortRange;
  paths: PathPlan[];
  containers: ContainerPlan[];
  needs: {
    serverIps: number;
    clientIps: number;
    /** Client processes the fd limit needs (each container runs ContainerPlan.processes of them). */
    clientProcesses: number;
    serverWorkers: number;
    conntrackEntries: number;
    conntrackBuckets: number;
    fileMax: number;
    nrOpen: number;
    serverFdLimit: number;
    containerNofile: number;
    memoryBytes: number;
  };
  warnings: string[];
  /**
   * Warnings that quote this machine's readings of the moment (MemAvailable): shown at plan and
   * `up` time, but kept out of what the connection test gets, or every `up` would rerun it.
   */
  liveWarnings: string[];
  /** Sentence form of the binding limit, for the report and errors. */
  explanation: string;
  /** Per client host (only with clients.hosts). */
  hosts?: HostPlan[];
  /** The host whose limit binds hardest (only with clients.hosts, when a limit cuts). */
  bindingHost?: string;
}
