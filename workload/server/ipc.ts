// Messages between the server's primary and its workers (cluster IPC, "advanced"
// serialization so the port bitmaps travel as bytes, not as JSON objects).
import { groupAddresses, type ServerConfig } from "./config.js";

/** Env var carrying the worker's config as JSON (workers run the same entry file, in the worker role). */
export const WORKER_CONFIG_ENV = "C1M_SERVER_WORKER_CONFIG";

export interface WorkerConfig {
  port: number;
  addresses: string[];
  backlog: number;
}

/** A worker of listener group `group` listens on that group's addresses only. */
export function workerConfigOf(config: ServerConfig, group = 0): WorkerConfig {
  return { port: config.port, addresses: groupAddresses(config, group), backlog: config.backlog };
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

/** A worker's accept-side health, sent with its counters. */
export interface WorkerHealth {
  /** Accept failures (EMFILE, ENFILE...): each one is a connection the kernel completed and libuv closed. */
  acceptErrors: number;
  /** Whether it has stopped accepting because it holds as many connections as its fds allow. */
  paused: boolean;
  /** Times it stopped accepting at capacity. */
  pauses: number;
  /** CPU time (user + system, seconds) since it started: the connection test samples it. */
  cpuSeconds?: number;
}

export type WorkerMessage =
  | { c1m: "listening"; pid: number; addresses: string[] }
  | { c1m: "fatal"; message: string }
  | ({ c1m: "counters" } & WorkerCounters & Partial<WorkerHealth>)
  | ({ c1m: "report"; id: number; groups: GroupReport[] } & WorkerCounters & Partial<WorkerHealth>);

export type PrimaryMessage = { c1m: "report"; id: number } | { c1m: "shutdown" };

export function isWorkerMessage(msg: unknown): msg is WorkerMessage {
  return typeof msg === "object" && msg !== null && typeof (msg as { c1m?: unknown }).c1m === "string";
}

export function isPrimaryMessage(msg: unknown): msg is PrimaryMessage {
  return typeof msg === "object" && msg !== null && typeof (msg as { c1m?: unknown }).c1m === "string";
}

/** User + system CPU time of this process, in seconds (ms precision). */
export function cpuSecondsOfThisProcess(): number {
  const { user, system } = process.cpuUsage();
  return Math.round((user + system) / 1000) / 1000;
}
