// The server's primary process: forks workers that share the listening sockets, sums their
// counters, serves /stats, /metrics and /healthz, and stops everything on SIGTERM/SIGINT.
import cluster, { type Worker } from "node:cluster";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { formatHostPort } from "../cliArgs.js";
import { FD_RESERVE, readOpenFilesLimit, usableSockets } from "../limits.js";
import { readKernelStats } from "./kernelStats.js";
import { workerCapacity } from "./testCapacity.js";
import { aggregateStats, RateWindow, type ServerStatsExtended } from "./aggregate.js";
import { capacityProblem, type ServerConfig } from "./config.js";
import {
  cpuSecondsOfThisProcess,
  isWorkerMessage,
  WORKER_CONFIG_ENV,
  workerConfigOf,
  type GroupReport,
  type PrimaryMessage,
  type WorkerCounters,
  type WorkerHealth,
} from "./ipc.js";
import { ServerMetrics } from "./metrics.js";

/**
 * V8 flags for workers. A 1 MiB semi-space keeps the young generation (and the RSS it pins)
 * small; idle sockets are old-generation objects anyway, so scavenges stay cheap. --expose-gc
 * lets a worker compact its heap once a ramp is over (see compactWhenQuiet in worker.ts).
 */
export const WORKER_EXEC_ARGV = ["--max-semi-space-size=1", "--expose-gc", "--compact-on-every-full-gc"];

const REPORT_TIMEOUT_MS = 2000;
const SHUTDOWN_GRACE_MS = 2000;

interface WorkerState {
  worker: Worker;
  listening: boolean;
  counters: WorkerCounters;
  health: WorkerHealth;
  /** Its listener group (a replacement takes the same one). */
  group: number;
}

type Report = WorkerCounters & { groups: GroupReport[] };

/** The health fields of a worker message (older workers send none: keep what we had). */
function healthOf(msg: Partial<WorkerHealth>, prev: WorkerHealth): WorkerHealth {
  return {
    acceptErrors: msg.acceptErrors ?? prev.acceptErrors,
    paused: msg.paused ?? prev.paused,
    pauses: msg.pauses ?? prev.pauses,
    ...(msg.cpuSeconds !== undefined || prev.cpuSeconds !== undefined ? { cpuSeconds: msg.cpuSeconds ?? prev.cpuSeconds } : {}),
  };
}

export class ServerPrimary {
  private readonly workers = new Map<number, WorkerState>();
  private readonly retired = { accepted: 0, closed: 0 };
  private readonly rate = new RateWindow(5000);
  private readonly pending = new Map<number, { want: Set<number>; got: Map<number, Report>; done: () => void }>();
  private nextReportId = 1;
  private listening: string[] = [];
  private metricsServer?: http.Server;
  private metrics: ServerMetrics;
  private readonly started = Date.now();
  private shuttingDown = false;
  private respawns: number[] = [];
  private readonly capacity: number;
  private readonly fdSoftLimit: number;

  constructor(private readonly config: ServerConfig) {
    const limit = readOpenFilesLimit();
    this.fdSoftLimit = limit.soft;
    this.capacity = workerCapacity(usableSockets(limit, FD_RESERVE));
    this.metrics = new ServerMetrics(this.capacity);
  }

  /** Why this config cannot run here, or undefined. */
  problem(): string | undefined {
    // The fd limit's capacity: the test hook's lower one is a limit the lab means to meet.
    return capacityProblem(this.config, usableSockets(readOpenFilesLimit(), FD_RESERVE), this.fdSoftLimit);
  }

  async start(): Promise<void> {
    cluster.schedulingPolicy = cluster.SCHED_NONE; // share listeners; the kernel spreads accepts
    // No `exec`: workers run this process's own entry file (process.argv[1], dist/workload/server.js
    // or the VM's one-file bundle), which runs the worker code when it is not the primary.
    cluster.setupPrimary({
      execArgv: [...process.execArgv, ...WORKER_EXEC_ARGV],
      serialization: "advanced",
    });
    process.on("SIGTERM", () => this.shutdown("SIGTERM"));
    process.on("SIGINT", () => this.shutdown("SIGINT"));

    const first = await Promise.all(
      Array.from({ length: this.config.workers }, (_, w) => this.fork(w % this.config.listenGroups)),
    );
    // Every address, in --addresses order (each group listens on its own share).
    const all = new Set(first.flat());
    this.listening = [...all].sort((a, b) => this.addressRank(a) - this.addressRank(b));
    setInterval(() => this.rate.add(Date.now(), this.liveCounters().accepted), 1000).unref();

    this.metricsServer = http.createServer((req, res) => void this.serveHttp(req, res));
    await new Promise<void>((resolve, reject) => {
      this.metricsServer!.once("error", reject);
      this.metricsServer!.listen(this.config.metricsPort, this.config.metricsAddress, () => resolve());
    });
    const m = this.metricsServer.address() as AddressInfo;
    const line = {
      type: "listening",
      pid: process.pid,
      workerPids: [...this.workers.values()].map((w) => w.worker.process.pid),
      addresses: this.listening,
      metrics: formatHostPort(m.address, m.port),
      workers: this.config.workers,
      capacityPerWorker: this.capacity,
      fdSoftLimit: this.fdSoftLimit,
    };
    process.stdout.write(JSON.stringify(line) + "\n");
  }

  private addressRank(hostPort: string): number {
    const i = this.config.addresses.findIndex((a) => hostPort.startsWith(a.includes(":") ? `[${a}]:` : `${a}:`));
    return i < 0 ? this.config.addresses.length : i;
  }

  /** Forks a worker of listener group `group`; resolves with its listening addresses, rejects if it fails to listen. */
  private fork(group = 0): Promise<string[]> {
    const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(workerConfigOf(this.config, group)) });
    const state: WorkerState = {
      group,
      worker,
      listening: false,
      counters: { accepted: 0, closed: 0, total: 0 },
      health: { acceptErrors: 0, paused: false, pauses: 0 },
    };
    this.workers.set(worker.id, state);
    // A send to a worker that just died reports here; its 'exit' handler does the accounting.
    worker.on("error", (err: Error) => process.stderr.write(`c1m-server: worker ${worker.process.pid}: ${err.message}\n`));
    return new Promise((resolve, reject) => {
      worker.on("message", (msg: unknown) => {
        if (!isWorkerMessage(msg)) return;
        switch (msg.c1m) {
          case "listening":
            state.listening = true;
            resolve(msg.addresses);
            break;
          case "fatal":
            reject(new Error(msg.message));
            break;
          case "counters":
            state.counters = { accepted: msg.accepted, closed: msg.closed, total: msg.total };
            state.health = healthOf(msg, state.health);
            break;
          case "report": {
            state.counters = { accepted: msg.accepted, closed: msg.closed, total: msg.total };
            state.health = healthOf(msg, state.health);
            const p = this.pending.get(msg.id);
            if (p) {
              p.got.set(worker.id, msg);
              if (p.got.size >= p.want.size) p.done();
            }
            break;
          }
        }
      });
      worker.on("exit", (code, signal) => {
        this.workers.delete(worker.id);
        // Its connections died with it: they count as closed.
        this.retired.accepted += state.counters.accepted;
        this.retired.closed += state.counters.closed + state.counters.total;
        for (const p of this.pending.values()) {
          p.want.delete(worker.id);
          if (p.got.size >= p.want.size) p.done();
        }
        if (!state.listening) {
          reject(new Error(`worker ${worker.process.pid} exited before listening (code ${code}, signal ${signal})`));
          return;
        }
        if (!this.shuttingDown) this.replace(worker, code, signal, state.group);
      });
    });
  }

  /** A worker died while serving: start another, unless they keep dying. */
  private replace(worker: Worker, code: number | null, signal: string | null, group: number): void {
    process.stderr.write(`c1m-server: worker ${worker.process.pid} died (code ${code}, signal ${signal}); replacing it\n`);
    const now = Date.now();
    this.respawns = this.respawns.filter((t) => now - t < 60_000);
    this.respawns.push(now);
    if (this.respawns.length > 5) {
      process.stderr.write("c1m-server: workers keep dying; giving up\n");
      this.shutdown("crash loop", 1);
      return;
    }
    this.fork(group).catch((err: Error) => {
      process.stderr.write(`c1m-server: replacement worker failed: ${err.message}\n`);
      this.shutdown("crash loop", 1);
    });
  }

  private liveCounters(): { accepted: number; closed: number } {
    let accepted = this.retired.accepted;
    let closed = this.retired.closed;
    for (const w of this.workers.values()) {
      accepted += w.counters.accepted;
      closed += w.counters.closed;
    }
    return { accepted, closed };
  }

  /** Asks every worker for its table; a worker that does not answer in time is left out. */
  private collect(): Promise<Report[]> {
    const id = this.nextReportId++;
    const want = new Set([...this.workers.values()].filter((w) => w.listening).map((w) => w.worker.id));
    return new Promise((resolve) => {
      const got = new Map<number, Report>();
      const timer = setTimeout(() => done(), REPORT_TIMEOUT_MS);
      const done = (): void => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve([...got.values()]);
      };
      this.pending.set(id, { want, got, done });
      if (want.size === 0) return done();
      const msg: PrimaryMessage = { c1m: "report", id };
      for (const wid of want) this.workers.get(wid)?.worker.send(msg);
    });
  }

  async stats(): Promise<ServerStatsExtended> {
    const reports = await this.collect();
    const stats: ServerStatsExtended = aggregateStats({
      reports,
      retired: this.retired,
      listening: this.listening.filter((a) => !a.startsWith("0.0.0.0:") && !a.startsWith("[::]:")),
      acceptRate: Math.round(this.rate.rate()),
      workers: this.workers.size,
      uptimeSeconds: Math.round((Date.now() - this.started) / 100) / 10,
    });
    stats.capacityPerWorker = this.capacity;
    stats.fdSoftLimit = this.fdSoftLimit;
    const perWorker = [...this.workers.values()].map((w) => ({
      pid: w.worker.process.pid ?? 0,
      total: w.counters.total,
      accepted: w.counters.accepted,
      closed: w.counters.closed,
      ...w.health,
    }));
    stats.perWorker = perWorker;
    stats.acceptErrors = perWorker.reduce((sum, w) => sum + w.acceptErrors, 0);
    stats.workersAtCapacity = perWorker.filter((w) => w.total >= this.capacity).length;
    stats.cpuSeconds =
      Math.round(perWorker.reduce((sum, w) => sum + (w.cpuSeconds ?? 0), cpuSecondsOfThisProcess()) * 1000) / 1000;
    const kernel = await readKernelStats();
    if (kernel) stats.kernel = kernel;
    return stats;
  }

  private async serveHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    try {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405).end();
      } else if (path === "/healthz") {
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      } else if (path === "/stats") {
        const body = JSON.stringify(await this.stats());
        res.writeHead(200, { "content-type": "application/json" }).end(body);
      } else if (path === "/metrics") {
        this.metrics.update(await this.stats());
        const body = await this.metrics.registry.metrics();
        res.writeHead(200, { "content-type": this.metrics.registry.contentType }).end(body);
      } else {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /stats, /metrics, /healthz\n");
      }
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" }).end(String(err));
    }
  }

  shutdown(reason: string, code = 0): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    process.stderr.write(`c1m-server: stopping (${reason})\n`);
    const finish = (): void => {
      this.metricsServer?.closeAllConnections();
      this.metricsServer?.close();
      process.exit(code);
    };
    const msg: PrimaryMessage = { c1m: "shutdown" };
    for (const w of this.workers.values()) {
      if (w.worker.isConnected()) w.worker.send(msg);
      else w.worker.process.kill("SIGTERM");
    }
    const check = setInterval(() => {
      if (this.workers.size === 0) {
        clearInterval(check);
        finish();
      }
    }, 20);
    setTimeout(() => {
      for (const w of this.workers.values()) w.worker.process.kill("SIGKILL");
      setTimeout(finish, 200);
    }, SHUTDOWN_GRACE_MS).unref();
  }
}
