// Runs the compiled workload server and client for integration tests: on loopback or inside a
// network namespace the test made. Every child is killed when the test ends.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import type { ClientStatus, ServerStats } from "../../shared/protocol.js";

export const SERVER_JS = fileURLToPath(new URL("../../workload/server.js", import.meta.url));
export const CLIENT_JS = fileURLToPath(new URL("../../workload/client.js", import.meta.url));

export interface SpawnOptions {
  /** Run inside this network namespace (`ip netns exec`, which execs: same pid). */
  netns?: string;
  /** Open-file limit (soft and hard) for the child, set by bash's `ulimit -n`. */
  nofile?: number;
  env?: Record<string, string>;
}

export class Proc {
  readonly lines: string[] = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    let buf = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        this.lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      this.wake();
    });
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    // 'close', not 'exit': all output has arrived, and a server's workers (which share its
    // stdout) are gone too.
    this.exited = new Promise((resolve) =>
      child.on("close", (code, signal) => {
        this.closed = true;
        this.wake();
        resolve({ code, signal });
      }),
    );
  }

  private closed = false;

  get running(): boolean {
    return !this.closed && this.child.exitCode === null && this.child.signalCode === null;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** JSON lines seen so far. */
  json<T>(): T[] {
    const out: T[] = [];
    for (const l of this.lines) {
      try {
        out.push(JSON.parse(l) as T);
      } catch {
        // not JSON
      }
    }
    return out;
  }

  /** Resolves with the first JSON stdout line matching `pred`. */
  async waitJson<T>(pred: (v: T) => boolean, ms: number, what: string): Promise<T> {
    const until = Date.now() + ms;
    for (;;) {
      const hit = this.json<T>().find(pred);
      if (hit !== undefined) return hit;
      if (!this.running) throw new Error(`${what}: process exited (${this.child.exitCode}); stderr: ${this.stderr}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`${what}: not seen within ${ms} ms; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `ms`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", ms = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), ms);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }
}

export function spawnNode(t: TestContext, nodeArgs: string[], opts: SpawnOptions = {}): Proc {
  let argv = [process.execPath, ...nodeArgs];
  if (opts.nofile !== undefined) {
    argv = ["bash", "-c", `ulimit -n ${opts.nofile} && exec "$@"`, "bash", ...argv];
  }
  if (opts.netns !== undefined) argv = ["ip", "netns", "exec", opts.netns, ...argv];
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...opts.env },
  });
  const proc = new Proc(child);
  t.after(() => {
    if (proc.running) child.kill("SIGKILL");
  });
  return proc;
}

export interface Listening {
  type: "listening";
  pid: number;
  workerPids: number[];
  addresses: string[];
  metrics: string;
  workers: number;
  capacityPerWorker: number;
}

export class ServerHandle {
  constructor(
    readonly proc: Proc,
    readonly info: Listening,
    private readonly netns?: string,
  ) {}

  /** GET a metrics path; inside a namespace through a node one-liner run there. */
  async get(path: string): Promise<{ status: number; body: string }> {
    const url = `http://${this.info.metrics}${path}`;
    if (this.netns === undefined) {
      const r = await fetch(url);
      return { status: r.status, body: await r.text() };
    }
    const script = `fetch(${JSON.stringify(url)}).then(async r=>process.stdout.write(JSON.stringify({status:r.status,body:await r.text()})))`;
    const out = await capture(["ip", "netns", "exec", this.netns, process.execPath, "-e", script]);
    return JSON.parse(out) as { status: number; body: string };
  }

  async stats(): Promise<ServerStats & { capacityPerWorker?: number }> {
    const r = await this.get("/stats");
    if (r.status !== 200) throw new Error(`/stats: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as ServerStats;
  }

  /** Polls /stats until `pred` holds. */
  async waitStats(pred: (s: ServerStats) => boolean, ms: number, what: string): Promise<ServerStats> {
    const until = Date.now() + ms;
    let last: ServerStats | undefined;
    for (;;) {
      last = await this.stats();
      if (pred(last)) return last;
      if (Date.now() > until) throw new Error(`${what}: not reached within ${ms} ms; last /stats: ${JSON.stringify(last)}`);
      await sleep(100);
    }
  }
}

export async function startServer(t: TestContext, args: string[], opts: SpawnOptions = {}): Promise<ServerHandle> {
  const proc = spawnNode(t, [SERVER_JS, ...args], opts);
  const info = await proc.waitJson<Listening>((v) => v.type === "listening", 15_000, "server listening line");
  return new ServerHandle(proc, info, opts.netns);
}

export function startClient(t: TestContext, args: string[], opts: SpawnOptions = {}): Proc {
  return spawnNode(t, ["--max-semi-space-size=1", CLIENT_JS, ...args], opts);
}

export interface ClientResult {
  code: number | null;
  statuses: ClientStatus[];
  final: ClientStatus | undefined;
  stderr: string;
}

/** Runs a client to completion (it must exit by itself within `ms`). */
export async function runClient(t: TestContext, args: string[], opts: SpawnOptions = {}, ms = 20_000): Promise<ClientResult> {
  const proc = startClient(t, args, opts);
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), ms);
  const { code } = await proc.exited;
  clearTimeout(timer);
  const statuses = proc.json<ClientStatus>().filter((s) => s.type === "status");
  return { code, statuses, final: statuses.find((s) => s.final), stderr: proc.stderr };
}

export function capture(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(" ")}: exit ${code}: ${err}`))));
  });
}

export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(pred: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}
