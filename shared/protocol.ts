// Shapes exchanged between the lab's programs: the server's /stats JSON, the client's status
// lines, and the client's environment. Types only, so every side (server, client, verify,
// infra) agrees without importing each other's code.

/** GET /stats on the server's metrics port (sum over all workers). */
export interface ServerStats {
  /** Live connections now. */
  total: number;
  /** Accepted since start. */
  accepted: number;
  /** Closed since start (by peer, reset or error). */
  closed: number;
  /** Accepts per second over the last few seconds. */
  acceptRate: number;
  workers: number;
  uptimeSeconds: number;
  /** Live connections per local "ip:port" the server listens on. */
  perLocalAddress: Record<string, number>;
  /** Live connections per remote IP (after NAT: the client host's address). */
  perRemoteIp: Record<string, number>;
  /** Per local "ip:port", a few live remote "ip:port" pairs. */
  samples: Record<string, string[]>;
  /**
   * The article's proof: per remote IP, how many of its source ports are in use toward more
   * than one local address at once, with one example port and the local addresses it reaches.
   */
  sharedSourcePorts: Record<string, { count: number; example?: { port: number; localAddresses: string[] } }>;
  /** Optional: connections one worker can hold (open-file soft limit minus a reserve). */
  capacityPerWorker?: number;
  /** Optional: per server worker, live connections and accept-side health. */
  perWorker?: ServerWorkerStats[];
  /** Optional: accept failures over all workers (each one a connection libuv closed unseen). */
  acceptErrors?: number;
  /** Optional: workers holding capacityPerWorker connections or more (at their fd limit). */
  workersAtCapacity?: number;
  /** Optional: CPU time (user + system, seconds) of the primary and its workers since they started. */
  cpuSeconds?: number;
  /** Optional: the server host's memory and its network namespace's TCP counters (cumulative). */
  kernel?: KernelStats;
}

/** Read off the server's /proc at each /stats; counters are cumulative since the namespace (or boot). */
export interface KernelStats {
  /** /proc/meminfo MemAvailable, bytes; null if absent. */
  memAvailableBytes: number | null;
  /** Tcp PassiveOpens: handshakes the server side completed (SYN received and answered). */
  passiveOpens: number;
  /** TcpExt ListenOverflows: completed handshakes dropped because an accept queue was full. */
  listenOverflows: number;
  /** TcpExt ListenDrops: SYNs and handshakes a listener dropped, for any reason. */
  listenDrops: number;
  /** TcpExt TCPReqQFullDrop: SYNs dropped because the SYN queue was full (no syncookies). */
  reqQFullDrops: number;
  /** TcpExt SyncookiesSent. */
  syncookiesSent: number;
}

export interface ServerWorkerStats {
  pid: number;
  total: number;
  accepted: number;
  closed: number;
  acceptErrors: number;
  /** Stopped accepting at capacity (the other workers take the new connections). */
  paused: boolean;
  pauses: number;
  /** CPU time (user + system, seconds) since it started. */
  cpuSeconds?: number;
}

/** Failure classes the client counts. */
export const FAILURE_CLASSES = ["timeout", "refused", "addrnotavail", "reset", "emfile", "other"] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

/** One JSON line per second on the client's stdout; the last one has `final: true`. */
export interface ClientStatus {
  type: "status";
  /** Container or process name (C1M_CLIENT_NAME, default the hostname). */
  client: string;
  target: number;
  established: number;
  inFlight: number;
  /** Connects started so far (including retries). */
  attempted: number;
  failed: Record<FailureClass, number>;
  /** Established connections that later closed (reset by peer, error). */
  dropped: number;
  /** Connects per second over the last second. */
  rate: number;
  elapsedSeconds: number;
  /** When the target was first reached, seconds after start. */
  rampSeconds: number | null;
  final: boolean;
  /** Round trips of the pings since this client's ramp ended (absent when it does not ping). */
  rtt?: ClientRtt;
  /** With --reconnect: dropped connections established again so far (absent without it). */
  reconnected?: number;
  /** With --reconnect: dropped connections waiting for their backoff to run out, or connecting again. */
  reconnecting?: number;
}

/**
 * Pings and their echoes. Each ping is the payload followed by PING_STAMP_BYTES of the client's
 * send time; the server writes back whatever it reads, so the client needs no state per ping.
 */
export interface ClientRtt {
  /** Pings sent since the ramp ended, up to PING_ANSWER_DUE_SECONDS ago. */
  pings: number;
  /** How many of those were answered within PING_ANSWER_DUE_SECONDS (the rest count as lost). */
  echoes: number;
  /** Round-trip times in microseconds, an HDR histogram (V2, compressed, base64; see workload/rttHistogram.ts). */
  histogram: string;
}

/** Bytes of send time (float64 LE, the client's performance.now() in ms) after each ping's payload. */
export const PING_STAMP_BYTES = 8;

/** A ping not answered this long after it left is lost (no round-trip bound may be longer). */
export const PING_ANSWER_DUE_SECONDS = 5;

/**
 * A hold that bounds round trips lasts at least the ping interval plus this: a ping is owed an
 * answer for PING_ANSWER_DUE_SECONDS, then shows in the client's next status line (≤ 1 s) and is
 * read at the connection test's next poll (2 s by default).
 */
export const PING_HOLD_MARGIN_SECONDS = PING_ANSWER_DUE_SECONDS + 4;

/** Most processes one client container runs; each holds what its open-file limit allows (workload/client/parts.ts). */
export const CLIENT_MAX_PROCESSES = 64;

/**
 * Environment the client reads (each also a flag: C1M_CONNECT_RATE ⇔ --connect-rate).
 * Containers are configured through these only.
 */
export const CLIENT_ENV = {
  targets: "C1M_TARGETS", // "10.0.0.2:9000,10.0.0.3:9000"
  connections: "C1M_CONNECTIONS",
  targetOrder: "C1M_TARGET_ORDER", // interleaved | blocks
  connectRate: "C1M_CONNECT_RATE", // per second
  maxInFlight: "C1M_MAX_IN_FLIGHT",
  connectTimeoutMs: "C1M_CONNECT_TIMEOUT_MS",
  pingPayload: "C1M_PING_PAYLOAD",
  pingIntervalSeconds: "C1M_PING_INTERVAL_SECONDS",
  holdSeconds: "C1M_HOLD_SECONDS", // 0 = until stopped
  retry: "C1M_RETRY", // "1" = retry failed connects with capped backoff
  reconnect: "C1M_RECONNECT", // "1" = reconnect established connections that close, with the same backoff
  reconnectBaseMs: "C1M_RECONNECT_BASE_MS", // first retry's ceiling, doubling per retry
  reconnectCapMs: "C1M_RECONNECT_CAP_MS", // longest wait
  reconnectJitter: "C1M_RECONNECT_JITTER", // full | none
  sourceAddresses: "C1M_SOURCE_ADDRESSES", // optional: bind to these, round-robin
  clientName: "C1M_CLIENT_NAME",
  stepConnections: "C1M_STEP_CONNECTIONS", // find-limit: start at one step, one more per STEP_SIGNAL
} as const;

/** full: AWS's "full jitter" (a uniformly random wait up to the backoff's bound); none: the bound. */
export const JITTERS = ["full", "none"] as const;
export type Jitter = (typeof JITTERS)[number];

/** How long a client waits before trying a failed connect again (workload/client/backoff.ts). */
export interface ReconnectPolicy {
  /** Bound of the first retry's wait, doubling per retry. */
  baseMs: number;
  /** No retry waits longer. */
  capMs: number;
  jitter: Jitter;
}

/** Today's bounds (250 ms doubling to 30 s), spread by full jitter. */
export const RECONNECT_DEFAULTS: Readonly<ReconnectPolicy> = { baseMs: 250, capMs: 30_000, jitter: "full" };

/**
 * The environment variable the lab's local ssh steps (the wait for ssh, the connection test's
 * tunnel to a VM's metrics) read the ssh private key from; unset: the ssh-agent at SSH_AUTH_SOCK.
 */
export const SSH_KEY_ENV = "C1M_SSH_PRIVATE_KEY";

/**
 * What a client prints once SIGHUP made it reset every connection (it stays up until SIGTERM):
 * the lab's stop (infra/clients/drain.ts) waits for this text in each client's log.
 */
export const CLIENT_RESET_MARK = '{"type":"reset"';

/** The client image's label (workload/Dockerfile) saying its client resets on SIGHUP; an older image's client would ignore the signal (PID 1). */
export const CLIENT_HUP_LABEL = "c1m-lab.stop=hup";

/**
 * What the connection test does after the hold. hold: nothing more. reconnect-storm: restart
 * the server under load and measure the clients' way back. conntrack-flush: delete the lab's
 * NAT (conntrack) entries on the client host and watch what the held connections do
 * (workload/verify/scenarios/).
 */
export const TEST_SCENARIOS = ["hold", "reconnect-storm", "conntrack-flush"] as const;
export type TestScenario = (typeof TEST_SCENARIOS)[number];

/** reconnect-storm: every connection back within this long of the restart, unless test.maxRecoverySeconds says otherwise. */
export const DEFAULT_MAX_RECOVERY_SECONDS = 60;

/**
 * conntrack-flush: the clients' pings are what needs the NAT again after the delete, so they must
 * come at least this often (clients.ping.intervalSeconds).
 */
export const FLUSH_MAX_PING_SECONDS = 10;

/**
 * conntrack-flush watches at least this long after the delete (unless its bound is shorter): every
 * connection has pinged since (FLUSH_MAX_PING_SECONDS), the answer was due, and the clients' lines
 * said so (PING_HOLD_MARGIN_SECONDS).
 */
export const FLUSH_MIN_OBSERVE_SECONDS = FLUSH_MAX_PING_SECONDS + PING_HOLD_MARGIN_SECONDS;

/** The environment variable that hands the connection test the server's restart script (bash text; no secret in it). */
export const RESTART_SCRIPT_ENV = "C1M_RESTART_SCRIPT";
