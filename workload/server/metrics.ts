// Prometheus exposition of ServerStats (primary only: workers never load prom-client).
import { Counter, Gauge, Registry } from "prom-client";
import type { ServerStats } from "../../shared/protocol.js";

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly connections = new Gauge({
    name: "c1m_connections",
    help: "Live connections per local address",
    labelNames: ["local_address"],
    registers: [this.registry],
  });
  private readonly byRemoteIp = new Gauge({
    name: "c1m_connections_by_remote_ip",
    help: "Live connections per remote IP (after NAT: the client host)",
    labelNames: ["remote_ip"],
    registers: [this.registry],
  });
  private readonly sharedPorts = new Gauge({
    name: "c1m_shared_source_ports",
    help: "Source ports of a remote IP in use toward two or more local addresses at once",
    labelNames: ["remote_ip"],
    registers: [this.registry],
  });
  private readonly total = new Gauge({
    name: "c1m_live_connections",
    help: "Live connections, all addresses",
    registers: [this.registry],
  });
  private readonly accepted = new Counter({
    name: "c1m_accepted_total",
    help: "Connections accepted since start",
    registers: [this.registry],
  });
  private readonly closed = new Counter({
    name: "c1m_closed_total",
    help: "Connections closed since start (by peer, reset or error)",
    registers: [this.registry],
  });
  private readonly acceptRate = new Gauge({
    name: "c1m_accept_rate",
    help: "Accepts per second over the last few seconds",
    registers: [this.registry],
  });
  private readonly workers = new Gauge({
    name: "c1m_workers",
    help: "Worker processes",
    registers: [this.registry],
  });
  private readonly capacity = new Gauge({
    name: "c1m_worker_capacity",
    help: "Connections one worker can hold (open-file soft limit minus a reserve)",
    registers: [this.registry],
  });
  private lastAccepted = 0;
  private lastClosed = 0;

  constructor(capacityPerWorker: number) {
    this.capacity.set(capacityPerWorker);
  }

  update(stats: ServerStats): void {
    // Label sets come and go with clients: rebuild them so vanished ones disappear.
    this.connections.reset();
    for (const [local, n] of Object.entries(stats.perLocalAddress)) this.connections.set({ local_address: local }, n);
    this.byRemoteIp.reset();
    for (const [ip, n] of Object.entries(stats.perRemoteIp)) this.byRemoteIp.set({ remote_ip: ip }, n);
    this.sharedPorts.reset();
    for (const [ip, s] of Object.entries(stats.sharedSourcePorts)) this.sharedPorts.set({ remote_ip: ip }, s.count);
    this.total.set(stats.total);
    // Counters only go up; the sums already are monotonic (exited workers stay counted).
    if (stats.accepted > this.lastAccepted) this.accepted.inc(stats.accepted - this.lastAccepted);
    if (stats.closed > this.lastClosed) this.closed.inc(stats.closed - this.lastClosed);
    this.lastAccepted = Math.max(this.lastAccepted, stats.accepted);
    this.lastClosed = Math.max(this.lastClosed, stats.closed);
    this.acceptRate.set(stats.acceptRate);
    this.workers.set(stats.workers);
  }
}
