// A server worker: listens on the shared sockets (cluster SCHED_NONE, the kernel spreads
// accepts) and holds idle connections as cheaply as Node allows: each one is a bare TCP handle
// (see rawAccept.ts; net.Socket only where that is unavailable), input echoed back, one integer
// of state per connection. Importing it does nothing: the entry (../server.ts) calls
// runWorker() in a cluster worker (the primary forks that same entry file).
import { existsSync } from "node:fs";
import net from "node:net";
import { formatHostPort } from "../cliArgs.js";
import { FD_RESERVE, readOpenFilesLimit, usableSockets } from "../limits.js";
import { ConnectionTable, UNTRACKED } from "./connectionTable.js";
import {
  cpuSecondsOfThisProcess,
  isPrimaryMessage,
  WORKER_CONFIG_ENV,
  type WorkerConfig,
  type WorkerHealth,
  type WorkerMessage,
} from "./ipc.js";
import type { TcpHandle } from "../tcpHandles.js";
import { rawAcceptOf, type RawAccept } from "./rawAccept.js";
import { workerCapacity } from "./testCapacity.js";

/** Env var that makes the worker wrap every connection in a net.Socket (the fallback path). */
export const NET_SOCKETS_ENV = "C1M_SERVER_NET_SOCKETS";
/**
 * Test hook: a file path; once that file exists (looked for each second), the worker reads and
 * drops, answering no ping: a server that accepts but stopped serving its connections.
 */
export const MUTE_FILE_ENV = "C1M_SERVER_TEST_MUTE_FILE";

interface TrackedHandle extends TcpHandle {
  c1mToken?: number;
}
interface TrackedSocket extends net.Socket {
  _handle: TcpHandle | null;
  c1mToken?: number;
}

/** Set by runWorker: null means one net.Socket per connection. */
let rawAccept: RawAccept<TrackedHandle> | null = null;
const table = new ConnectionTable();
// Reused out-parameters: asking the handle directly avoids net.Socket caching a
// { address, family, port } object on every socket (remoteAddress/localAddress getters do).
const peerOut: { address?: string; port?: number } = {};
const selfOut: { address?: string; port?: number } = {};

function send(msg: WorkerMessage, then?: () => void): void {
  if (process.connected && process.send) process.send(msg, undefined, {}, then);
  else then?.();
}

let echo = true;
const echoing = (): boolean => echo;
let muteFile: string | undefined;

/** Shared by every socket (`this`): the net.Socket path's echo. */
function echoData(this: net.Socket, chunk: Buffer): void {
  // Nothing queued yet: a peer that floods without reading gets no more echoes (memory bounded).
  if (echo && this.writableLength === 0) this.write(chunk);
}

function ignoreError(): void {
  // 'close' follows every error; counting happens there. Without a listener a reset would crash.
}

function connectionEnded(token: number | undefined): void {
  table.remove(token ?? UNTRACKED);
  if (paused && table.total <= resumeAt) resumeAccepting();
}

function onSocketClose(this: TrackedSocket): void {
  connectionEnded(this.c1mToken);
}

/** Records a new connection by its peer (and local) address; returns its table token. */
function trackPeer(handle: TcpHandle | null, fixedLocal: string | null): number {
  let remoteIp: string | undefined;
  let remotePort: number | undefined;
  if (handle !== null && handle.getpeername(peerOut) === 0) {
    remoteIp = peerOut.address;
    remotePort = peerOut.port;
  }
  let local = fixedLocal;
  if (local === null) {
    local =
      handle !== null && handle.getsockname(selfOut) === 0
        ? formatHostPort(selfOut.address ?? "?", selfOut.port ?? 0)
        : "unknown";
  }
  const token = table.add(local, remoteIp, remotePort);
  if (!paused && table.total >= capacity) pauseAccepting();
  return token;
}

function trackSocket(socket: TrackedSocket, fixedLocal: string | null): void {
  socket.c1mToken = trackPeer(socket._handle, fixedLocal);
  socket.on("error", ignoreError);
  socket.on("close", onSocketClose);
  // Flowing mode: whatever the peer sends is echoed (or, without echo, read and dropped), so a
  // flood costs CPU, never buffered memory on our side.
  socket.on("data", echoData);
  socket.resume();
}

// Workers share the listening sockets (SCHED_NONE) and the kernel wakes whichever it likes, so
// accepts spread unevenly: measured at 100k over 6 workers, two reached 20,000 fds while others
// held 7,845 and 9,515. A worker past its fd limit gets EMFILE, and libuv's answer (close a
// reserved fd, accept and close everything pending) silently drops connections the kernel had
// already completed: the clients saw them established, then closed. So a worker that holds as
// many connections as its fds allow closes its copies of the listeners (the other workers keep
// accepting from the same queues) and listens again once it is well below. The plan's worker
// count then only needs to cover the target, not the skew. Once every worker of a listener is
// full, cluster closes it: further connects are refused and queued ones reset, which the
// clients count as failures, never as connections the server accepted and then lost.
// Set by runWorker (from the worker's open-files limit).
let capacity = 0;
let resumeAt = 0;
let servers: net.Server[] = [];
/** Where to listen again after a pause: the bound ports (a --port 0 must not move). */
let endpoints: Array<{ host: string; port: number }> = [];
let backlog = 0;
let paused = false;
let pauses = 0;

function pauseAccepting(): void {
  paused = true;
  pauses++;
  for (const s of servers) s.close();
  send({ c1m: "counters", ...table.counters(), ...health() });
}

function resumeAccepting(): void {
  if (endpoints.length === 0) return;
  paused = false;
  listenAll(endpoints, backlog).then(
    (listening) => {
      servers = listening;
    },
    (err: Error) => {
      process.stderr.write(`c1m-server worker ${process.pid}: listening again failed: ${err.message}\n`);
    },
  );
}

function health(): WorkerHealth {
  return { acceptErrors, paused, pauses, cpuSeconds: cpuSecondsOfThisProcess() };
}

let lastAcceptErrorLog = 0;
let acceptErrors = 0;

function listenAll(at: Array<{ host: string; port: number }>, backlog: number): Promise<net.Server[]> {
  return Promise.all(
    at.map(
      ({ host, port }) =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer({ keepAlive: false, noDelay: false, pauseOnConnect: false });
          // A wildcard listener learns the local address per connection; a specific one knows it.
          let fixedLocal: string | null = null;
          server.on("connection", (socket: net.Socket) => trackSocket(socket as TrackedSocket, fixedLocal));
          server.once("error", reject);
          server.listen({ host, port, backlog, exclusive: false }, () => {
            server.off("error", reject);
            // After listening, errors are accept failures (EMFILE, ENFILE...): keep serving.
            server.on("error", onAcceptError);
            const addr = server.address() as net.AddressInfo;
            if (host !== "0.0.0.0" && host !== "::") fixedLocal = formatHostPort(addr.address, addr.port);
            rawAccept?.attach(
              server,
              (handle) => (handle.c1mToken = trackPeer(handle, fixedLocal)),
              (handle) => connectionEnded(handle.c1mToken),
              onAcceptError,
            );
            resolve(server);
          });
        }),
    ),
  );
}

function onAcceptError(err: Error): void {
  acceptErrors++;
  const now = Date.now();
  if (now - lastAcceptErrorLog >= 1000) {
    lastAcceptErrorLog = now;
    process.stderr.write(`c1m-server worker ${process.pid}: accept error ${err.message} (${acceptErrors} so far)\n`);
  }
}

// A ramp leaves the heap full of dead short-lived objects (connect requests, ticks) between live
// sockets. V8's memory reducer compacts it eventually, but not on a schedule one can rely on; so
// once accepts and closes have stopped for 2 s after a large change, the worker compacts itself
// (needs --expose-gc, which the primary passes). Idle connections then cost what they hold.
const COMPACT_AFTER_CHURN = 1000;
const QUIET_TICKS = 2;
const runGc = (globalThis as { gc?: () => void }).gc;
let churnAtLastCompact = 0;
let lastChurn = 0;
let quietTicks = 0;

function compactWhenQuiet(): void {
  const churn = table.accepted + table.closed;
  quietTicks = churn === lastChurn ? quietTicks + 1 : 0;
  lastChurn = churn;
  if (runGc !== undefined && quietTicks === QUIET_TICKS && churn - churnAtLastCompact >= COMPACT_AFTER_CHURN) {
    churnAtLastCompact = churn;
    runGc();
  }
}

/** Runs this process as a server worker (forked by the primary, config in WORKER_CONFIG_ENV). */
export function runWorker(): void {
  const raw = process.env[WORKER_CONFIG_ENV];
  if (raw === undefined) {
    process.stderr.write(`worker started without ${WORKER_CONFIG_ENV}; run dist/workload/server.js instead\n`);
    process.exit(2);
  }
  muteFile = process.env[MUTE_FILE_ENV] || undefined;
  rawAccept = process.env[NET_SOCKETS_ENV] === "1" ? null : rawAcceptOf<TrackedHandle>(echoing);
  if (rawAccept === null) {
    process.stderr.write(
      `c1m-server worker ${process.pid}: one net.Socket per connection (bare TCP handles unavailable or ${NET_SOCKETS_ENV}=1)\n`,
    );
  }
  capacity = workerCapacity(usableSockets(readOpenFilesLimit(), FD_RESERVE));
  resumeAt = Math.max(0, capacity - 1000);
  const config = JSON.parse(raw) as WorkerConfig;
  backlog = config.backlog;

  const shutdown = (): void => {
    for (const s of servers) s.close();
    // Exiting closes every connection's fd (the kernel sends FIN); destroying 20k sockets one by
    // one from JS would only be slower.
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  process.on("message", (msg: unknown) => {
    if (!isPrimaryMessage(msg)) return;
    if (msg.c1m === "shutdown") shutdown();
    else if (msg.c1m === "report") send({ c1m: "report", id: msg.id, ...table.counters(), ...health(), groups: table.report() });
  });

  listenAll(
    config.addresses.map((host) => ({ host, port: config.port })),
    backlog,
  ).then(
    (listening) => {
      servers = listening;
      endpoints = config.addresses.map((host, i) => ({ host, port: (servers[i]!.address() as net.AddressInfo).port }));
      const addresses = servers.map((s) => {
        const a = s.address() as net.AddressInfo;
        return formatHostPort(a.address, a.port);
      });
      send({ c1m: "listening", pid: process.pid, addresses });
      // Cheap heartbeat for the primary's accept rate; full reports only when asked.
      setInterval(() => {
        send({ c1m: "counters", ...table.counters(), ...health() });
        compactWhenQuiet();
        if (muteFile !== undefined && echo) echo = !existsSync(muteFile);
      }, 1000);
    },
    (err: Error) => {
      send({ c1m: "fatal", message: `listen failed: ${err.message}` }, () => process.exit(1));
    },
  );
}
