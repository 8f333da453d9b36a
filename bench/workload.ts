// Loopback benchmark of the workload: server memory per idle connection, client connect rate,
// kernel memory per connection; then the same steps for a goroutine-per-connection Go server and
// client (bench/go/ref) and the ratios ours/Go. `node dist/bench/workload.js [--connections 19000]`.
// Everything stays on 127.0.0.0/8; children are always killed; the whole run is time-bounded.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { get } from "node:http";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { parseFlags, parseIntOption } from "../workload/cliArgs.js";
import type { ClientStatus, ServerStats } from "../shared/protocol.js";
import { buildGoProgram } from "./goBuild.js";
import { rssKiB } from "./proc.js";

const DIST_WORKLOAD = fileURLToPath(new URL("../workload/", import.meta.url));
const SERVER_JS = DIST_WORKLOAD + "server.js";
const CLIENT_JS = DIST_WORKLOAD + "client.js";
// Several listen addresses: a single destination ip:port makes Linux's ephemeral port search
// slow past ~14k connections from one process; spreading destinations avoids it.
const SERVER_ADDRESSES = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"];
/** Go reference's addresses: other destinations than ours, four of them for the same reason. */
const GO_TARGETS = ["127.0.0.31", "127.0.0.32", "127.0.0.33", "127.0.0.34"].map((ip) => `${ip}:7000`).join(",");
/** Both sides run the same steps; about 40 s each, plus the bare loop. */
const DEADLINE_MS = 150_000;
const WARM_UP_CONNECTIONS = 2000;
/** Dials in progress at once, for both clients. */
const MAX_IN_FLIGHT = 1024;
const FIRST_MARK = 14_000;
/** Connections of the bare-loop reference (this process holds their server side: < its fd limit). */
const BARE_CONNECTIONS = 14_000;
/**
 * Long enough for the post-ramp compaction (server workers and the client run a full GC 2–3 s
 * after the ramp; V8's own memory reducer, ~8 s after allocation calms down, would do it anyway).
 */
const REDUCER_WAIT_MS = 10_000;
/** The client's node flags, as in workload/Dockerfile's entrypoint. */
const CLIENT_NODE_ARGS = ["--max-semi-space-size=1", "--expose-gc", "--compact-on-every-full-gc"];

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});
// A signal's default action would skip the 'exit' handler and leave the children running.
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => fail(`interrupted (${sig})`));

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

function startChild(command: string, args: string[], onLine: (line: string) => void): ChildProcess {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  child.on("error", (err) => fail(`${command}: ${err.message}`));
  let buf = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  return child;
}

const startNode = (args: string[], onLine: (line: string) => void): ChildProcess => startChild(process.execPath, args, onLine);

/** A JSON status line, or undefined for any other output. */
function parseLine<T>(line: string): T | undefined {
  try {
    return JSON.parse(line) as T;
  } catch {
    return undefined;
  }
}

function waitFor<T>(what: string, ms: number, poll: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const step = async (): Promise<void> => {
      try {
        const v = await poll();
        if (v !== undefined) return resolve(v);
      } catch {
        // not ready yet
      }
      if (Date.now() > until) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(() => void step(), 50);
    };
    void step();
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      resolve(null);
    }, ms);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

function getJson<T>(url: string): Promise<T> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch (err) {
          reject(err as Error);
        }
      });
    }).on("error", reject);
  });
}

function slabKiB(): number {
  const m = /^Slab:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
  if (!m) throw new Error("no Slab in /proc/meminfo");
  return Number(m[1]);
}

/** Active objects and object size per slab cache (root only; undefined if unreadable). */
function slabCaches(): Map<string, { active: number; size: number }> | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/slabinfo", "utf8");
  } catch {
    return undefined;
  }
  const caches = new Map<string, { active: number; size: number }>();
  for (const line of text.split("\n").slice(2)) {
    const [name, active, , size] = line.trim().split(/\s+/);
    if (name && active && size) caches.set(name, { active: Number(active), size: Number(size) });
  }
  return caches;
}

/** Net growth of all slab caches' live objects (bytes), per connection: unlike meminfo's Slab it
 * does not hide objects placed in slab pages that were already allocated but free. */
function slabObjectBytesPerConn(
  before: ReturnType<typeof slabCaches>,
  after: ReturnType<typeof slabCaches>,
  connections: number,
): number | null {
  if (!before || !after) return null;
  let bytes = 0;
  for (const [name, a] of after) bytes += (a.active - (before.get(name)?.active ?? 0)) * a.size;
  return Math.round(bytes / connections);
}

/** Per-connection growth of the slab caches that grew most (which kernel objects a connection costs). */
function slabBreakdown(
  before: ReturnType<typeof slabCaches>,
  after: ReturnType<typeof slabCaches>,
  connections: number,
): { cache: string; objectsPerConn: number; bytesPerConn: number }[] {
  if (!before || !after) return [];
  const rows = [];
  for (const [name, a] of after) {
    const grown = a.active - (before.get(name)?.active ?? 0);
    if (grown <= 0) continue;
    rows.push({
      cache: name,
      objectsPerConn: Math.round((grown / connections) * 100) / 100,
      bytesPerConn: Math.round((grown * a.size) / connections),
    });
  }
  return rows.sort((x, y) => y.bytesPerConn - x.bytesPerConn).slice(0, 8);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Samples RSS every 500 ms until it stops moving (≤ 0.5 % over 2 s) once `minMs` have passed,
 * or until `maxMs`. "After GC settles" means after the post-ramp compaction (see REDUCER_WAIT_MS);
 * minMs 0 gives the plateau right after the ramp, before it.
 */
async function settledRss(pid: number, minMs: number, maxMs: number): Promise<number> {
  const start = Date.now();
  const window: number[] = [];
  for (;;) {
    window.push(rssKiB(pid));
    if (window.length > 5) window.shift();
    const stable = window.length === 5 && Math.max(...window) - Math.min(...window) <= window[4]! * 0.005;
    if (stable && Date.now() - start >= minMs) return window[4]!;
    if (Date.now() - start > maxMs) return window[window.length - 1]!;
    await sleep(500);
  }
}

/** Seconds at which the client crossed `mark` established, interpolated between status lines. */
function crossing(lines: Progress[], mark: number): number | undefined {
  let prev: Progress | undefined;
  for (const s of lines) {
    if (s.established >= mark) {
      if (!prev || s.established === prev.established) return s.elapsedSeconds;
      const f = (mark - prev.established) / (s.established - prev.established);
      return prev.elapsedSeconds + f * (s.elapsedSeconds - prev.elapsedSeconds);
    }
    prev = s;
  }
  return undefined;
}

// A bare net.connect loop (no pacing, no bookkeeping): what Node itself manages on this machine
// right now. The machine may be shared and its speed varies, so the client's rate is shown next
// to this rather than alone.
const BARE_LOOP = `
const net = require("node:net");
const targets = JSON.parse(process.argv[1]);
const n = Number(process.argv[2]);
let started = 0, ok = 0, inFlight = 0;
const sockets = [];
const t0 = performance.now();
function onConnect() {
  ok++; inFlight--; sockets.push(this);
  if (ok === n) { process.stdout.write(JSON.stringify({ rate: n / ((performance.now() - t0) / 1000) }) + "\\n"); process.exit(0); }
  pump();
}
function onError(err) { process.stderr.write("bare loop: " + err.code + "\\n"); process.exit(1); }
function pump() {
  while (inFlight < 1024 && started < n) {
    const s = net.connect(targets[started++ % targets.length]);
    inFlight++;
    s.on("connect", onConnect);
    s.on("error", onError);
  }
}
pump();
`;
const BARE_ADDRESSES = ["127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"];

/** Connects/s of BARE_LOOP opening `n` connections to listeners in this process. */
async function bareLoopRate(n: number): Promise<number> {
  const accepted: net.Socket[] = [];
  const servers = await Promise.all(
    BARE_ADDRESSES.map(
      (host) =>
        new Promise<net.Server>((resolve, reject) => {
          const srv = net.createServer((sock) => {
            accepted.push(sock);
            sock.on("error", () => {});
          });
          srv.once("error", reject);
          srv.listen(0, host, () => resolve(srv));
        }),
    ),
  );
  try {
    const targets = servers.map((srv) => ({
      host: (srv.address() as net.AddressInfo).address,
      port: (srv.address() as net.AddressInfo).port,
    }));
    let rate: number | undefined;
    const child = startNode([...CLIENT_NODE_ARGS, "-e", BARE_LOOP, JSON.stringify(targets), String(n)], (line) => {
      rate = (JSON.parse(line) as { rate: number }).rate;
    });
    const code = await waitExit(child, 30_000);
    if (code !== 0 || rate === undefined) throw new Error(`bare connect loop failed (exit ${code})`);
    return Math.round(rate);
  } finally {
    for (const sock of accepted) sock.destroy();
    for (const srv of servers) srv.close();
  }
}

/** A client's progress, as the bench reads it from either client's status lines. */
interface Progress {
  established: number;
  elapsedSeconds: number;
  /** When the target was reached, seconds after the client's start; null before. */
  rampSeconds: number | null;
  failed: number;
}

interface ClientRun {
  child: ChildProcess;
  lines: Progress[];
}

/** A server and its client under measurement: ours, or the Go reference. */
interface Contender {
  name: string;
  server: ChildProcess;
  /** The process whose RSS is the server's (ours: its one worker). */
  serverPid: number;
  /** Connections the server holds now. */
  live(): Promise<number>;
  startClient(connections: number): ClientRun;
}

function runClient(targets: string, connections: number): ClientRun {
  const lines: Progress[] = [];
  const child = startNode(
    [
      ...CLIENT_NODE_ARGS,
      CLIENT_JS,
      "--targets",
      targets,
      "--connections",
      String(connections),
      "--connect-rate",
      "1000000",
      "--max-in-flight",
      String(MAX_IN_FLIGHT),
      "--ping-interval-seconds",
      "0",
      "--name",
      "bench",
      "--status-interval-ms",
      "50",
    ],
    (line) => {
      const s = parseLine<ClientStatus>(line);
      if (s?.type !== "status") return;
      const failed = Object.values(s.failed).reduce((a, b) => a + b, 0);
      lines.push({ established: s.established, elapsedSeconds: s.elapsedSeconds, rampSeconds: s.rampSeconds, failed });
    },
  );
  return { child, lines };
}

/** Our server, one worker on SERVER_ADDRESSES, and our client. `lastStats` is what `live()` read last. */
async function startOurs(): Promise<Contender & { lastStats(): ServerStats | undefined }> {
  let listening: { workerPids: number[]; addresses: string[]; metrics: string } | undefined;
  const server = startNode(
    [SERVER_JS, "--port", "0", "--addresses", SERVER_ADDRESSES.join(","), "--metrics-port", "0", "--workers", "1"],
    (line) => {
      const msg = parseLine<{ type?: string }>(line);
      if (msg?.type === "listening") listening = msg as typeof listening;
    },
  );
  const up = await waitFor("server to listen", 10_000, () => listening);
  let last: ServerStats | undefined;
  return {
    name: "ours",
    server,
    serverPid: up.workerPids[0]!,
    live: async () => (last = await getJson<ServerStats>(`http://${up.metrics}/stats`)).total,
    startClient: (n) => runClient(up.addresses.join(","), n),
    lastStats: () => last,
  };
}

/** The Go reference's client (bench/go/ref): one goroutine per connection. */
function runGoClient(bin: string, connections: number): ClientRun {
  const lines: Progress[] = [];
  const args = [
    "client",
    "--targets",
    GO_TARGETS,
    "--connections",
    String(connections),
    "--max-in-flight",
    String(MAX_IN_FLIGHT),
  ];
  const child = startChild(bin, args, (line) => {
    const s = parseLine<{ established: number; failed: number; elapsedMs: number }>(line);
    if (s?.elapsedMs === undefined) return;
    const elapsedSeconds = s.elapsedMs / 1000;
    const rampSeconds = s.established >= connections ? elapsedSeconds : null;
    lines.push({ established: s.established, elapsedSeconds, rampSeconds, failed: s.failed });
  });
  return { child, lines };
}

/** The Go reference's server on GO_TARGETS (its status line every 100 ms says how many it holds). */
async function startGo(bin: string): Promise<Contender> {
  let live: number | undefined;
  const server = startChild(bin, ["server", "--listen", GO_TARGETS], (line) => {
    live = parseLine<{ live: number }>(line)?.live ?? live;
  });
  const liveNow = (): number | undefined => {
    if (server.exitCode !== null) fail(`the Go server exited (${server.exitCode})`);
    return live;
  };
  await waitFor("the Go server to listen", 10_000, liveNow);
  return {
    name: "Go",
    server,
    serverPid: server.pid!,
    live: () => Promise.resolve(liveNow() ?? 0),
    startClient: (n) => runGoClient(bin, n),
  };
}

const stop = (child: ChildProcess): Promise<number | null> => {
  child.kill("SIGTERM");
  return waitExit(child, 5_000);
};

const serverHolds = (c: Contender, n: number) => async () => ((await c.live()) === n ? true : undefined);

function waitRamp(run: ClientRun, what: string, ms: number): Promise<Progress> {
  return waitFor(what, ms, () => {
    if (run.child.exitCode !== null) fail(`${what}: the client exited (${run.child.exitCode})`);
    return run.lines.find((s) => s.rampSeconds !== null);
  });
}

/** Warm-up: JIT the server's accept/close paths, then let the count drop back to zero. */
async function warmUp(c: Contender): Promise<void> {
  const warm = c.startClient(WARM_UP_CONNECTIONS);
  await waitRamp(warm, `${c.name}: warm-up`, 15_000);
  await stop(warm.child);
  await waitFor(`${c.name}: warm-up connections to close`, 10_000, serverHolds(c, 0));
}

/** RSS of a client process holding one connection (KiB). */
async function clientBaseKiB(c: Contender): Promise<number> {
  const base = c.startClient(1);
  await waitRamp(base, `${c.name}: baseline client`, 5_000);
  const kib = rssKiB(base.child.pid!);
  await stop(base.child);
  await waitFor(`${c.name}: baseline connection to close`, 5_000, serverHolds(c, 0));
  return kib;
}

/** What `measure` read (KiB unless named otherwise). */
interface Measured {
  connections: number;
  serverRssKiB: { before: number; afterRamp: number; settled: number };
  clientRssKiB: { base: number; afterRamp: number; settled: number };
  slabKiB: { before: number; after: number };
  caches: { before: ReturnType<typeof slabCaches>; after: ReturnType<typeof slabCaches> };
  lines: Progress[];
  ramped: Progress;
  clientExit: number | null;
  serverExit: number | null;
}

/** The same steps for ours and the Go reference: warm-up, baselines, ramp, right after it, settled, stop. */
async function measure(c: Contender, connections: number): Promise<Measured> {
  await warmUp(c);
  const clientBase = await clientBaseKiB(c);
  const serverBase = await settledRss(c.serverPid, REDUCER_WAIT_MS, REDUCER_WAIT_MS + 8_000);
  const slabBefore = slabKiB();
  const cachesBefore = slabCaches();
  const run = c.startClient(connections);
  const ramped = await waitRamp(run, `${c.name}: client ramp`, 40_000);
  await waitFor(`${c.name}: server to count every connection`, 10_000, serverHolds(c, connections));
  const serverRamp = await settledRss(c.serverPid, 0, 6_000);
  const clientRamp = rssKiB(run.child.pid!);
  const slabAfter = slabKiB();
  const cachesAfter = slabCaches();
  const serverSettled = await settledRss(c.serverPid, REDUCER_WAIT_MS, REDUCER_WAIT_MS + 8_000);
  const clientSettled = rssKiB(run.child.pid!);
  const held = await c.live();
  if (held !== connections) fail(`${c.name}: the server lost connections while settling: ${held}`);
  return {
    connections,
    serverRssKiB: { before: serverBase, afterRamp: serverRamp, settled: serverSettled },
    clientRssKiB: { base: clientBase, afterRamp: clientRamp, settled: clientSettled },
    slabKiB: { before: slabBefore, after: slabAfter },
    caches: { before: cachesBefore, after: cachesAfter },
    lines: run.lines,
    ramped,
    clientExit: await stop(run.child),
    serverExit: await stop(c.server),
  };
}

const perConn = (kib: number, connections: number): number => Math.round((kib * 1024) / connections);

/** The figures reported for either side. */
function figures(m: Measured) {
  const n = m.connections;
  const rampSeconds = m.ramped.rampSeconds!;
  const firstSeconds = crossing(m.lines, FIRST_MARK);
  return {
    serverRssBytesPerConn: perConn(m.serverRssKiB.settled - m.serverRssKiB.before, n),
    serverRssBytesPerConnRightAfterRamp: perConn(m.serverRssKiB.afterRamp - m.serverRssKiB.before, n),
    clientRssBytesPerConn: perConn(m.clientRssKiB.settled - m.clientRssKiB.base, n),
    clientRssBytesPerConnRightAfterRamp: perConn(m.clientRssKiB.afterRamp - m.clientRssKiB.base, n),
    slabBytesPerConn: perConn(m.slabKiB.after - m.slabKiB.before, n),
    slabObjectBytesPerConn: slabObjectBytesPerConn(m.caches.before, m.caches.after, n),
    connectsPerSecWholeRamp: Math.round(n / rampSeconds),
    connectsPerSecFirst14k: firstSeconds === undefined ? null : Math.round(FIRST_MARK / firstSeconds),
    rampSeconds,
    serverRssKiB: m.serverRssKiB,
    clientRssKiB: m.clientRssKiB,
    slabKiB: m.slabKiB,
    clientFailed: m.ramped.failed,
    clientExit: m.clientExit,
    serverExit: m.serverExit,
  };
}
type Figures = ReturnType<typeof figures>;

/** A figure both sides report as a number (or null). */
type Compared = { [K in keyof Figures]: Figures[K] extends number | null ? K : never }[keyof Figures];

/** Figures set beside the Go reference's: label, key, unit, and what issue 22 aims at for ours/Go. */
const COMPARED: { label: string; key: Compared; unit: string; aim: string }[] = [
  { label: "server RSS / idle connection, settled", key: "serverRssBytesPerConn", unit: " B", aim: "≤ 0.20×" },
  { label: "  right after the ramp", key: "serverRssBytesPerConnRightAfterRamp", unit: " B", aim: "" },
  { label: "client RSS / connection, settled", key: "clientRssBytesPerConn", unit: " B", aim: "" },
  { label: "  right after the ramp", key: "clientRssBytesPerConnRightAfterRamp", unit: " B", aim: "" },
  { label: "connects/s, whole ramp", key: "connectsPerSecWholeRamp", unit: "", aim: "≥ 2×" },
  { label: "connects/s, first 14k", key: "connectsPerSecFirst14k", unit: "", aim: "" },
];

function oursOverGo(ours: Figures, go: Figures): Record<string, number | null> {
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null || b <= 0 ? null : Math.round((a / b) * 100) / 100;
  return Object.fromEntries(COMPARED.map(({ key }) => [key, ratio(ours[key], go[key])]));
}

/** Columns: the first padded to the right, the middle ones to the left, the last as it is. */
function printTable(rows: string[][]): void {
  const width = (i: number): number => Math.max(...rows.map((r) => (r[i] ?? "").length));
  for (const r of rows) {
    const cells = r.map((cell, i) => (i === r.length - 1 ? cell : i === 0 ? cell.padEnd(width(i)) : cell.padStart(width(i))));
    process.stdout.write(cells.join("  ").trimEnd() + "\n");
  }
}

function ourRows(connections: number, f: Figures, bareRate: number, topCaches: ReturnType<typeof slabBreakdown>): string[][] {
  const rows = [
    ["connections", String(connections)],
    [
      "server RSS / idle connection, settled",
      `${f.serverRssBytesPerConn} B (worker ${f.serverRssKiB.before} → ${f.serverRssKiB.settled} KiB)`,
    ],
    ["  right after the ramp", `${f.serverRssBytesPerConnRightAfterRamp} B (→ ${f.serverRssKiB.afterRamp} KiB)`],
    ["client RSS / connection, settled", `${f.clientRssBytesPerConn} B (${f.clientRssKiB.base} → ${f.clientRssKiB.settled} KiB)`],
    ["  right after the ramp", `${f.clientRssBytesPerConnRightAfterRamp} B (→ ${f.clientRssKiB.afterRamp} KiB)`],
    ["kernel Slab / connection (both ends)", `${f.slabBytesPerConn} B (${f.slabKiB.before} → ${f.slabKiB.after} KiB)`],
    ["kernel slab objects / connection (both ends)", `${f.slabObjectBytesPerConn ?? "n/a"} B (live objects, /proc/slabinfo)`],
    ["connects/s, whole ramp", `${f.connectsPerSecWholeRamp} (${f.rampSeconds} s)`],
    ["connects/s, first 14k", String(f.connectsPerSecFirst14k)],
    [`  bare net.connect loop (${BARE_CONNECTIONS}), same machine`, String(bareRate)],
    ["client failures", String(f.clientFailed)],
  ];
  for (const c of topCaches) rows.push([`  slab ${c.cache}`, `${c.bytesPerConn} B (${c.objectsPerConn} objects) / connection`]);
  return rows;
}

function comparisonRows(ours: Figures, go: Figures, ratios: Record<string, number | null>): string[][] {
  const rows = [["ours beside the Go reference (goroutine per connection)", "ours", "Go", "ours/Go", "issue 22 aims at"]];
  for (const { label, key, unit, aim } of COMPARED) {
    const ratio = ratios[key];
    rows.push([
      label,
      `${ours[key]}${unit}`,
      `${go[key]}${unit}`,
      ratio === null || ratio === undefined ? "n/a" : `${ratio.toFixed(2)}×`,
      aim,
    ]);
  }
  rows.push(["client failures", String(ours.clientFailed), String(go.clientFailed), "", ""]);
  return rows;
}

function parseConnections(): number {
  try {
    const values = parseFlags(process.argv.slice(2), { connections: { type: "string", default: "19000" } });
    return parseIntOption("--connections", values.connections, { min: FIRST_MARK });
  } catch (err) {
    fail((err as Error).message);
  }
}

async function main(): Promise<void> {
  const connections = parseConnections();
  // Built first: without Go the bench stops at once, saying what to install. (The compile is
  // outside the time bound; Go's build cache makes it a fraction of a second after the first.)
  const goBin = buildGoProgram("ref");
  setTimeout(() => fail(`not done within ${DEADLINE_MS / 1000} s`), DEADLINE_MS).unref();

  const ours = await startOurs();
  const m = await measure(ours, connections);
  const finalStats = ours.lastStats()!;
  // After the measurement, on other addresses: it cannot disturb the figures above.
  const bareRate = await bareLoopRate(BARE_CONNECTIONS);
  // Then the Go reference, the same steps on its own addresses.
  const go = figures(await measure(await startGo(goBin), connections));

  const f = figures(m);
  const topCaches = slabBreakdown(m.caches.before, m.caches.after, connections);
  const ratios = oursOverGo(f, go);
  const result = {
    type: "bench-workload",
    connections,
    ...f,
    bareLoopConnectsPerSec: bareRate,
    slabTopCaches: topCaches,
    serverTotal: finalStats.total,
    perLocalAddress: finalStats.perLocalAddress,
    go,
    oursOverGo: ratios,
  };
  printTable(ourRows(connections, f, bareRate, topCaches));
  process.stdout.write("\n");
  printTable(comparisonRows(f, go, ratios));
  process.stdout.write(JSON.stringify(result) + "\n");
  if ([f, go].some((x) => x.clientFailed > 0 || x.serverExit !== 0)) process.exitCode = 1;
}

main().catch((err: Error) => fail(err.message));
