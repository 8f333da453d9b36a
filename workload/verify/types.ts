// Shapes the connection test works with, and the zod schemas that validate whatever it reads
// from JSON (the plan file, the server's /stats, the clients' status lines, recorded fixtures).
// Types the pure modules (diagnose, report, chart, wait) share; no I/O here.
import { z } from "zod";
import type { CapacityPlan } from "../../shared/plan.js";
import type { ContainerCpu } from "./containerCpu.js";
import { FAILURE_CLASSES, type ClientStatus, type FailureClass, type ServerStats } from "../../shared/protocol.js";

/** The part of the CapacityPlan the test reads; a full CapacityPlan is one. */
export type VerifyPlan = Pick<
  CapacityPlan,
  | "strategy"
  | "target"
  | "predicted"
  | "ceiling"
  | "bindingLimit"
  | "losses"
  | "serverAddresses"
  | "serverPort"
  | "clientSources"
  | "natPool"
  | "containerPortRange"
  | "paths"
  | "containers"
  | "warnings"
  | "explanation"
>;

const count = z.number().int().nonnegative();
const portRange = z.object({ from: z.number().int().min(1).max(65535), to: z.number().int().min(1).max(65535), size: count });
const limitName = z.enum(["target", "nat-pool", "container-port-range", "conntrack", "client-fd-limit", "server-fd-limit"]);

/** Validates plan JSON (extra CapacityPlan fields pass through untouched). */
export const planSchema = z.looseObject({
  strategy: z.enum(["masquerade", "host-ips", "routed", "both"]),
  target: count,
  predicted: count,
  ceiling: count,
  bindingLimit: limitName,
  losses: z.partialRecord(limitName, count),
  serverAddresses: z.array(z.string()).min(1),
  serverPort: z.number().int().min(1).max(65535),
  clientSources: z.array(z.string()),
  natPool: portRange.nullable(),
  containerPortRange: portRange,
  paths: z.array(
    z.looseObject({
      source: z.string(),
      server: z.string(),
      port: z.number().int(),
      capacity: count,
      load: count,
      expected: count,
      kind: z.enum(["nat", "local"]),
    }),
  ),
  containers: z.array(
    z.looseObject({
      index: count,
      connections: count,
      // Plans from before client containers ran several processes lack it: they ran one.
      processes: z.number().int().min(1).default(1),
      targets: z.array(z.string()),
      network: count,
      source: z.string(),
      expected: count,
    }),
  ),
  warnings: z.array(z.string()),
  explanation: z.string(),
});
// Compile-time check: what the schema yields is usable as a VerifyPlan.
const _planCheck: (p: z.output<typeof planSchema>) => VerifyPlan = (p) => p;
void _planCheck;

const failureCounts = z.object(
  Object.fromEntries(FAILURE_CLASSES.map((c) => [c, count.default(0)])) as Record<FailureClass, z.ZodDefault<typeof count>>,
);

/** GET /stats (protocol.ts ServerStats). */
export const serverStatsSchema = z.object({
  total: count,
  accepted: count,
  closed: count,
  acceptRate: z.number().nonnegative(),
  workers: count,
  uptimeSeconds: z.number().nonnegative(),
  perLocalAddress: z.record(z.string(), count),
  perRemoteIp: z.record(z.string(), count),
  samples: z.record(z.string(), z.array(z.string())).default({}),
  sharedSourcePorts: z
    .record(
      z.string(),
      z.object({
        count,
        example: z.object({ port: z.number().int(), localAddresses: z.array(z.string()) }).optional(),
      }),
    )
    .default({}),
  capacityPerWorker: count.optional(),
  perWorker: z
    .array(
      z.object({
        pid: count,
        total: count,
        accepted: count,
        closed: count,
        acceptErrors: count,
        paused: z.boolean(),
        pauses: count,
        cpuSeconds: z.number().nonnegative().optional(),
      }),
    )
    .optional(),
  acceptErrors: count.optional(),
  workersAtCapacity: count.optional(),
  cpuSeconds: z.number().nonnegative().optional(),
  kernel: z
    .object({
      memAvailableBytes: count.nullable(),
      passiveOpens: count,
      listenOverflows: count,
      listenDrops: count,
      reqQFullDrops: count,
      syncookiesSent: count,
    })
    .optional(),
});
const _statsCheck: (s: z.output<typeof serverStatsSchema>) => ServerStats = (s) => s;
void _statsCheck;

/** One status line of a client (protocol.ts ClientStatus). */
export const clientStatusSchema = z.object({
  type: z.literal("status"),
  client: z.string(),
  target: count,
  established: count,
  inFlight: count,
  attempted: count,
  failed: failureCounts,
  dropped: count,
  rate: z.number().nonnegative(),
  elapsedSeconds: z.number().nonnegative(),
  rampSeconds: z.number().nonnegative().nullable(),
  final: z.boolean(),
  rtt: z.object({ pings: count, echoes: count, histogram: z.string().max(1_000_000) }).optional(),
  reconnected: count.optional(),
  reconnecting: count.optional(),
});
const _statusCheck: (s: z.output<typeof clientStatusSchema>) => ClientStatus = (s) => s;
void _statusCheck;

/** A client container as docker shows it, with its last status line. */
export interface ClientObservation {
  name: string;
  id: string;
  /** docker's State.Status: created, running, paused, restarting, removing, exited, dead. */
  state: string;
  exitCode: number | null;
  restartCount: number;
  oomKilled: boolean;
  /** When it (last) started (ISO 8601), null if unknown; the ramp chart's time origin. */
  startedAt?: string | null;
  /** The last status line it printed, null before its first. */
  status: ClientStatus | null;
  /** Its last stderr line (what it said before dying), trimmed. */
  lastError: string | null;
  /** Its CPU time and limit at this poll (containerCpu.ts); absent when not read. */
  cpu?: ContainerCpu;
  /** The client host it runs on (only with several hosts). */
  host?: string;
}

/** NAT host conntrack: the table fill and the cumulative (since boot) per-cpu counters, summed. */
export interface ConntrackReading {
  count: number;
  max: number;
  insertFailed: number;
  drop: number;
  earlyDrop: number;
  searchRestart: number;
}

/** Everything the test saw at one poll. */
export interface Observation {
  /** Seconds since the test started. */
  t: number;
  /** null = /stats did not answer (serverError says why). */
  server: ServerStats | null;
  serverError: string | null;
  /** null = the client view is not observed (no label given, or docker failed: clientsError). */
  clients: ClientObservation[] | null;
  clientsError: string | null;
  /** null = not read (--conntrack none, or not available: conntrackError). */
  conntrack: ConntrackReading | null;
  conntrackError: string | null;
  /** Per client host (only with several hosts; `clients` then lists every host's, or is null if one failed). */
  hosts?: HostView[];
}

/** What one poll saw of one client host. */
export interface HostView {
  name: string;
  /** Connections the server holds from the host's source IPs; null: its sources are not addresses, or no /stats. */
  server: number | null;
  /** Its client containers; null when its Docker could not be read (`error` says why). */
  clients: { running: number; count: number; established: number } | null;
  error: string | null;
  conntrack: ConntrackReading | null;
  conntrackError: string | null;
}

/** One client host over a whole run (the report's per-host table). */
export interface HostSummary {
  name: string;
  /** "local" or ssh://user@host:port. */
  docker: string;
  target: number;
  predicted: number;
  bindingLimit: string;
  /** The plan's capacity in words: "1 source IP × 1 server IP × 1,000 ports". */
  capacity: string;
  /** Connections the server held from its source IPs at the end, and at most; null when not known. */
  server: number | null;
  peak: number | null;
  /** Its containers as last seen (null: never seen). */
  clients: { running: number; count: number; established: number } | null;
  conntrack: { count: number; max: number } | null;
  /** Its Docker did not answer at the end: since when (s) and why; `since` 0 = never answered. */
  lost: { since: number; error: string } | null;
  /** None of its connections was ever established. */
  neverConnected: boolean;
  /** What its clients last said on stderr (the first that did). */
  lastError: string | null;
}

export const clientObservationSchema = z.object({
  name: z.string(),
  id: z.string().default(""),
  state: z.string(),
  exitCode: z.number().int().nullable().default(null),
  restartCount: count.default(0),
  oomKilled: z.boolean().default(false),
  startedAt: z.string().nullable().default(null),
  status: clientStatusSchema.nullable(),
  lastError: z.string().nullable().default(null),
  cpu: z.object({ usageSeconds: z.number().nonnegative(), limitCpus: z.number().positive().nullable() }).optional(),
});

export const conntrackReadingSchema = z.object({
  count,
  max: count,
  insertFailed: count.default(0),
  drop: count.default(0),
  earlyDrop: count.default(0),
  searchRestart: count.default(0),
});

export const observationSchema = z.object({
  t: z.number().nonnegative(),
  server: serverStatsSchema.nullable(),
  serverError: z.string().nullable().default(null),
  clients: z.array(clientObservationSchema).nullable().default(null),
  clientsError: z.string().nullable().default(null),
  conntrack: conntrackReadingSchema.nullable().default(null),
  conntrackError: z.string().nullable().default(null),
});

export type Expect = "all" | "plateau";
/** Why the wait loop stopped: target reached, no progress for the stall window, or the deadline. */
export type StopReason = "target" | "stall" | "timeout";

/** What the wait loop hands to the diagnosis. */
export interface Run {
  observations: Observation[];
  stopReason: StopReason;
  /** Index in observations where the soak started (the target was reached), null without a soak. */
  soakStartIndex: number | null;
  soakSeconds: number;
  /** Settings the run used, for the report. */
  timeoutSeconds: number;
  stallSeconds: number;
  intervalSeconds: number;
}

export const runSchema = z.object({
  observations: z.array(observationSchema),
  stopReason: z.enum(["target", "stall", "timeout"]),
  soakStartIndex: count.nullable().default(null),
  soakSeconds: z.number().nonnegative().default(0),
  timeoutSeconds: z.number().positive().default(120),
  stallSeconds: z.number().positive().default(10),
  intervalSeconds: z.number().positive().default(2),
});

/** A recorded scenario: the plan, what was expected and the observation sequence. */
export const fixtureSchema = z.object({
  description: z.string(),
  plan: planSchema,
  expect: z.enum(["all", "plateau"]),
  run: runSchema,
});
export type Fixture = z.output<typeof fixtureSchema>;
