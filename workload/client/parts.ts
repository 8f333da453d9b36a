// A client of several processes ("parts", see split.ts): this process holds part 0 and forks the
// others; it prints one status line for all of them (the lab reads one per container) and passes
// the lab's signals on over IPC. A forked part prints nothing: it sends its lines here.
import { fork, type ChildProcess } from "node:child_process";
import type { ClientStatus } from "../../shared/protocol.js";
import { firstTarget, type ClientConfig } from "./config.js";
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
export function runParts(config: ClientConfig, parts: number, make: MakeClient, print: Printer): Controls {
  return new Parts(config, parts, make, print).controls();
}

interface Printer {
  status(s: ClientStatus): void;
  reset(connections: number): void;
}

/** The first process's side: part 0 here, the others forked; their latest lines, codes and resets. */
class Parts {
  private readonly configs: ClientConfig[];
  private readonly latest: ClientStatus[];
  private readonly codes: (number | null)[];
  private resets: (number | null)[] | null = null;
  private stopping = false;
  private finalSent = false;
  private readonly ticker: NodeJS.Timeout;
  private readonly children: ChildProcess[];
  private readonly own: PartClient;

  constructor(
    private readonly config: ClientConfig,
    private readonly parts: number,
    make: MakeClient,
    private readonly print: Printer,
  ) {
    this.configs = splitConfig(config, parts);
    this.latest = this.configs.map((c) => startingStatus(config.name, firstTarget(c)));
    this.codes = this.configs.map(() => null);
    // One line per interval for all parts, and the final one once every part has sent its own.
    this.ticker = setInterval(() => this.emit(), config.statusIntervalMs);
    this.children = this.configs.slice(1).map((c, k) => this.fork(k + 1, c));
    this.own = make(
      this.configs[0]!,
      (s) => this.updated(0, s),
      (code) => this.exited(0, code),
    );
    this.own.start();
  }

  controls(): Controls {
    return {
      reset: () => {
        this.resets = this.configs.map(() => null);
        this.send("hup");
        this.resetFrom(0, this.own.quiesce());
      },
      step: () => {
        this.own.nextStep();
        this.send("step");
      },
      stop: () => {
        this.stopping = true;
        this.send("term");
        this.own.finish(this.own.succeeded() ? 0 : 1);
      },
    };
  }

  private fork(i: number, c: ClientConfig): ChildProcess {
    const child = fork(process.argv[1]!, [], {
      env: { ...process.env, [PART_ENV]: JSON.stringify(c) },
      execArgv: process.execArgv,
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    child.on("message", (m: FromPart) => {
      if (m.type === "reset") this.resetFrom(i, m.connections);
      else if (m.type === "status") this.updated(i, m.status);
    });
    child.on("exit", (code, signal) => {
      // A part that dies without its final line (a crash, the kernel's OOM killer) ends the
      // container: the lab sees a client that exited, not one that quietly holds less.
      if (!this.stopping && !this.latest[i]!.final) {
        process.stderr.write(`c1m-client: part ${i} of ${this.parts} exited (${code ?? signal}): stopping\n`);
        this.stopping = true;
        this.send("term");
        this.own.finish(1);
      }
      this.exited(i, code ?? 1);
    });
    return child;
  }

  private send(m: ToPart): void {
    for (const c of this.children) if (c.connected) c.send(m);
  }

  private emit(): void {
    if (this.finalSent) return;
    const merged = mergeStatus(this.config.name, this.latest);
    this.finalSent = merged.final;
    if (this.finalSent) clearInterval(this.ticker);
    this.print.status(merged);
  }

  private updated(i: number, s: ClientStatus): void {
    this.latest[i] = s;
    if (s.final && this.latest.every((p) => p.final)) this.emit();
  }

  /** Exits with the worst code once every part has ended. */
  private exited(i: number, code: number): void {
    this.codes[i] = code;
    if (this.codes.every((c) => c !== null)) process.exit(Math.max(...(this.codes as number[])));
  }

  private resetFrom(i: number, n: number): void {
    if (this.resets === null) return;
    this.resets[i] = n;
    if (this.resets.every((r) => r !== null)) this.print.reset((this.resets as number[]).reduce((a, b) => a + b, 0));
  }
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
