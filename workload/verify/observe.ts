// The connection test's I/O: the server's GET /stats, the client containers through the Docker
// API (dockerClients.ts), and conntrack on the NAT host. The parsers are exported and pure; the
// readers never throw: a failed look becomes an error string in the Observation, so the wait
// loop keeps going until its deadline.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type Docker from "dockerode";
import { z } from "zod";
import { dockerClient, observeClients } from "./dockerClients.js";
import { lastLine } from "./logLines.js";
import type { ServerStats } from "../../shared/protocol.js";
import { serverStatsSchema, type ConntrackReading, type Observation } from "./types.js";

export interface ObserverOptions {
  metricsUrl: string;
  /** docker label filter ("key=value" or "key"); null = do not observe clients. */
  clientsLabel: string | null;
  conntrack: "local" | "none";
  /** Per-request limit for /stats (default 5 s). */
  fetchTimeoutMs?: number;
  /** Per-request limit for the Docker API (default 15 s). */
  dockerTimeoutMs?: number;
  /** A Docker API client (default: from DOCKER_HOST, or the local socket). */
  docker?: Docker;
  /** Where /proc is (tests point it at a fake tree). */
  procRoot?: string;
  /** Parallel Docker API requests (default 16). */
  concurrency?: number;
}

/** "http://10.201.0.2:9100" → "http://10.201.0.2:9100/stats"; a URL with a path is used as is. */
export function statsUrl(metricsUrl: string): string {
  const url = new URL(metricsUrl);
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/stats";
  return url.toString();
}

export type StatsResult = { ok: true; stats: ServerStats } | { ok: false; error: string };

export async function fetchStats(url: string, timeoutMs = 5000): Promise<StatsResult> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: "application/json" } });
    const text = await res.text();
    if (!res.ok) return { ok: false, error: `HTTP ${res.status} from ${url}` };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, error: `${url} did not return JSON` };
    }
    const parsed = serverStatsSchema.safeParse(json);
    if (!parsed.success)
      return {
        ok: false,
        error: `${url} returned an invalid ServerStats: ${z.prettifyError(parsed.error).split("\n").slice(0, 2).join(" ")}`,
      };
    return { ok: true, stats: parsed.data };
  } catch (err) {
    return { ok: false, error: describeFetchError(err, timeoutMs) };
  }
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError" || e.name === "AbortError") return `no answer within ${timeoutMs} ms`;
  if (e.cause?.message) return e.cause.message;
  return e.message ?? String(err);
}

interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  error?: string;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 2 ** 20, encoding: "utf8" }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
      if (e.code === "ENOENT") return resolve({ code: 127, stdout, stderr, error: `${cmd} not found on PATH` });
      if (e.killed) return resolve({ code: 124, stdout, stderr, error: `${cmd} ${args[0]} timed out after ${timeoutMs} ms` });
      resolve({ code: typeof e.code === "number" ? e.code : 1, stdout, stderr, error: lastLine(stderr) ?? e.message });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// conntrack

export type ConntrackCounters = Pick<ConntrackReading, "insertFailed" | "drop" | "earlyDrop" | "searchRestart">;

/**
 * /proc/net/stat/nf_conntrack: a header row of column names, then one row of hex numbers per
 * CPU; the counters are per CPU and are summed (columns are found by name: kernels differ).
 */
export function parseProcConntrackStat(text: string): ConntrackCounters {
  const [header, ...rows] = text.split("\n").filter((l) => l.trim() !== "");
  if (!header) throw new Error("empty nf_conntrack stat file");
  const cols = header.trim().split(/\s+/);
  const sum = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) return 0;
    return rows.reduce((s, row) => s + parseInt(row.trim().split(/\s+/)[i] ?? "0", 16), 0);
  };
  return {
    insertFailed: sum("insert_failed"),
    drop: sum("drop"),
    earlyDrop: sum("early_drop"),
    searchRestart: sum("search_restart"),
  };
}

/** `conntrack -S`: "cpu=0 found=0 invalid=5 insert=0 insert_failed=0 drop=0 early_drop=0 ..." per CPU. */
export function parseConntrackS(text: string): ConntrackCounters {
  const out: ConntrackCounters = { insertFailed: 0, drop: 0, earlyDrop: 0, searchRestart: 0 };
  const keys: Record<string, keyof ConntrackCounters> = {
    insert_failed: "insertFailed",
    drop: "drop",
    early_drop: "earlyDrop",
    search_restart: "searchRestart",
  };
  for (const m of text.matchAll(/\b([a-z_]+)=(\d+)/g)) {
    const k = keys[m[1]!];
    if (k) out[k] += Number(m[2]);
  }
  return out;
}

export type ConntrackResult = { ok: true; reading: ConntrackReading } | { ok: false; error: string };

/** This machine's conntrack (the NAT host in the local lab). */
export async function readLocalConntrack(procRoot = "/proc"): Promise<ConntrackResult> {
  let count: number;
  let max: number;
  try {
    count = Number((await readFile(join(procRoot, "sys/net/netfilter/nf_conntrack_count"), "utf8")).trim());
    max = Number((await readFile(join(procRoot, "sys/net/netfilter/nf_conntrack_max"), "utf8")).trim());
  } catch {
    return { ok: false, error: "nf_conntrack is not loaded here (no /proc/sys/net/netfilter/nf_conntrack_count)" };
  }
  let counters: ConntrackCounters;
  try {
    counters = parseProcConntrackStat(await readFile(join(procRoot, "net/stat/nf_conntrack"), "utf8"));
  } catch {
    const s = await run("conntrack", ["-S"], 5000);
    if (s.code !== 0) return { ok: true, reading: { count, max, insertFailed: 0, drop: 0, earlyDrop: 0, searchRestart: 0 } };
    counters = parseConntrackS(s.stdout);
  }
  return { ok: true, reading: { count, max, ...counters } };
}

// ---------------------------------------------------------------------------------------------

/** One poll: the three views, looked at in parallel. */
export function createObserver(opts: ObserverOptions): () => Promise<Omit<Observation, "t">> {
  const url = statsUrl(opts.metricsUrl);
  // One API client for every poll (its keep-alive connection is reused).
  const docker = opts.docker ?? dockerClient(opts.dockerTimeoutMs);
  return async () => {
    const [stats, clients, ct] = await Promise.all([
      fetchStats(url, opts.fetchTimeoutMs),
      opts.clientsLabel === null
        ? Promise.resolve(null)
        : observeClients(opts.clientsLabel, {
            docker,
            concurrency: opts.concurrency,
          }),
      opts.conntrack === "local" ? readLocalConntrack(opts.procRoot) : Promise.resolve(null),
    ]);
    return {
      server: stats.ok ? stats.stats : null,
      serverError: stats.ok ? null : stats.error,
      clients: clients?.ok ? clients.clients : null,
      clientsError: clients && !clients.ok ? clients.error : null,
      conntrack: ct?.ok ? ct.reading : null,
      conntrackError: ct && !ct.ok ? ct.error : null,
    };
  };
}
