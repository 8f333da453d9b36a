// npm run bench:floor -- --connections N [--per-container M] [--max-in-flight K] [--timeout-seconds S]:
// the kernel's floor along the lab's path (issue 22). The lab bench:scale builds (the million
// stack scaled to N: the same namespace, addresses, tuning, Docker network, NAT and container
// settings) with bench/go/floor as the load instead of our Node server and client: raw sockets and
// one epoll loop per process, nothing per connection in user space. What the whole ramp takes then
// is what this machine's kernel needs for both TCP ends, veth, bridge, NAT and conntrack: no
// tuning of our programs gets the lab's ramp below it. Bounded in time; always tears down.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { CLIENT_ENV } from "../shared/protocol.js";
import { FD_RESERVE } from "../infra/plan/capacity.js";
import { dockerRunArgs } from "../infra/clients/dockerCli.js";
import type { ContainerSpec } from "../infra/clients/steps.js";
import type { LabConfig } from "../infra/config/schema.js";
import { labUp } from "../infra/direct/runner.js";
import { timestampDirName } from "../workload/verify/run.js";
import { parseFlags } from "../workload/cliArgs.js";
import { parseStat, procStatFields } from "./breakdown/procCpu.js";
import { buildGoProgram } from "./goBuild.js";
import {
  SCALED_LAB_FLAGS,
  guardLab,
  intFlag,
  root,
  runScaledBench,
  scaleRequestOf,
  scaledLab,
  type ScaledLab,
} from "./scaledLab.js";

const usage = `usage: npm run bench:floor -- --connections N [--per-container M (default: the stack's)] [--max-in-flight K (default: the stack's)]
                       [--server-ips K] [--timeout-seconds (the stack's)] [--base-image IMAGE] [--stack million] [--min-available-mib 1536]
  The lab bench:scale builds, with bench/go/floor (raw sockets, one epoll loop a process) as server and clients instead of
  the lab's: the whole ramp (first client container's start → N accepted) when user space does nearly nothing. Tears down.
  --max-in-flight  connects pending per container (split over its processes)`;

const execFileAsync = promisify(execFile);
const HZ = 100; // USER_HZ: /proc's clock ticks
const WINDOW_SECONDS = 5;
const SAMPLE_MS = 250;

// ---- the floor servers: one process per server address, in the lab's namespace ----

interface FloorServer {
  listen: string;
  child: ChildProcess;
  accepted: number;
  emfile: number;
  /** Resolves at its first line (it listens), rejects if it exits before. */
  ready: Promise<void>;
}

/** A port on the lab's addresses that the lab's own server (idle beside it) does not use. */
function floorPort(config: LabConfig): number {
  let port = config.server.port + 1;
  while (port === config.server.metricsPort) port++;
  return port;
}

/** `ip netns exec` execs the floor itself: the child's pid is the floor server's (as root; else sudo's). */
function startServer(binary: string, namespace: string, listen: string, changed: () => void): FloorServer {
  const argv = [
    ...(process.getuid?.() === 0 ? [] : ["sudo", "-n"]),
    "ip",
    "netns",
    "exec",
    namespace,
    binary,
    "server",
    "--listen",
    listen,
  ];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  const s: FloorServer = { listen, child, accepted: 0, emfile: 0, ready: Promise.resolve() };
  s.ready = new Promise((resolve, reject) => {
    child.once("exit", (code, signal) => reject(new Error(`floor server ${listen} exited (${code ?? signal})`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const m = JSON.parse(line) as { accepted: number; emfile: number };
        s.accepted = m.accepted;
        s.emfile = m.emfile;
      } catch {
        return;
      }
      resolve();
      changed();
    });
  });
  child.stderr!.on("data", (d: Buffer) => process.stderr.write(`floor server ${listen}: ${d.toString()}`));
  return s;
}

/** Ends the floor servers still running (the namespace's delete has ended them already, normally). */
function killServers(servers: FloorServer[]): void {
  for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
}

/** The servers' summed accepted count, and when it first reached the target (at the line that did). */
class Progress {
  reachedAt: number | null = null;
  lastGrowthAt = Date.now();
  private last = 0;
  constructor(
    private readonly servers: FloorServer[],
    private readonly target: number,
  ) {}

  held(): number {
    return this.servers.reduce((a, s) => a + s.accepted, 0);
  }

  changed(): void {
    const held = this.held();
    if (held > this.last) [this.last, this.lastGrowthAt] = [held, Date.now()];
    if (held >= this.target && this.reachedAt === null) this.reachedAt = Date.now();
  }
}

type Outcome = "reached" | "timeout" | "stalled";

async function waitForTarget(p: Progress, deadline: number, stallMs: number): Promise<Outcome> {
  p.lastGrowthAt = Math.max(p.lastGrowthAt, Date.now());
  while (p.reachedAt === null) {
    if (Date.now() > deadline) return "timeout";
    if (Date.now() - p.lastGrowthAt > stallMs) return "stalled";
    await new Promise((r) => setTimeout(r, 100));
  }
  return "reached";
}

// ---- the floor clients: the lab's own containers, running the floor instead ----

/** The lab's `docker run` of this container, with the floor mounted and run as `floor client`. */
function floorRunArgs(c: ContainerSpec, image: string, binary: string, port: number, maxInFlight: number | undefined): string[] {
  const args = dockerRunArgs(c, image);
  if (args.at(-1) !== image) throw new Error("dockerRunArgs no longer ends with the image: floorRunArgs needs updating");
  const connections = Number(c.env[CLIENT_ENV.connections]);
  // As the lab's client splits itself (workload/client/parts.ts): what one process's fds hold.
  const procs = Math.ceil(connections / (c.nofile - FD_RESERVE));
  const targets = (c.env[CLIENT_ENV.targets] ?? "").split(",").map((t) => `${t.slice(0, t.lastIndexOf(":"))}:${port}`);
  return [
    ...args.slice(0, -1),
    ...["--volume", `${binary}:/floor:ro`, "--entrypoint", "/floor", image],
    ...["client", "--targets", targets.join(","), "--connections", String(connections)],
    ...["--max-in-flight", String(maxInFlight ?? c.env[CLIENT_ENV.maxInFlight]), "--procs", String(procs)],
    ...["--target-order", c.env[CLIENT_ENV.targetOrder] ?? "interleaved"],
  ];
}

/** One after the other, as the engine-free runner starts the lab's (but without blocking: the servers' lines keep coming). */
async function startContainers(runs: string[][], log: (l: string) => void): Promise<void> {
  log(`${runs.length} floor client containers`);
  for (const args of runs) {
    try {
      await execFileAsync("docker", args, { timeout: 300_000 });
    } catch (e) {
      throw new Error(`docker run of a floor client failed: ${((e as { stderr?: string }).stderr ?? String(e)).trim()}`);
    }
  }
}

interface Started {
  name: string;
  pid: number;
  startedAt: number;
}

async function inspectContainers(names: string[]): Promise<Started[]> {
  const { stdout } = await execFileAsync("docker", ["inspect", "-f", "{{.Name}} {{.State.Pid}} {{.State.StartedAt}}", ...names]);
  return stdout
    .trim()
    .split("\n")
    .map((l) => l.split(" "))
    .map(([name, pid, at]) => ({ name: (name ?? "").replace(/^\//, ""), pid: Number(pid), startedAt: Date.parse(at ?? "") }));
}

interface ClientTally {
  processes: number;
  done: number;
  established: number;
  failed: number;
}

/** Each floor client process's last line in its container's log, summed. */
async function tallyClients(names: string[]): Promise<ClientTally> {
  const t: ClientTally = { processes: 0, done: 0, established: 0, failed: 0 };
  for (const name of names) {
    const { stdout } = await execFileAsync("docker", ["logs", name], { maxBuffer: 256 * 2 ** 20 });
    const last = new Map<number, { done?: boolean; established: number; failed: number }>();
    for (const line of stdout.split("\n").filter((l) => l.startsWith('{"pid"'))) {
      try {
        const m = JSON.parse(line) as { pid: number; done?: boolean; established: number; failed: number };
        last.set(m.pid, m);
      } catch {
        // a line cut short
      }
    }
    for (const m of last.values()) {
      t.processes++;
      t.done += m.done ? 1 : 0;
      t.established += m.established;
      t.failed += m.failed;
    }
  }
  return t;
}

// ---- CPU: /proc/stat for the machine, /proc/<pid>/stat for the floor processes ----

interface CpuTicks {
  user: number;
  system: number;
  softirq: number;
  idle: number;
  /** irq and steal. */
  other: number;
}
const CPU_KEYS = ["user", "system", "softirq", "idle", "other"] as const;

function cpuTicks(): CpuTicks {
  const { user, nice, system, idle, iowait, irq, softirq, steal } = procStatFields(readFileSync("/proc/stat", "utf8"));
  return { user: user + nice, system, softirq, idle: idle + iowait, other: irq + steal };
}

/** utime + stime of these processes (a gone one counts 0). */
function ticksOf(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"))?.ticks ?? 0;
    } catch {
      // exited
    }
  }
  return sum;
}

/** These processes and their descendants (one scan of /proc). */
function withDescendants(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const ppid = parseStat(readFileSync(`/proc/${e}/stat`, "utf8"))?.ppid ?? 0;
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const todo = [...roots];
  while (todo.length > 0 && out.length < 100_000) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

interface Sample {
  at: number;
  held: number;
  cpu: CpuTicks;
  serverTicks: number;
}

/** Samples every SAMPLE_MS until stopped; stop() takes a last one and returns them all. */
function startSampler(p: Progress, serverPids: number[]): { stop(): Sample[] } {
  const samples: Sample[] = [];
  const take = () => samples.push({ at: Date.now(), held: p.held(), cpu: cpuTicks(), serverTicks: ticksOf(serverPids) });
  take();
  const timer = setInterval(take, SAMPLE_MS);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** The last sample at or before t (else the first). */
function sampleAt(samples: Sample[], t: number): Sample {
  let found = samples[0]!;
  for (const s of samples) if (s.at <= t) found = s;
  return found;
}

interface Span {
  /** Seconds since the first client container's start. */
  from: number;
  to: number;
  held: number;
  perSecond: number;
  /** Cores (of availableParallelism) over the span. */
  cpu: CpuTicks;
  servers: number;
}

function spanOf(a: Sample, b: Sample, t0: number): Span {
  const dt = Math.max(1e-3, (b.at - a.at) / 1000);
  const cores = (ticks: number) => Number((ticks / HZ / dt).toFixed(2));
  return {
    from: Number(((a.at - t0) / 1000).toFixed(1)),
    to: Number(((b.at - t0) / 1000).toFixed(1)),
    held: b.held,
    perSecond: Math.round((b.held - a.held) / dt),
    cpu: Object.fromEntries(CPU_KEYS.map((k) => [k, cores(b.cpu[k] - a.cpu[k])])) as unknown as CpuTicks,
    servers: cores(b.serverTicks - a.serverTicks),
  };
}

/** The ramp in WINDOW_SECONDS windows from t0 to end. */
function windowsOf(samples: Sample[], t0: number, end: number): Span[] {
  const out: Span[] = [];
  for (let t = t0; t < end && out.length < 10_000; t += WINDOW_SECONDS * 1000) {
    const a = sampleAt(samples, t);
    const b = sampleAt(samples, Math.min(end, t + WINDOW_SECONDS * 1000));
    if (b.at > a.at) out.push(spanOf(a, b, t0));
  }
  return out;
}

// ---- the run ----

/** Aligned columns, the header underlined. */
function columns(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(line)].join("\n");
}

const fmt = (n: number) => n.toLocaleString("en-US");

interface RunFacts {
  outcome: Outcome;
  held: number;
  upSeconds: number;
  /** The 1-minute load average before the lab came up. */
  load: number;
  started: Started[];
  end: number;
  samples: Sample[];
  clientSeconds: number;
  clients: ClientTally;
  emfile: number;
}

/** The figures (JSON) and the rows printed. */
function figuresOf(lab: ScaledLab, f: RunFacts, maxInFlight: number) {
  const t0 = Math.min(...f.started.map((s) => s.startedAt).filter(Number.isFinite));
  const lastStart = Math.max(...f.started.map((s) => s.startedAt).filter(Number.isFinite));
  const ramp = f.outcome === "reached" && Number.isFinite(t0) ? Number(((f.end - t0) / 1000).toFixed(1)) : null;
  const whole = spanOf(sampleAt(f.samples, t0), f.samples.at(-1)!, t0);
  const cores = availableParallelism();
  return {
    connections: f.held,
    target: lab.plan.target,
    outcome: f.outcome,
    upSeconds: f.upSeconds,
    containers: f.started.length,
    clientProcesses: f.clients.processes,
    serverProcesses: lab.plan.serverAddresses.length,
    maxInFlightPerContainer: maxInFlight,
    containersStartSeconds: Number(((lastStart - t0) / 1000).toFixed(1)),
    wholeRampSeconds: ramp,
    connectionsPerSecond: ramp ? Math.round(f.held / ramp) : null,
    cores,
    cpuOverRamp: whole.cpu,
    floorServersCores: whole.servers,
    floorClientsCores: Number((f.clientSeconds / Math.max(1e-3, (f.samples.at(-1)!.at - t0) / 1000)).toFixed(2)),
    clientsDone: f.clients.done,
    clientFailedConnects: f.clients.failed,
    serverEmfile: f.emfile,
    conntrackCount: Number(readFileSync("/proc/sys/net/netfilter/nf_conntrack_count", "utf8")),
    loadAverageAtStart: f.load,
    windows: windowsOf(f.samples, t0, f.samples.at(-1)!.at),
  };
}

function printFigures(fig: ReturnType<typeof figuresOf>, file: string): void {
  const c = fig.cpuOverRamp;
  const rows: [string, string][] = [
    ["connections", `${fmt(fig.connections)} of ${fmt(fig.target)} accepted (${fig.outcome})`],
    ["lab up (no clients)", `${fig.upSeconds} s`],
    [
      "containers",
      `${fig.containers} (${fig.clientProcesses} floor client processes), all started ${fig.containersStartSeconds} s after the first`,
    ],
    ["floor servers", `${fig.serverProcesses} (one per server address)`],
    [
      "whole ramp (first client start → target)",
      fig.wholeRampSeconds === null ? "-" : `${fig.wholeRampSeconds} s (${fmt(fig.connectionsPerSecond ?? 0)} connections/s)`,
    ],
    [
      `CPU over the ramp (cores of ${fig.cores})`,
      `user ${c.user}, system ${c.system}, softirq ${c.softirq}, idle ${c.idle}, irq+steal ${c.other}`,
    ],
    ["  of which the floor programs", `servers ${fig.floorServersCores}, clients ${fig.floorClientsCores}`],
    ["client connects failed", fmt(fig.clientFailedConnects)],
    ["server accepts at EMFILE", fmt(fig.serverEmfile)],
    ["conntrack entries", fmt(fig.conntrackCount)],
    ["figures (JSON)", file],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n"));
  const head = ["t (s)", "held", "conn/s", "user", "system", "softirq", "idle", "floor servers"];
  const body = fig.windows.map((w) => [
    `${w.from}–${w.to}`,
    fmt(w.held),
    fmt(w.perSecond),
    ...CPU_KEYS.slice(0, 4).map((k) => w.cpu[k].toFixed(2)),
    w.servers.toFixed(2),
  ]);
  console.log(`\nThe ramp in ${WINDOW_SECONDS} s windows (CPU in cores):\n${columns(head, body)}`);
}

/** Servers up and listening, their pids. */
async function startServers(
  lab: ScaledLab,
  binary: string,
  port: number,
  servers: FloorServer[],
  p: Progress,
): Promise<number[]> {
  const ns = lab.steps.host.namespace;
  for (const a of lab.plan.serverAddresses) servers.push(startServer(binary, ns, `${a}:${port}`, () => p.changed()));
  const bound = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error("floor servers not listening after 15 s")), 15_000).unref(),
  );
  await Promise.race([Promise.all(servers.map((s) => s.ready)), bound]);
  lab.log(`${servers.length} floor servers on port ${port}`);
  return withDescendants(servers.map((s) => s.child.pid ?? 0).filter((pid) => pid > 0));
}

/** Starts the floor clients and waits for the target: the outcome and the samples over it. */
async function ramp(lab: ScaledLab, binary: string, port: number, p: Progress, serverPids: number[], maxInFlight?: number) {
  const { steps, config, log } = lab;
  const sampler = startSampler(p, serverPids);
  try {
    const deadline = Date.now() + config.test.timeoutSeconds * 1000;
    await startContainers(
      steps.containers.map((c) => floorRunArgs(c, steps.image.name, binary, port, maxInFlight)),
      log,
    );
    return { outcome: await waitForTarget(p, deadline, config.test.stallSeconds * 1000), samples: sampler.stop() };
  } catch (e) {
    sampler.stop();
    throw e;
  }
}

/** What the containers and the servers say once the ramp is over. */
async function afterRamp(lab: ScaledLab, p: Progress, servers: FloorServer[]) {
  const names = lab.steps.containers.map((c) => c.name);
  const started = await inspectContainers(names);
  // They started after the first container's start: all their CPU time is the ramp's.
  const clientSeconds = ticksOf(withDescendants(started.map((s) => s.pid).filter((pid) => pid > 0))) / HZ;
  return {
    held: p.held(),
    end: p.reachedAt ?? Date.now(),
    started,
    clientSeconds,
    clients: await tallyClients(names),
    emfile: servers.reduce((a, s) => a + s.emfile, 0),
  };
}

async function run(lab: ScaledLab, binary: string, servers: FloorServer[], maxInFlight: number | undefined): Promise<number> {
  const load = loadavg()[0]!;
  const upStarted = Date.now();
  // The lab as bench:scale brings it up (its Node server stays idle), without its clients.
  labUp({ ...lab.steps, containers: [] }, { log: lab.log });
  const upSeconds = Number(((Date.now() - upStarted) / 1000).toFixed(1));
  const port = floorPort(lab.config);
  const p = new Progress(servers, lab.plan.target);
  const serverPids = await startServers(lab, binary, port, servers, p);
  const { outcome, samples } = await ramp(lab, binary, port, p, serverPids, maxInFlight);
  const facts: RunFacts = { outcome, upSeconds, load, samples, ...(await afterRamp(lab, p, servers)) };
  const fig = figuresOf(lab, facts, maxInFlight ?? Number(lab.steps.containers[0]?.env[CLIENT_ENV.maxInFlight]));
  const file = join(root, "reports", `bench-floor-${timestampDirName(new Date())}`, "floor.json");
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(fig, null, 2)}\n`);
  printFigures(fig, file);
  return outcome === "reached" ? 0 : 1;
}

async function main(): Promise<number> {
  const values = parseFlags(process.argv.slice(2), { ...SCALED_LAB_FLAGS, "max-in-flight": { type: "string" } });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const request = scaleRequestOf(values);
  const maxInFlight = intFlag(values, "max-in-flight", 1);
  const binary = buildGoProgram("floor");
  const lab = scaledLab(request);
  const servers: FloorServer[] = [];
  const teardown = guardLab(lab, { boundSeconds: lab.config.test.timeoutSeconds + 600, after: () => killServers(servers) });
  try {
    return await run(lab, binary, servers, maxInFlight);
  } finally {
    teardown();
  }
}

runScaledBench("bench:floor", usage, main);
