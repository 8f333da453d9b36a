// A client of several processes ("parts", see split.ts): this process holds part 0 and forks the
// others; it prints one status line for all of them (the lab reads one per container) and passes
// the lab's signals on over IPC. A forked part prints nothing: it sends its lines here.
import { fork, type ChildProcess } from "node:child_process";
import type { ClientStatus } from "../../shared/protocol.js";
import type { ClientConfig } from "./config.js";
import { mergeStatus, splitConfig, startingStatus } from "./split.js";

/** A forked part's config (JSON) in its environment: it runs as a part and nothing else. */
export const PART_ENV = "C1M_CLIENT_PART";

/** What the client's entry point needs of a ConnectionClient. */
export interface PartClient {
  start(): void;
  finish(code: number): void;
  quiesce(): number;
  nextStep(): void;
  succeeded(): boolean;
}
export type MakeClient = (config: ClientConfig, out: (s: ClientStatus) => void, done: (code: number) => void) => PartClient;

type FromPart = { type: "status"; status: ClientStatus } | { type: "reset"; connections: number } | { type: "done" };
type ToPart = "hup" | "step" | "term";

/** The handlers the entry point wires to SIGHUP, the find-limit step signal and SIGTERM/SIGINT. */
export interface Controls {
  reset(): void;
  step(): void;
  stop(): void;
}

/** Runs `config` as `parts` processes; `print` gets each merged status line and the reset line's count. */
export function runParts(
  config: ClientConfig,
  parts: number,
  make: MakeClient,
  print: { status(s: ClientStatus): void; reset(connections: number): void },
): Controls {
  const configs = splitConfig(config, parts);
  const latest = configs.map((c) => startingStatus(config.name, c.stepConnections > 0 ? c.stepConnections : c.connections));
  const codes: (number | null)[] = configs.map(() => null);
  let resets: (number | null)[] | null = null;
  let stopping = false;
  // One line per interval for all parts, and the final one once every part has sent its own.
  let finalSent = false;
  const emit = (): void => {
    if (finalSent) return;
    const merged = mergeStatus(config.name, latest);
    finalSent = merged.final;
    if (finalSent) clearInterval(ticker);
    print.status(merged);
  };
  const ticker = setInterval(emit, config.statusIntervalMs);
  const updated = (i: number, s: ClientStatus): void => {
    latest[i] = s;
    if (s.final && latest.every((p) => p.final)) emit();
  };
  const ended = (): void => {
    if (codes.every((c) => c !== null)) process.exit(Math.max(...(codes as number[])));
  };
  const resetFrom = (i: number, n: number): void => {
    if (resets === null) return;
    resets[i] = n;
    if (resets.every((r) => r !== null)) print.reset((resets as number[]).reduce((a, b) => a + b, 0));
  };
  const children: ChildProcess[] = configs.slice(1).map((c, k) => {
    const i = k + 1;
    const child = fork(process.argv[1]!, [], {
      env: { ...process.env, [PART_ENV]: JSON.stringify(c) },
      execArgv: process.execArgv,
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    child.on("message", (m: FromPart) => {
      if (m.type === "reset") resetFrom(i, m.connections);
      else if (m.type === "status") updated(i, m.status);
    });
    child.on("exit", (code, signal) => {
      codes[i] = code ?? 1;
      // A part that dies without its final line (a crash, the kernel's OOM killer) ends the
      // container: the lab sees a client that exited, not one that quietly holds less.
      if (!stopping && !latest[i]!.final) {
        process.stderr.write(`c1m-client: part ${i} of ${parts} exited (${code ?? signal}): stopping\n`);
        stopping = true;
        send("term");
        own.finish(1);
      }
      ended();
    });
    return child;
  });
  const send = (m: ToPart): void => {
    for (const c of children) if (c.connected) c.send(m);
  };
  const own = make(
    configs[0]!,
    (s) => updated(0, s),
    (code) => {
      codes[0] = code;
      ended();
    },
  );
  own.start();
  return {
    reset: () => {
      resets = configs.map(() => null);
      send("hup");
      resetFrom(0, own.quiesce());
    },
    step: () => {
      own.nextStep();
      send("step");
    },
    stop: () => {
      stopping = true;
      send("term");
      own.finish(own.succeeded() ? 0 : 1);
    },
  };
}

/** A forked part: runs its config, sends its status lines and reset count, obeys the primary. */
export function runPart(config: ClientConfig, make: MakeClient): void {
  const send = (m: FromPart, then?: () => void): void => {
    if (process.connected) process.send!(m, undefined, undefined, () => then?.());
    else then?.();
  };
  const client = make(
    config,
    (status) => send({ type: "status", status }),
    // Exit once what was sent (the final status above all) has left.
    (code) => send({ type: "done" }, () => process.exit(code)),
  );
  // Signals are the primary's to handle (a terminal's Ctrl-C reaches the whole group).
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, () => {});
  process.on("message", (m: ToPart) => {
    if (m === "hup") send({ type: "reset", connections: client.quiesce() });
    else if (m === "step") client.nextStep();
    else if (m === "term") client.finish(client.succeeded() ? 0 : 1);
  });
  // The primary is gone (killed): nothing is left to report to.
  process.on("disconnect", () => process.exit(1));
  client.start();
}
