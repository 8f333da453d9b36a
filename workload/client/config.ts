// The client's configuration from flags and C1M_* environment (a flag wins over its env var).
// Pure, unit-tested.
import { hostname } from "node:os";
import { STEP_SIGNAL } from "../../shared/findLimit.js";
import {
  CLIENT_ENV,
  CLIENT_MAX_PROCESSES,
  JITTERS,
  RECONNECT_DEFAULTS,
  type Jitter,
  type ReconnectPolicy,
} from "../../shared/protocol.js";
import {
  UsageError,
  parseBoolOption,
  parseFlags,
  parseHostPort,
  parseIntOption,
  parseIpList,
  parseNumberOption,
  splitList,
  type HostPort,
} from "../cliArgs.js";

/** interleaved: each connect goes to the next target; blocks: all of target 1's share, then target 2's... */
export const TARGET_ORDERS = ["interleaved", "blocks"] as const;
export type TargetOrder = (typeof TARGET_ORDERS)[number];

export interface ClientConfig {
  targets: HostPort[];
  targetOrder: TargetOrder;
  connections: number;
  /** New connects per second. */
  connectRate: number;
  maxInFlight: number;
  connectTimeoutMs: number;
  pingPayload: string;
  /** Each established socket gets the payload about once per interval; 0 = never. */
  pingIntervalSeconds: number;
  /** 0 = hold until SIGTERM/SIGINT. */
  holdSeconds: number;
  retry: boolean;
  /** Reconnect an established connection that closes (after the same backoff), forever. */
  reconnectDropped: boolean;
  /** How long a retry or a reconnect waits. */
  reconnect: ReconnectPolicy;
  sourceAddresses: string[];
  name: string;
  /** How often a status line is printed (flag only; 1000 in the lab). */
  statusIntervalMs: number;
  /** find-limit: start at this many and add as many per step signal, up to `connections`; 0 = all at once. */
  stepConnections: number;
}

export const CLIENT_DEFAULTS = {
  connectRate: 5000,
  maxInFlight: 256,
  connectTimeoutMs: 10_000,
  pingPayload: "ping",
  pingIntervalSeconds: 100,
  holdSeconds: 0,
  statusIntervalMs: 1000,
  targetOrder: "interleaved",
} as const;

export const CLIENT_USAGE = `Usage: node dist/workload/client.js [options]

Opens and holds many idle TCP connections, printing one JSON status line per second.
Every option can also come from the environment variable in brackets; the flag wins.

  --targets IP:PORT,...          servers to connect to, round-robin   [${CLIENT_ENV.targets}] (required)
  --connections N                connections to open and hold         [${CLIENT_ENV.connections}] (required)
  --target-order ORDER           interleaved (each connect to the next target) or blocks (each
                                 target's share in turn: at scale, the server's accept work stays in
                                 a few processes at a time) (default ${CLIENT_DEFAULTS.targetOrder})   [${CLIENT_ENV.targetOrder}]
  --connect-rate N               new connects per second (default ${CLIENT_DEFAULTS.connectRate})   [${CLIENT_ENV.connectRate}]
  --max-in-flight N              connects pending at once (default ${CLIENT_DEFAULTS.maxInFlight})   [${CLIENT_ENV.maxInFlight}]
  --connect-timeout-ms N         give up on a connect after this (default ${CLIENT_DEFAULTS.connectTimeoutMs})   [${CLIENT_ENV.connectTimeoutMs}]
  --ping-payload TEXT            bytes each socket sends per interval (default "${CLIENT_DEFAULTS.pingPayload}")   [${CLIENT_ENV.pingPayload}]
  --ping-interval-seconds N      ping each socket about this often, 0 = never (default ${CLIENT_DEFAULTS.pingIntervalSeconds})   [${CLIENT_ENV.pingIntervalSeconds}]
  --hold-seconds N               hold this long once ramped, 0 = until SIGTERM/SIGINT (default 0)   [${CLIENT_ENV.holdSeconds}]
  --retry                        retry failed connects, capped exponential backoff   [${CLIENT_ENV.retry}=1]
  --reconnect                    reconnect an established connection that closes, after the backoff
                                 below (attempt 1 first, +1 per failed try), round-robin over the
                                 targets; not paced by --connect-rate or --max-in-flight (each
                                 connection acts on its own, as a crowd of devices would)   [${CLIENT_ENV.reconnect}=1]
  --reconnect-base-ms N          retry n waits up to min(cap, base * 2^(n-1)) ms (default ${RECONNECT_DEFAULTS.baseMs})   [${CLIENT_ENV.reconnectBaseMs}]
  --reconnect-cap-ms N           ... and never longer than this, at least base (default ${RECONNECT_DEFAULTS.capMs})   [${CLIENT_ENV.reconnectCapMs}]
  --reconnect-jitter J           full: a uniformly random wait up to that bound (AWS "full jitter",
                                 spreads a crowd); none: exactly the bound (the crowd retries in
                                 step) (default ${RECONNECT_DEFAULTS.jitter})   [${CLIENT_ENV.reconnectJitter}]
  --source-addresses IP,...      bind sockets to these source IPs, round-robin   [${CLIENT_ENV.sourceAddresses}]
  --step-connections N           find-limit: open N, then N more at each ${STEP_SIGNAL}, up to
                                 --connections (default 0: all at once)   [${CLIENT_ENV.stepConnections}]
  --name NAME                    name in status lines (default the hostname)   [${CLIENT_ENV.clientName}]
  --status-interval-ms N         status line period (default ${CLIENT_DEFAULTS.statusIntervalMs})
  --help                         this text

Connections are bare TCP handles (no net.Socket each: a fraction of the CPU and memory); set
C1M_CLIENT_NET_SOCKETS=1 for net.Socket, which is also the fallback where Node lacks them.
Each ping is the payload and 8 bytes of its send time; the server's echo of it is a round trip.
Once ramped, status lines carry "rtt": pings owed an answer (sent 5 s ago or more), those answered
within 5 s, and the round trips as an HDR histogram (base64, microseconds).

More connections than one process's open-file limit allows run as several processes (up to
${CLIENT_MAX_PROCESSES}), each with its share of the connections, --connect-rate and --max-in-flight and the
targets in a rotated order; this one prints the status lines for all of them.

Exit: 0 if the target was reached (and held for --hold-seconds), 1 if not (or a process of it
died), 2 for bad input (including more connections than ${CLIENT_MAX_PROCESSES} processes can hold).`;

/** Connections to open at start: all of them, or (find-limit) the first step. */
export function firstTarget(config: Pick<ClientConfig, "connections" | "stepConnections">): number {
  return config.stepConnections > 0 ? Math.min(config.stepConnections, config.connections) : config.connections;
}

export type ParsedClientArgs = { help: true } | { help: false; config: ClientConfig };

type Env = Readonly<Record<string, string | undefined>>;

export function parseClientArgs(argv: string[], env: Env): ParsedClientArgs {
  const values = parseFlags(argv, {
    targets: { type: "string" },
    connections: { type: "string" },
    "target-order": { type: "string" },
    "connect-rate": { type: "string" },
    "max-in-flight": { type: "string" },
    "connect-timeout-ms": { type: "string" },
    "ping-payload": { type: "string" },
    "ping-interval-seconds": { type: "string" },
    "hold-seconds": { type: "string" },
    retry: { type: "boolean" },
    reconnect: { type: "boolean" },
    "reconnect-base-ms": { type: "string" },
    "reconnect-cap-ms": { type: "string" },
    "reconnect-jitter": { type: "string" },
    "source-addresses": { type: "string" },
    name: { type: "string" },
    "status-interval-ms": { type: "string" },
    "step-connections": { type: "string" },
    help: { type: "boolean", default: false },
  });
  if (values.help) return { help: true };

  // flag value, else env value, else undefined; `label` names both in messages.
  const pick = (flag: keyof typeof values, envName?: string): { raw?: string; label: string } => {
    const v = values[flag];
    if (typeof v === "string") return { raw: v, label: `--${flag}` };
    const e = envName === undefined ? undefined : env[envName];
    return { raw: e === "" ? undefined : e, label: envName ?? `--${flag}` };
  };
  const int = (flag: keyof typeof values, envName: string | undefined, dflt: number | undefined, min: number) => {
    const { raw, label } = pick(flag, envName);
    if (raw === undefined) {
      if (dflt === undefined) throw new UsageError(`--${flag} (or ${envName}) is required`);
      return dflt;
    }
    return parseIntOption(label, raw, { min });
  };

  const targetsOpt = pick("targets", CLIENT_ENV.targets);
  if (targetsOpt.raw === undefined) throw new UsageError(`--targets (or ${CLIENT_ENV.targets}) is required`);
  const targets = splitList(targetsOpt.raw).map((t) => parseHostPort(targetsOpt.label, t));
  if (targets.length === 0) throw new UsageError(`${targetsOpt.label}: no targets`);

  const order = pick("target-order", CLIENT_ENV.targetOrder);
  const targetOrder = order.raw ?? CLIENT_DEFAULTS.targetOrder;
  if (!(TARGET_ORDERS as readonly string[]).includes(targetOrder))
    throw new UsageError(`${order.label}: expected ${TARGET_ORDERS.join(" or ")}, got "${targetOrder}"`);
  const pingInterval = pick("ping-interval-seconds", CLIENT_ENV.pingIntervalSeconds);
  const hold = pick("hold-seconds", CLIENT_ENV.holdSeconds);
  const sources = pick("source-addresses", CLIENT_ENV.sourceAddresses);
  const retryEnv = env[CLIENT_ENV.retry];
  const reconnectEnv = env[CLIENT_ENV.reconnect];
  const reconnect = reconnectPolicy(
    int("reconnect-base-ms", CLIENT_ENV.reconnectBaseMs, RECONNECT_DEFAULTS.baseMs, 1),
    pick("reconnect-cap-ms", CLIENT_ENV.reconnectCapMs),
    pick("reconnect-jitter", CLIENT_ENV.reconnectJitter),
  );
  const payload = pick("ping-payload", CLIENT_ENV.pingPayload).raw ?? CLIENT_DEFAULTS.pingPayload;

  return {
    help: false,
    config: {
      targets,
      targetOrder: targetOrder as TargetOrder,
      connections: int("connections", CLIENT_ENV.connections, undefined, 1),
      connectRate: int("connect-rate", CLIENT_ENV.connectRate, CLIENT_DEFAULTS.connectRate, 1),
      maxInFlight: int("max-in-flight", CLIENT_ENV.maxInFlight, CLIENT_DEFAULTS.maxInFlight, 1),
      connectTimeoutMs: int("connect-timeout-ms", CLIENT_ENV.connectTimeoutMs, CLIENT_DEFAULTS.connectTimeoutMs, 1),
      pingPayload: payload,
      pingIntervalSeconds:
        pingInterval.raw === undefined
          ? CLIENT_DEFAULTS.pingIntervalSeconds
          : parseNumberOption(pingInterval.label, pingInterval.raw, { min: 0 }),
      holdSeconds: hold.raw === undefined ? CLIENT_DEFAULTS.holdSeconds : parseNumberOption(hold.label, hold.raw, { min: 0 }),
      retry: values.retry ?? (retryEnv === undefined ? false : parseBoolOption(CLIENT_ENV.retry, retryEnv)),
      reconnectDropped:
        values.reconnect ?? (reconnectEnv === undefined ? false : parseBoolOption(CLIENT_ENV.reconnect, reconnectEnv)),
      reconnect,
      sourceAddresses: sources.raw === undefined ? [] : parseIpList(sources.label, sources.raw),
      name: pick("name", CLIENT_ENV.clientName).raw ?? hostname(),
      statusIntervalMs: int("status-interval-ms", undefined, CLIENT_DEFAULTS.statusIntervalMs, 10),
      stepConnections: int("step-connections", CLIENT_ENV.stepConnections, 0, 0),
    },
  };
}

/** The retry schedule's settings, checked: a cap below the base, or an unknown jitter, is refused. */
function reconnectPolicy(
  baseMs: number,
  cap: { raw?: string; label: string },
  jitter: { raw?: string; label: string },
): ReconnectPolicy {
  if (cap.raw === undefined && baseMs > RECONNECT_DEFAULTS.capMs)
    throw new UsageError(
      `--reconnect-base-ms (or ${CLIENT_ENV.reconnectBaseMs}) ${baseMs} is above the default cap ${RECONNECT_DEFAULTS.capMs}: set --reconnect-cap-ms (or ${cap.label}) to at least ${baseMs}`,
    );
  const capMs = cap.raw === undefined ? RECONNECT_DEFAULTS.capMs : parseIntOption(cap.label, cap.raw, { min: 1 });
  if (capMs < baseMs) throw new UsageError(`${cap.label}: expected at least the base (${baseMs} ms), got ${capMs}`);
  const j = jitter.raw ?? RECONNECT_DEFAULTS.jitter;
  if (!(JITTERS as readonly string[]).includes(j))
    throw new UsageError(`${jitter.label}: expected ${JITTERS.join(" or ")}, got "${j}"`);
  return { baseMs, capMs, jitter: j as Jitter };
}
