// The reconnect storm's I/O: one poll, the server's restart (the lab's script, run with bash),
// then a poll every interval until every connection is back (and the clients' lines agree) or
// maxRecoverySeconds has passed. The clock, the poller and the restart are injected.
import { boundedRun } from "../boundedRun.js";
import { RESTART_SCRIPT_ENV } from "../../../shared/protocol.js";
import type { Clock, Poll } from "../wait.js";
import type { ClientObservation, Observation } from "../types.js";
import type { StormRun } from "./stormMeasure.js";

export interface RestartResult {
  ok: boolean;
  /** Exit status and the last stderr lines when it failed. */
  error: string | null;
}

export type Restart = () => Promise<RestartResult>;

export interface StormOptions {
  target: number;
  maxRecoverySeconds: number;
  intervalSeconds: number;
  /** After all are back: poll up to this long more for the clients' lines to say so too. */
  settleSeconds: number;
}

export interface StormIo {
  poll: Poll;
  clock: Clock;
  restart: Restart;
  /** Each poll, `t` in seconds since the restart began. */
  onObservation: (o: Observation, phase: "restart" | "storm" | "settle") => void;
}

/** Runs the storm; `clientsBefore` is the clients' last view before it (the base of their counters). */
export async function runStorm(opts: StormOptions, io: StormIo, clientsBefore: ClientObservation[] | null): Promise<StormRun> {
  const { clock } = io;
  const observations: Observation[] = [];
  const before = await pollSafe(io.poll);
  const start = clock.now();
  observations.push({ ...before, t: 0 });
  io.onObservation(observations[0]!, "restart");
  let restart: (RestartResult & { at: number }) | null = null;
  const restarting = io.restart().then((r) => (restart = { ...r, at: clock.now() }));
  let firstAfterRestart: number | null = null;
  let backAt: number | null = null;
  const endAt = start + opts.maxRecoverySeconds * 1000;
  // Bound on polls whatever the clock does.
  const maxPolls = Math.ceil((opts.maxRecoverySeconds + opts.settleSeconds) / opts.intervalSeconds) + 4;
  for (let i = 1; i <= maxPolls; i++) {
    await clock.sleep(Math.max(0, start + i * opts.intervalSeconds * 1000 - clock.now()));
    // Only a poll that began after the new server listened may count it back (an older one may have read the old server).
    const restarted = (restart as RestartResult | null) !== null;
    const seen = await pollSafe(io.poll);
    const now = clock.now();
    const o: Observation = { ...seen, t: round3((now - start) / 1000) };
    observations.push(o);
    if (restarted && firstAfterRestart === null) firstAfterRestart = observations.length - 1;
    if (restarted && backAt === null && o.server !== null && o.server.total >= opts.target) backAt = now;
    io.onObservation(o, backAt === null ? (restarted ? "storm" : "restart") : "settle");
    if ((restart as RestartResult | null)?.ok === false) break;
    if (backAt !== null && (clientsBack(o, opts.target) || now - backAt >= opts.settleSeconds * 1000)) break;
    if (backAt === null && now >= endAt) break;
  }
  await restarting;
  const done = restart as (RestartResult & { at: number }) | null;
  return {
    observations,
    restartSeconds: done ? round3((done.at - start) / 1000) : null,
    restartError: done?.error ?? null,
    firstAfterRestart,
    maxRecoverySeconds: opts.maxRecoverySeconds,
    clientsBefore,
  };
}

/** The clients' lines say every connection is back and none is still waiting to reconnect. */
export function clientsBack(o: Observation, target: number): boolean {
  if (!o.clients || o.clients.length === 0) return true;
  const established = o.clients.reduce((a, c) => a + (c.status?.established ?? 0), 0);
  return established >= target && o.clients.every((c) => (c.status?.reconnecting ?? 0) === 0);
}

export async function pollSafe(poll: Poll): Promise<Omit<Observation, "t">> {
  try {
    return await poll();
  } catch (err) {
    return { server: null, serverError: String(err), clients: null, clientsError: null, conntrack: null, conntrackError: null };
  }
}

/** verify's own inputs: the restarted server inherits the script's environment, and needs neither. */
const NOT_FOR_THE_SERVER = ["C1M_PLAN", RESTART_SCRIPT_ENV];

/** The lab's restart script, run with bash; its environment without the plan or the script itself. */
export function bashRestart(script: string, timeoutMs = 120_000): Restart {
  return async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !NOT_FOR_THE_SERVER.includes(k)));
    const r = await boundedRun("/bin/bash", ["-c", script], { env, timeoutMs, tailChars: 2000 });
    if (r.spawnError) return { ok: false, error: `could not run bash: ${r.spawnError.message}` };
    if (r.code === 0) return { ok: true, error: null };
    const tail = r.stderr.trim().split("\n").slice(-3).join(" / ");
    return { ok: false, error: `exit ${r.code ?? r.signal}${tail ? `: ${tail}` : ""}` };
  };
}

function round3(s: number): number {
  return Math.round(s * 1000) / 1000;
}
