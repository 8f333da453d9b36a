// Messages between the server's primary and its workers (cluster IPC, "advanced"
// serialization so the port bitmaps travel as bytes, not as JSON objects).
import type { ServerConfig } from "./config.js";

/** Env var carrying the worker's config as JSON (workers are exec'd from their own module). */
export const WORKER_CONFIG_ENV = "C1M_SERVER_WORKER_CONFIG";

export interface WorkerConfig {
  port: number;
  addresses: string[];
  backlog: number;
}

export function workerConfigOf(config: ServerConfig): WorkerConfig {
  return { port: config.port, addresses: config.addresses, backlog: config.backlog };
}

/** One (local address, remote IP) pair a worker has seen. */
export interface GroupReport {
  local: string;
  remoteIp: string;
  count: number;
  /** Remote source ports in use now (8 KiB bitmap). */
  bits: Uint8Array;
}

export interface WorkerCounters {
  accepted: number;
  closed: number;
  total: number;
}

export type WorkerMessage =
  | { c1m: "listening"; pid: number; addresses: string[] }
  | { c1m: "fatal"; message: string }
  | ({ c1m: "counters" } & WorkerCounters)
  | ({ c1m: "report"; id: number; groups: GroupReport[] } & WorkerCounters);

export type PrimaryMessage = { c1m: "report"; id: number } | { c1m: "shutdown" };

export function isWorkerMessage(msg: unknown): msg is WorkerMessage {
  return typeof msg === "object" && msg !== null && typeof (msg as { c1m?: unknown }).c1m === "string";
}

export function isPrimaryMessage(msg: unknown): msg is PrimaryMessage {
  return typeof msg === "object" && msg !== null && typeof (msg as { c1m?: unknown }).c1m === "string";
}
