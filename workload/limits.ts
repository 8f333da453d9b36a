// How many sockets one process can hold: the open-file limit from /proc/self/limits.
// Node raises its soft RLIMIT_NOFILE to the hard limit at startup, so reading the file (rather
// than trusting the shell's `ulimit -n`) gives what this process really has.
import { readFileSync } from "node:fs";

/** fds kept free for the runtime itself (stdio, epoll, libuv pipes, IPC, listeners, logs). */
export const FD_RESERVE = 100;

export interface FileLimit {
  soft: number;
  hard: number;
}

/** Parses the "Max open files" row of a /proc/<pid>/limits text; "unlimited" becomes Infinity. */
export function parseOpenFilesLimit(text: string): FileLimit {
  for (const line of text.split("\n")) {
    if (!line.startsWith("Max open files")) continue;
    const fields = line.slice("Max open files".length).trim().split(/\s+/);
    const soft = parseLimitValue(fields[0]);
    const hard = parseLimitValue(fields[1]);
    if (soft === undefined || hard === undefined) break;
    return { soft, hard };
  }
  throw new Error("no parsable 'Max open files' row in limits text");
}

function parseLimitValue(field: string | undefined): number | undefined {
  if (field === "unlimited") return Infinity;
  if (field === undefined || !/^\d+$/.test(field)) return undefined;
  return Number(field);
}

/** This process's open-file limit. */
export function readOpenFilesLimit(path = "/proc/self/limits"): FileLimit {
  return parseOpenFilesLimit(readFileSync(path, "utf8"));
}

/** Sockets one process can hold: soft limit minus the reserve (never negative). */
export function usableSockets(limit: FileLimit, reserve = FD_RESERVE): number {
  return Math.max(0, limit.soft - reserve);
}

/** Processes (or containers) needed to hold `connections` with `perProcess` each. */
export function processesNeeded(connections: number, perProcess: number): number {
  if (perProcess <= 0) return Infinity;
  return Math.ceil(connections / perProcess);
}
