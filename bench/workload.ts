// Loopback benchmark of the workload: server memory per idle connection, client connect rate,
// kernel memory per connection. `node dist/bench/workload.js [--connections 19000]`.
// Everything stays on 127.0.0.0/8; children are always killed; the whole run is time-bounded.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { get } from "node:http";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { parseFlags, parseIntOption } from "../workload/cliArgs.js";
import type { ClientStatus, ServerStats } from "../shared/protocol.js";
import { rssKiB } from "./proc.js";

const DIST_WORKLOAD = fileURLToPath(new URL("../workload/", import.meta.url));
const SERVER_JS = DIST_WORKLOAD + "server.js";
const CLIENT_JS = DIST_WORKLOAD + "client.js";
// Several listen addresses: a single destination ip:port makes Linux's ephemeral port search
// slow past ~14k connections from one process; spreading destinations avoids it.
const SERVER_ADDRESSES = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"];
const DEADLINE_MS = 90_000;
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

function startNode(args: string[], onLine: (line: string) => void): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
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
function crossing(lines: ClientStatus[], mark: number): number | undefined {
  let prev: ClientStatus | undefined;
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

interface ClientRun {
  child: ChildProcess;
  lines: ClientStatus[];
}

function runClient(targets: string, connections: number, extra: string[] = []): ClientRun {
  const lines: ClientStatus[] = [];
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
      "1024",
      "--ping-interval-seconds",
      "0",
      "--name",
      "bench",
      ...extra,
    ],
    (line) => {
      try {
        lines.push(JSON.parse(line) as ClientStatus);
      } catch {
        // not a status line
      }
    },
  );
  return { child, lines };
}

async function main(): Promise<void> {
  let connections: number;
  try {
    const values = parseFlags(process.argv.slice(2), { connections: { type: "string", default: "19000" } });
    connections = parseIntOption("--connections", values.connections, { min: FIRST_MARK });
  } catch (err) {
    fail((err as Error).message);
  }
  setTimeout(() => fail(`not done within ${DEADLINE_MS / 1000} s`), DEADLINE_MS).unref();

  let listening: { workerPids: number[]; addresses: string[]; metrics: string } | undefined;
  const server = startNode(
    [SERVER_JS, "--port", "0", "--addresses", SERVER_ADDRESSES.join(","), "--metrics-port", "0", "--workers", "1"],
    (line) => {
      const msg = JSON.parse(line) as { type?: string };
      if (msg.type === "listening") listening = msg as typeof listening;
    },
  );
  const up = await waitFor("server to listen", 10_000, () => listening);
  const workerPid = up.workerPids[0]!;
  const targets = up.addresses.join(",");
  const stats = (): Promise<ServerStats> => getJson<ServerStats>(`http://${up.metrics}/stats`);
  const serverTotal = (n: number) => async () => ((await stats()).total === n ? true : undefined);

  // Warm-up: JIT the server's accept/close paths, then let the count drop back to zero.
  const warm = runClient(targets, 2000, ["--hold-seconds", "0.5"]);
  await waitExit(warm.child, 15_000);
  await waitFor("warm-up connections to close", 10_000, serverTotal(0));

  // Client baseline: a process holding one connection.
  const base = runClient(targets, 1);
  await waitFor("baseline client", 5_000, () => (base.lines.length > 0 ? true : undefined));
  const clientBaseKiB = rssKiB(base.child.pid!);
  base.child.kill("SIGTERM");
  await waitExit(base.child, 5_000);
  await waitFor("baseline connection to close", 5_000, serverTotal(0));

  const serverBaseKiB = await settledRss(workerPid, REDUCER_WAIT_MS, REDUCER_WAIT_MS + 8_000);
  const slabBaseKiB = slabKiB();
  const cachesBefore = slabCaches();

  const run = runClient(targets, connections, ["--status-interval-ms", "50"]);
  const ramped = await waitFor("client ramp", 40_000, () => run.lines.find((s) => s.rampSeconds !== null));
  await waitFor("server to count every connection", 10_000, serverTotal(connections));
  const serverRampKiB = await settledRss(workerPid, 0, 6_000);
  const clientRampKiB = rssKiB(run.child.pid!);
  const slabKiBNow = slabKiB();
  const cachesAfter = slabCaches();
  const finalStats = await stats();
  const serverKiB = await settledRss(workerPid, REDUCER_WAIT_MS, REDUCER_WAIT_MS + 8_000);
  const clientKiB = rssKiB(run.child.pid!);
  const heldStats = await stats();
  if (heldStats.total !== connections) fail(`server lost connections while settling: ${heldStats.total}`);

  run.child.kill("SIGTERM");
  const clientCode = await waitExit(run.child, 5_000);
  server.kill("SIGTERM");
  const serverCode = await waitExit(server, 5_000);
  // After the measurement, on other addresses: it cannot disturb the figures above.
  const bareRate = await bareLoopRate(BARE_CONNECTIONS);

  const rampSeconds = ramped.rampSeconds!;
  const firstSeconds = crossing(run.lines, FIRST_MARK);
  const failed = Object.values(ramped.failed).reduce((a, b) => a + b, 0);
  const result = {
    type: "bench-workload",
    connections,
    serverRssBytesPerConn: Math.round(((serverKiB - serverBaseKiB) * 1024) / connections),
    serverRssBytesPerConnRightAfterRamp: Math.round(((serverRampKiB - serverBaseKiB) * 1024) / connections),
    clientRssBytesPerConn: Math.round(((clientKiB - clientBaseKiB) * 1024) / connections),
    clientRssBytesPerConnRightAfterRamp: Math.round(((clientRampKiB - clientBaseKiB) * 1024) / connections),
    slabBytesPerConn: Math.round(((slabKiBNow - slabBaseKiB) * 1024) / connections),
    connectsPerSecWholeRamp: Math.round(connections / rampSeconds),
    connectsPerSecFirst14k: firstSeconds === undefined ? null : Math.round(FIRST_MARK / firstSeconds),
    rampSeconds,
    bareLoopConnectsPerSec: bareRate,
    serverRssKiB: { before: serverBaseKiB, afterRamp: serverRampKiB, settled: serverKiB },
    clientRssKiB: { base: clientBaseKiB, afterRamp: clientRampKiB, settled: clientKiB },
    slabKiB: { before: slabBaseKiB, after: slabKiBNow },
    slabObjectBytesPerConn: slabObjectBytesPerConn(cachesBefore, cachesAfter, connections),
    slabTopCaches: slabBreakdown(cachesBefore, cachesAfter, connections),
    serverTotal: finalStats.total,
    perLocalAddress: finalStats.perLocalAddress,
    clientFailed: failed,
    clientExit: clientCode,
    serverExit: serverCode,
  };
  const rows: [string, string][] = [
    ["connections", String(connections)],
    ["server RSS / idle connection, settled", `${result.serverRssBytesPerConn} B (worker ${serverBaseKiB} → ${serverKiB} KiB)`],
    ["  right after the ramp", `${result.serverRssBytesPerConnRightAfterRamp} B (→ ${serverRampKiB} KiB)`],
    ["client RSS / connection, settled", `${result.clientRssBytesPerConn} B (${clientBaseKiB} → ${clientKiB} KiB)`],
    ["  right after the ramp", `${result.clientRssBytesPerConnRightAfterRamp} B (→ ${clientRampKiB} KiB)`],
    ["kernel Slab / connection (both ends)", `${result.slabBytesPerConn} B (${slabBaseKiB} → ${slabKiBNow} KiB)`],
    [
      "kernel slab objects / connection (both ends)",
      `${result.slabObjectBytesPerConn ?? "n/a"} B (live objects, /proc/slabinfo)`,
    ],
    ["connects/s, whole ramp", `${result.connectsPerSecWholeRamp} (${rampSeconds} s)`],
    ["connects/s, first 14k", String(result.connectsPerSecFirst14k)],
    [`  bare net.connect loop (${BARE_CONNECTIONS}), same machine`, String(bareRate)],
    ["client failures", String(failed)],
  ];
  for (const c of result.slabTopCaches) {
    rows.push([`  slab ${c.cache}`, `${c.bytesPerConn} B (${c.objectsPerConn} objects) / connection`]);
  }
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
  process.stdout.write(JSON.stringify(result) + "\n");
  if (failed > 0 || finalStats.total !== connections || serverCode !== 0) process.exitCode = 1;
}

main().catch((err: Error) => fail(err.message));
